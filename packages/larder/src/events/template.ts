/**
 * Rule templates: `product:{productId}`, `category:{categoryIds[]}` (one output per array
 * element), `seller:{seller.id}` (nested path), `variant:{items[].variantId}`.
 *
 * A template may never widen a scope. Precisely, a template is rejected at start-up when:
 * - it is empty, or longer than the tag/key limit, or holds control characters;
 * - its literal text holds `*`, `?`, `[`, `]` (outside `{…[]}`) or a stray `{`/`}`: Larder
 *   tags and keys are exact strings, never patterns, so `products:*` would silently match
 *   nothing while its author meant "all products" — tag the entries with a shared tag
 *   (e.g. `products`) and invalidate that instead;
 * - it starts with a placeholder (`{productId}`): event data would choose the whole tag,
 *   so a value such as `category:5` or `settings` could reach any namespace;
 * - two placeholders touch (`{a}{b}`): `1`+`23` and `12`+`3` would name the same tag;
 * - it holds more than one array placeholder (outputs would multiply).
 * Substituted values are data: a `*` in a product id stays a literal `*`.
 * @module
 */
import { MAX_KEY_LENGTH } from '../core/keys.ts'
import { invalidEvent } from './envelope.ts'
import { hasControlChars } from '../core/text.ts'

export interface Placeholder {
  /** Path segments, e.g. ['seller', 'id']. */
  path: string[]
  /** Index in `path` of the segment marked `[]` (that segment is an array), or -1. */
  arrayAt: number
  /** The placeholder as written, for messages: `categoryIds[]`. */
  text: string
  /** Declared optional in the rule's `fields` (`note?`): when absent the template renders nothing. */
  optional?: boolean
  /** Field names for errors, computed once: `data.seller.id`; for arrays `data.categoryIds`. */
  field: string
}

export type Segment = string | Placeholder

export interface Template {
  text: string
  segments: Segment[]
  /** The array placeholder, if any. */
  array: Placeholder | undefined
}

/** Per substituted value; the rendered tag/key is also checked against its own limit. */
export const MAX_VALUE_LENGTH = 256

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/
const PATTERN_CHARS = /[*?[\]]/

export class TemplateSyntaxError extends Error {}

function parsePlaceholder(inner: string, template: string): Placeholder {
  const parts = inner.split('.')
  let arrayAt = -1
  const path: string[] = []
  for (let i = 0; i < parts.length; i++) {
    let p = parts[i] as string
    if (p.endsWith('[]')) {
      if (arrayAt >= 0) throw new TemplateSyntaxError(`"${template}": placeholder {${inner}} has more than one [] (outputs would multiply)`)
      arrayAt = i
      p = p.slice(0, -2)
    }
    if (!IDENT.test(p)) throw new TemplateSyntaxError(`"${template}": placeholder {${inner}} is not a field path such as {productId}, {seller.id} or {categoryIds[]}`)
    path.push(p)
  }
  return { path, arrayAt, text: inner, field: fieldName(path, arrayAt >= 0 ? arrayAt + 1 : path.length) }
}

/** Parses and checks one template; throws TemplateSyntaxError saying what is wrong. */
export function parseTemplate(text: unknown, limit = MAX_KEY_LENGTH): Template {
  if (typeof text !== 'string') throw new TemplateSyntaxError(`a template must be a string, got ${text === null ? 'null' : typeof text}`)
  if (text.length === 0 || text.trim().length === 0) throw new TemplateSyntaxError('a template must not be empty')
  if (text.length > limit) throw new TemplateSyntaxError(`"${text.slice(0, 40)}…" is ${text.length} characters long; the limit is ${limit}`)
  if (hasControlChars(text)) throw new TemplateSyntaxError(`"${text}" must not contain control characters`)
  const segments: Segment[] = []
  let array: Placeholder | undefined
  let i = 0
  while (i < text.length) {
    const open = text.indexOf('{', i)
    const literal = text.slice(i, open < 0 ? text.length : open)
    if (literal.includes('}')) throw new TemplateSyntaxError(`"${text}": "}" without a matching "{"`)
    if (PATTERN_CHARS.test(literal)) {
      throw new TemplateSyntaxError(
        `"${text}": "${literal.match(PATTERN_CHARS)?.[0]}" is not a wildcard in Larder (tags and keys are exact strings); tag the entries with a shared tag and invalidate that instead`,
      )
    }
    if (literal.length > 0) segments.push(literal)
    if (open < 0) break
    const close = text.indexOf('}', open + 1)
    if (close < 0) throw new TemplateSyntaxError(`"${text}": "{" without a matching "}"`)
    const inner = text.slice(open + 1, close)
    if (inner.includes('{')) throw new TemplateSyntaxError(`"${text}": nested "{"`)
    const ph = parsePlaceholder(inner, text)
    const prev = segments[segments.length - 1]
    if (prev === undefined) {
      throw new TemplateSyntaxError(`"${text}": a template must start with literal text (e.g. "product:{productId}"); a bare placeholder would let event data name any tag`)
    }
    if (typeof prev !== 'string') throw new TemplateSyntaxError(`"${text}": placeholders {${prev.text}} and {${inner}} must be separated by literal text`)
    if (ph.arrayAt >= 0) {
      if (array) throw new TemplateSyntaxError(`"${text}": at most one array placeholder per template (outputs would multiply)`)
      array = ph
    }
    segments.push(ph)
    i = close + 1
  }
  return { text, segments, array }
}

export function placeholders(t: Template): Placeholder[] {
  return t.segments.filter((s): s is Placeholder => typeof s !== 'string')
}

function fieldName(path: readonly string[], upto = path.length): string {
  return `data.${path.slice(0, upto).join('.')}`
}

function walk(data: unknown, path: readonly string[], from: number, to: number): unknown {
  let cur = data
  for (let i = from; i < to; i++) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined
    const seg = path[i] as string
    // Own properties only: `{constructor}` must not read Object.prototype.
    cur = Object.hasOwn(cur, seg) ? (cur as Record<string, unknown>)[seg] : undefined
  }
  return cur
}

/** A substituted value: a non-empty string or a finite number, as text. */
export function scalarText(v: unknown, field: string): string {
  if (typeof v === 'string') {
    if (v.length === 0) throw invalidEvent(field, 'must not be an empty string (the rule uses it in a template)')
    if (v.length > MAX_VALUE_LENGTH) throw invalidEvent(field, `is ${v.length} characters long; the limit for a template value is ${MAX_VALUE_LENGTH}`)
    if (hasControlChars(v)) throw invalidEvent(field, 'must not contain control characters')
    return v
  }
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  if (v === undefined || v === null) throw invalidEvent(field, 'is missing (the rule uses it in a template)')
  throw invalidEvent(field, `must be a string or a number, got ${Array.isArray(v) ? 'an array' : typeof v}`)
}

/** Reads a scalar placeholder from event data (throws naming the field when missing or wrong). */
export function readScalar(data: unknown, ph: Placeholder): string {
  return scalarText(walk(data, ph.path, 0, ph.path.length), ph.field)
}

/** Reads the values of an array placeholder: `{categoryIds[]}` or `{items[].id}`. */
export function readArray(data: unknown, ph: Placeholder, maxItems: number): string[] {
  const arr = walk(data, ph.path, 0, ph.arrayAt + 1)
  const field = ph.field
  if (arr === undefined || arr === null) throw invalidEvent(field, 'is missing (the rule uses it in a template)')
  if (!Array.isArray(arr)) throw invalidEvent(field, `must be an array, got ${typeof arr}`)
  if (arr.length > maxItems) throw invalidEvent(field, `has ${arr.length} items; a rule expands at most ${maxItems}`, { limit: maxItems })
  const out: string[] = []
  for (let i = 0; i < arr.length; i++) {
    const v = ph.arrayAt === ph.path.length - 1 ? arr[i] : walk(arr[i], ph.path, ph.arrayAt + 1, ph.path.length)
    // The element's field name is only built when the value is wrong.
    const ok = typeof v === 'number' ? Number.isFinite(v) : typeof v === 'string' && v.length > 0 && v.length <= MAX_VALUE_LENGTH && !hasControlChars(v)
    out.push(ok ? String(v) : scalarText(v, `${field}[${i}]${ph.arrayAt === ph.path.length - 1 ? '' : `.${ph.path.slice(ph.arrayAt + 1).join('.')}`}`))
  }
  return out
}

/**
 * Renders a template over event data into `out` (one string, or one per array element).
 * Throws E_INVALID_EVENT naming the field when a value is missing or not a scalar.
 */
export function render(t: Template, data: unknown, out: string[], maxItems: number, limit: number): void {
  let head = ''
  let arrayValues: string[] | undefined
  let tail = ''
  for (const seg of t.segments) {
    // An optional field that is absent makes the template render nothing (not an error).
    if (typeof seg !== 'string' && seg.optional && isAbsent(data, seg)) return
    const piece = typeof seg === 'string' ? seg : seg === t.array ? undefined : readScalar(data, seg)
    if (piece === undefined) arrayValues = readArray(data, seg as Placeholder, maxItems)
    else if (arrayValues === undefined) head += piece
    else tail += piece
  }
  if (arrayValues === undefined) push(out, head, t, limit)
  else for (const v of arrayValues) push(out, head + v + tail, t, limit)
}

function isAbsent(data: unknown, ph: Placeholder): boolean {
  const v = walk(data, ph.path, 0, ph.arrayAt >= 0 ? ph.arrayAt + 1 : ph.path.length)
  return v === undefined || v === null
}

function push(out: string[], s: string, t: Template, limit: number): void {
  if (s.length > limit) throw invalidEvent('data', `template "${t.text}" renders ${s.length} characters; the limit is ${limit}`, { template: t.text })
  out.push(s)
}
