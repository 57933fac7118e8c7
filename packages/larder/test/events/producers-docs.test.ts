/**
 * docs/events.md shows the producer programs whole; the producer tests run the files in
 * examples/producers/. This keeps them one text: every `<!-- example: path -->` block must
 * equal its file, every file must be shown, and no Ruby, Python or Go block may appear
 * without being one of those files (an untested snippet).
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { ROOT } from './producer-rig.ts'

const DOC = 'docs/events.md'
const text = readFileSync(`${ROOT}${DOC}`, 'utf8')
const shown = [...text.matchAll(/<!-- example: (\S+) -->\n```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({ path: m[1] as string, lang: m[2] as string, body: m[3] as string }))

describe('producers: the docs show the programs the tests run', () => {
  it('every example block in docs/events.md is its file, byte for byte', () => {
    assert.ok(shown.length >= 4, `found ${shown.length} example blocks`)
    for (const { path, body } of shown) {
      assert.ok(path.startsWith('examples/producers/'), path)
      assert.equal(body, readFileSync(`${ROOT}${path}`, 'utf8'), `${DOC} shows a different ${path}: copy the file into the block`)
    }
  })

  it('every file in examples/producers is shown once', () => {
    const files = readdirSync(`${ROOT}examples/producers`).map((f) => `examples/producers/${f}`)
    assert.deepEqual(shown.map((s) => s.path).sort(), files.sort())
  })

  it('no Ruby, Python or Go block outside the example files', () => {
    const fenced = [...text.matchAll(/^```(ruby|python|go|rb|py)\b/gm)].length
    assert.equal(fenced, shown.filter((s) => /^(ruby|python|go)$/.test(s.lang)).length)
  })
})
