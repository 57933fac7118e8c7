/**
 * Tokens from a file, for deployments that mount secrets as files rather than env vars.
 * The file is JSON or YAML: a list of `{ name, token, scopes }` (or `{ tokens: [...] }`).
 * `loadTokens()` merges the file named by LARDER_TOKENS_FILE with core/auth.ts's
 * `tokensFromEnv()` (LARDER_ADMIN_TOKEN, LARDER_TOKENS). Scopes are checked by
 * `createAuthorizer`, which rejects unknown ones at start-up.
 * @module
 */
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { type TokenConfig, tokensFromEnv } from '../core/auth.ts'
import { LarderError } from '../core/errors.ts'

export function tokensFromFile(path: string): TokenConfig[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new LarderError('E_INVALID_OPTION', `cannot read the tokens file ${path}: ${(err as Error).message}`, { cause: err })
  }
  let doc: unknown
  try {
    doc = parse(text)
  } catch (err) {
    throw new LarderError('E_INVALID_OPTION', `the tokens file ${path} is not valid JSON/YAML: ${(err as Error).message}`, { cause: err })
  }
  const list = Array.isArray(doc) ? doc : (doc as { tokens?: unknown } | null)?.tokens
  if (!Array.isArray(list)) throw new LarderError('E_INVALID_OPTION', `the tokens file ${path} must hold a list of { name, token, scopes } (or { tokens: [...] })`)
  return list.map((t, i) => {
    const x = t as Partial<TokenConfig> | null
    if (!x || typeof x.name !== 'string' || x.name.length === 0) throw new LarderError('E_INVALID_OPTION', `tokens file ${path}, entry ${i}: "name" must be a non-empty string`)
    if (typeof x.token !== 'string') throw new LarderError('E_INVALID_OPTION', `tokens file ${path}, entry "${x.name}": "token" must be a string`)
    if (!Array.isArray(x.scopes) || x.scopes.some((s) => typeof s !== 'string')) throw new LarderError('E_INVALID_OPTION', `tokens file ${path}, entry "${x.name}": "scopes" must be a list of strings`)
    return { name: x.name, token: x.token, scopes: [...x.scopes] }
  })
}

/** Tokens from LARDER_TOKENS_FILE (when set) plus LARDER_ADMIN_TOKEN / LARDER_TOKENS. */
export function loadTokens(env: NodeJS.ProcessEnv = process.env): TokenConfig[] {
  const fromFile = env.LARDER_TOKENS_FILE ? tokensFromFile(env.LARDER_TOKENS_FILE) : []
  const all = [...fromFile, ...tokensFromEnv(env)]
  const names = new Set<string>()
  for (const t of all) {
    if (names.has(t.name)) throw new LarderError('E_INVALID_OPTION', `token name "${t.name}" is configured twice (names identify callers in the audit log)`)
    names.add(t.name)
  }
  return all
}
