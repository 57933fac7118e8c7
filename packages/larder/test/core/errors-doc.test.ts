import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { ErrorCodes } from 'larder'

test('every error code has a row in docs/errors.md', () => {
  const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8')
  const missing = Object.keys(ErrorCodes).filter((code) => !doc.includes(`| \`${code}\` |`))
  assert.deepEqual(missing, [])
})
