import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import http2 from 'node:http2'
import { describe, test } from 'node:test'
import express from 'express'
import Fastify from 'fastify'
import { MemoryLog } from '../../src/log/memory-log.ts'
import { createSseHub } from '../../src/realtime/index.ts'
import { freePort } from '../../src/testing/servers.ts'
import { ofType, openStream, payload } from './helpers.ts'

describe('mounting the hub in frameworks', () => {
  test('Fastify: a GET route that hijacks the reply and hands the raw req/res to hub.route', async () => {
    const log = new MemoryLog()
    const hub = createSseHub({ log })
    const app = Fastify()
    app.get('/_larder/stream', (request, reply) => {
      // Fastify must not answer this request itself: the hub owns the response from here.
      reply.hijack()
      const tenant = String(request.headers['x-tenant'] ?? '')
      hub.route(request.raw, reply.raw, { tenant, url: new URL(request.raw.url ?? '/', 'http://localhost') })
    })
    app.get('/other', async () => ({ ok: true }))
    const port = await freePort()
    await app.listen({ port, host: '127.0.0.1' })
    try {
      const s = await openStream(port, '?topics=product:1', { 'x-tenant': 'acme' })
      assert.equal(s.status, 200)
      await s.waitFor((es) => es.some(ofType('ready')))
      await log.append({ kind: 'hard', tenant: 'acme', tags: ['product:1'] })
      await s.waitFor((es) => es.some(ofType('invalidate')))
      assert.deepEqual(payload(s.events.find(ofType('invalidate'))!).tags, ['product:1'])
      const bad = await openStream(port, '?topics=', { 'x-tenant': 'acme' })
      assert.equal(bad.status, 400)
      assert.match(bad.body, /a topic is empty/)
      const res = await fetch(`http://127.0.0.1:${port}/other`)
      assert.deepEqual(await res.json(), { ok: true })
      s.close()
    } finally {
      await hub.close()
      await app.close()
    }
  })

  test('Express: middleware that falls through to next() for other paths', async () => {
    const log = new MemoryLog()
    const hub = createSseHub({ log })
    const app = express()
    app.use((req, res, next) => {
      const url = new URL(req.originalUrl, 'http://localhost')
      if (!hub.route(req, res, { tenant: String(req.headers['x-tenant'] ?? ''), url })) next()
    })
    app.get('/other', (_req, res) => {
      res.json({ ok: true })
    })
    const port = await freePort()
    const server: Server = app.listen(port, '127.0.0.1')
    await once(server, 'listening')
    try {
      const s = await openStream(port, '?topics=stock:*', { 'x-tenant': 'acme' })
      assert.equal(s.status, 200)
      await s.waitFor((es) => es.some(ofType('ready')))
      await hub.publishLive('acme', 'stock:9', { qty: 1 })
      await s.waitFor((es) => es.some(ofType('update')))
      const res = await fetch(`http://127.0.0.1:${port}/other`)
      assert.deepEqual(await res.json(), { ok: true })
      s.close()
    } finally {
      await hub.close()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })
  test('HTTP/2 (node:http2 compatibility API): the hub falls back to res.write and streams the same events', async () => {
    const log = new MemoryLog()
    const hub = createSseHub({ log })
    const server = http2.createServer((req, res) => {
      // The compatibility request/response stand in for node:http's at runtime.
      if (!hub.route(req as unknown as IncomingMessage, res as unknown as ServerResponse, { tenant: 'acme', url: new URL(req.url, 'http://localhost') })) res.writeHead(404).end()
    })
    const port = await freePort()
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    const session = http2.connect(`http://127.0.0.1:${port}`)
    try {
      const stream = session.request({ ':path': '/_larder/stream?topics=p' })
      stream.setEncoding('utf8')
      const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders]
      assert.equal(headers[':status'], 200)
      assert.match(String(headers['content-type']), /^text\/event-stream/)
      let buf = ''
      const got = new Promise<void>((resolve) =>
        stream.on('data', (d: string) => {
          buf += d
          if (buf.includes('event: invalidate')) resolve()
        }),
      )
      const ready = new Promise<void>((resolve) => stream.on('data', () => buf.includes('event: ready') && resolve()))
      await ready
      const e = await log.append({ kind: 'hard', tenant: 'acme', tags: ['p'] })
      await got
      assert.ok(buf.includes(`id: ${e.id}\nevent: invalidate\ndata: {"tags":["p"],"keys":[],"soft":false}\n\n`), buf)
      stream.close()
    } finally {
      await hub.close()
      session.close()
      await new Promise((r) => server.close(r))
    }
  })
})
