import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { ErrorCodes } from 'larder'
import { ErrorRegistry } from '../../src/core/errors.ts'

const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8')
/** `| \`E_X\` | 503 | …` rows: code → the status the row gives. */
const rows = new Map([...doc.matchAll(/^\| `(E_[A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1] as string, Number(m[2])]))

test('every error code has a row in docs/errors.md', () => {
  const missing = Object.keys(ErrorCodes).filter((code) => !rows.has(code))
  assert.deepEqual(missing, [])
})

test('every code in docs/errors.md is a registry code', () => {
  const named = [...doc.matchAll(/^\| `(E_[A-Z0-9_]+)` \|/gm)].map((m) => m[1] as string)
  assert.ok(named.length > 0)
  assert.deepEqual(
    named.filter((code) => !(code in ErrorRegistry)),
    [],
  )
})

test("each row's HTTP status is the registry's", () => {
  const wrong = Object.entries(ErrorRegistry)
    .filter(([code, d]) => rows.get(code) !== d.status)
    .map(([code, d]) => `${code}: registry ${d.status}, docs ${rows.get(code)}`)
  assert.deepEqual(wrong, [])
})
