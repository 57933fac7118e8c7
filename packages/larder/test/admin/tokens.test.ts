import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { loadTokens, tokensFromFile } from '../../src/admin/tokens.ts'
import { createAuthorizer } from '../../src/core/auth.ts'

const dir = mkdtempSync(join(tmpdir(), 'larder-tokens-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string) => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

test('tokens from a YAML or JSON file work with the authorizer', () => {
  const yml = file('tokens.yml', 'tokens:\n  - name: grafana\n    token: read-only-token-1\n    scopes: [read:stats]\n  - name: acme\n    token: acme-token-0001\n    scopes: ["tenant:acme"]\n')
  const json = file('tokens.json', JSON.stringify([{ name: 'ops', token: 'ops-token-00001', scopes: ['admin'] }]))
  const auth = createAuthorizer([...tokensFromFile(yml), ...tokensFromFile(json)])
  const acme = auth.authenticate('Bearer acme-token-0001')
  assert.equal(acme?.name, 'acme')
  assert.ok(auth.can(acme!, 'purge', 'acme'))
  assert.ok(!auth.can(acme!, 'purge', 'globex'))
  assert.ok(auth.authenticate('Bearer ops-token-00001')?.admin)
})

test('loadTokens merges LARDER_TOKENS_FILE with the env tokens and refuses duplicate names', () => {
  const p = file('t.json', JSON.stringify([{ name: 'grafana', token: 'read-only-token-1', scopes: ['read:stats'] }]))
  const all = loadTokens({ LARDER_TOKENS_FILE: p, LARDER_ADMIN_TOKEN: 'admin-token-0001', LARDER_TOKENS: 'acme=acme-token-0001=tenant:acme' })
  assert.deepEqual(all.map((t) => t.name).sort(), ['acme', 'admin', 'grafana'])
  assert.throws(() => loadTokens({ LARDER_TOKENS_FILE: p, LARDER_TOKENS: 'grafana=other-token-001=admin' }), /"grafana" is configured twice/)
})

test('a bad tokens file fails with a message that says what is wrong', () => {
  assert.throws(() => tokensFromFile(join(dir, 'missing.yml')), /cannot read the tokens file/)
  assert.throws(() => tokensFromFile(file('bad.yml', 'tokens: [')), /not valid JSON\/YAML/)
  assert.throws(() => tokensFromFile(file('obj.yml', 'a: 1')), /must hold a list/)
  assert.throws(() => tokensFromFile(file('noscopes.yml', '- name: x\n  token: abcdefghij\n')), /entry "x": "scopes"/)
  assert.throws(() => createAuthorizer(tokensFromFile(file('scope.yml', '- name: x\n  token: abcdefghij\n  scopes: ["tenant:*", "superuser"]\n'))), /unknown scope "superuser"/)
})
