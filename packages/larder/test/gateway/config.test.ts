import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { describe, it } from 'node:test'
import { parseGatewayConfig } from '../../src/gateway/config.ts'
import { createTenantResolver } from '../../src/gateway/tenant.ts'

const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage

describe('gateway config file', () => {
  it('accepts seed 002 style routes, hosts, tokens and forwarders', () => {
    const c = parseGatewayConfig(`
origin: http://127.0.0.1:3000
port: 8080
tenant_header: X-Tenant-Id
hosts: { shop.acme.test: acme }
tokens: [{ name: ops, token: "0123456789", scopes: [admin] }]
routes:
  /api/v1/products: { ttl: 5m, query: [page], invalidate_on: [product_update] }
forwarders: [{ type: fastly, serviceId: s, token: t }]
`)
    assert.equal(c.origin, 'http://127.0.0.1:3000')
    assert.equal(c.hosts?.['shop.acme.test'], 'acme')
    assert.deepEqual((c.routes as Record<string, { query: string[] }>)['/api/v1/products']?.query, ['page'])
  })
  it('names the field that is wrong', () => {
    assert.throws(() => parseGatewayConfig('nope: 1'), /unknown field "nope"/)
    assert.throws(() => parseGatewayConfig('origin: ftp://x'), /origin must be an http/)
    assert.throws(() => parseGatewayConfig('port: 70000'), /port must be/)
    assert.throws(() => parseGatewayConfig('hosts: { a: 1 }'), /hosts\["a"\]/)
    assert.throws(() => parseGatewayConfig('forwarders: [{ type: fastly, token: t }]'), /forwarders\[0\] \(fastly\) needs "serviceId"/)
    assert.throws(() => parseGatewayConfig('forwarders: [{ type: akamai }]'), /must be fastly, cloudflare or webhook/)
    assert.throws(() => parseGatewayConfig('a: [unclosed'), /not valid YAML/)
    assert.deepEqual(parseGatewayConfig(''), {})
  })
})

describe('tenant resolution', () => {
  const resolve = createTenantResolver({ header: 'X-Tenant-Id', hosts: { 'shop.acme.test': 'acme', '*.globex.test': 'globex' } })
  it('header, then host map (port ignored, one wildcard level), then default', () => {
    assert.equal(resolve(req({ 'x-tenant-id': 'initech', host: 'shop.acme.test' })), 'initech')
    assert.equal(resolve(req({ host: 'SHOP.acme.test:8080' })), 'acme')
    assert.equal(resolve(req({ host: 'www.globex.test' })), 'globex')
    assert.equal(resolve(req({ host: 'a.b.globex.test' })), 'default')
    assert.equal(resolve(req({ host: 'other.test' })), 'default')
  })
  it('an invalid tenant id throws (the gateway answers 400), never falls back', () => {
    assert.throws(() => resolve(req({ 'x-tenant-id': '@public' })), /reserved/)
    assert.throws(() => resolve(req({ 'x-tenant-id': 'a\u0001b' })), /control characters/)
    assert.throws(() => createTenantResolver({ hosts: { x: '' } }), /non-empty/)
  })
  it('tenant ids with pattern characters are plain data', () => {
    assert.equal(resolve(req({ 'x-tenant-id': 'shop*[1]?' })), 'shop*[1]?')
  })
})
