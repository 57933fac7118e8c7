import { LarderError } from './errors.ts'
import { hasControlChars } from './text.ts'

/** Separator between tenant and key in qualified keys. Tenants can never contain it. */
export const SEP = '\u001f'
/** The explicit cross-tenant scope (`cache.public`). User tenant ids may not start with '@'. */
export const PUBLIC_TENANT = '@public'
export const MAX_TENANT_LENGTH = 128
export const MAX_KEY_LENGTH = 1024
export const MAX_TAG_LENGTH = 512


/** Validates a user tenant id: 1–128 chars, no control characters, not starting with '@'. */
export function validateTenant(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new LarderError('E_INVALID_TENANT', `tenant id must be a non-empty string, got ${id === '' ? 'an empty string' : typeof id}`)
  }
  if (id.length > MAX_TENANT_LENGTH) {
    throw new LarderError('E_INVALID_TENANT', `tenant id is ${id.length} characters long; the limit is ${MAX_TENANT_LENGTH}`)
  }
  if (hasControlChars(id)) throw new LarderError('E_INVALID_TENANT', 'tenant id must not contain control characters')
  if (id.charCodeAt(0) === 64 /* @ */) {
    throw new LarderError('E_INVALID_TENANT', `tenant id must not start with "@" (reserved; use cache.public for cross-tenant data)`)
  }
  return id
}

/** True for a valid tenant id or the public scope. */
export function isTenantId(id: unknown): id is string {
  if (id === PUBLIC_TENANT) return true
  try {
    validateTenant(id)
    return true
  } catch {
    return false
  }
}

/**
 * The characters internal names are built with: NUL opens a namespace marker and a namespace
 * tag (`\0ns:<name>\0`), SEP ends a tenant. No key, tag or namespace name a user writes may
 * hold them, so user text can never forge an internal name (docs/invariants.md, V3).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing the internal marker characters is the point
const INTERNAL = /[\u0000\u001f]/

export function validateKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) throw new LarderError('E_INVALID_KEY', `key must be a non-empty string, got ${typeof key === 'string' ? 'an empty string' : typeof key}`)
  if (key.length > MAX_KEY_LENGTH) throw new LarderError('E_INVALID_KEY', `key is ${key.length} characters long; the limit is ${MAX_KEY_LENGTH}`)
  if (INTERNAL.test(key)) throw new LarderError('E_INVALID_KEY', 'key must not contain NUL (\\u0000) or \\u001f: they mark internal names')
  return key
}

export function validateTag(tag: unknown): string {
  if (typeof tag !== 'string' || tag.length === 0) throw new LarderError('E_INVALID_TAG', `tag must be a non-empty string, got ${typeof tag === 'string' ? 'an empty string' : typeof tag}`)
  if (tag.length > MAX_TAG_LENGTH) throw new LarderError('E_INVALID_TAG', `tag is ${tag.length} characters long; the limit is ${MAX_TAG_LENGTH}`)
  if (INTERNAL.test(tag)) throw new LarderError('E_INVALID_TAG', 'tag must not contain NUL (\\u0000) or \\u001f: they mark internal names')
  return tag
}

export function validateTags(tags: unknown): string[] {
  if (tags === undefined) return []
  if (!Array.isArray(tags)) throw new LarderError('E_INVALID_TAG', 'tags must be an array of strings')
  for (const t of tags) validateTag(t)
  return tags as string[]
}

/** Qualified key: tenant + SEP + key. Key text is data; it is never parsed. */
export function qualify(tenant: string, key: string): string {
  return tenant + SEP + key
}

/** Splits a qualified key back into tenant and key (the tenant ends at the first SEP). */
export function splitQualified(qkey: string): { tenant: string; key: string } {
  const i = qkey.indexOf(SEP)
  if (i < 0) throw new LarderError('E_INVALID_KEY', 'not a qualified key')
  return { tenant: qkey.slice(0, i), key: qkey.slice(i + 1) }
}
