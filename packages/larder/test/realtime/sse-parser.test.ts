import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { backoffDelay, type SseMessage, SseParser } from '../../src/realtime/client/index.ts'

function parse(chunks: string[], lastId = ''): { events: SseMessage[]; retries: number[]; comments: string[]; parser: SseParser } {
  const events: SseMessage[] = []
  const retries: number[] = []
  const comments: string[] = []
  const parser = new SseParser({ onEvent: (m) => events.push(m), onRetry: (ms) => retries.push(ms), onComment: (c) => comments.push(c) }, lastId)
  for (const c of chunks) parser.push(c)
  return { events, retries, comments, parser }
}

describe('SSE parser (WHATWG HTML §9.2.6)', () => {
  test('data, event, id; multi-line data joined with LF; default type "message"', () => {
    const { events } = parse(['data: a\ndata: b\n\nevent: invalidate\nid: 7\ndata: {"x":1}\n\n'])
    assert.deepEqual(events, [
      { type: 'message', data: 'a\nb', lastEventId: '' },
      { type: 'invalidate', data: '{"x":1}', lastEventId: '7' },
    ])
  })

  test('CRLF, CR and LF line ends, including a CRLF split across chunks', () => {
    const { events } = parse(['data: one\r', '\n\r', '\ndata: two\rdata: three\r\r', 'data:four\n', '\n'])
    assert.deepEqual(
      events.map((e) => e.data),
      ['one', 'two\nthree', 'four'],
    )
  })

  test('one leading space is stripped, no colon means an empty value, comments are not events', () => {
    const { events, comments } = parse([': hb\n', 'data:  two spaces\n\n', 'data\n\n', ':x\n\n'])
    assert.deepEqual(comments, [' hb', 'x'])
    assert.deepEqual(
      events.map((e) => e.data),
      [' two spaces', ''],
    )
  })

  test('an event without data sets the last id but fires nothing; ids with NUL are ignored; the id carries over', () => {
    const { events, parser } = parse(['id: 5\n\n', 'id: 6\u00007\ndata: x\n\n', 'data: y\n\n'])
    assert.deepEqual(
      events.map((e) => [e.data, e.lastEventId]),
      [
        ['x', '5'],
        ['y', '5'],
      ],
    )
    assert.equal(parser.lastEventId, '5')
  })

  test('retry takes digits only; a leading BOM is skipped; an unterminated event is not dispatched', () => {
    const { events, retries } = parse(['\ufeffretry: 1500\nretry: 1.5\nretry: x\n\n', 'data: a\n\n', 'data: b\n'])
    assert.deepEqual(retries, [1500])
    assert.deepEqual(
      events.map((e) => e.data),
      ['a'],
    )
  })

  test('a multi-byte character split across chunks survives a streaming TextDecoder', () => {
    const bytes = new TextEncoder().encode('data: café ✓\n\n')
    const d = new TextDecoder()
    const { parser, events } = parse([])
    for (let i = 0; i < bytes.length; i++) parser.push(d.decode(bytes.subarray(i, i + 1), { stream: true }))
    assert.deepEqual(
      events.map((e) => e.data),
      ['café ✓'],
    )
  })
})

describe('reconnect backoff', () => {
  test('full jitter under an exponential cap, bounded by maxMs, seeded by the server retry hint', () => {
    assert.equal(backoffDelay(1, { initialMs: 100 }, () => 0.999), 99)
    assert.equal(backoffDelay(3, { initialMs: 100 }, () => 0.5), 200)
    assert.equal(backoffDelay(20, { initialMs: 100, maxMs: 5000 }, () => 0.5), 2500)
    assert.equal(backoffDelay(1, {}, () => 0.5, 2000), 1000)
    assert.equal(backoffDelay(2, {}, () => 0.5), 1000)
    assert.equal(backoffDelay(5, { initialMs: 100 }, () => 0), 0)
  })
})
