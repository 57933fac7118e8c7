/**
 * The value model: one codec decides what a cached value is, for every tier. L1 sizes an
 * entry by its encoded length and L2 stores the encoded text, so every instance and tier
 * returns the same value and the byte bounds hold whatever the value holds
 * (docs/invariants.md, V1–V2).
 *
 * - `jsonCodec` (default): plain JSON data — objects with the plain prototype, arrays,
 *   strings, finite numbers, booleans and null. Anything JSON would silently change (a Date
 *   becomes a string, a Map `{}`, `undefined` disappears) or cannot write (BigInt, cycles) is
 *   refused with E_INVALID_VALUE naming the path, so L1 can keep the caller's object as is
 *   (zero-copy hits) and it still equals what another instance reads from Redis.
 * - `structuredCodec`: node's structured serialization (v8), for Date, Map, Set, BigInt,
 *   typed arrays and cycles. L1 keeps the decoded copy (a class instance comes back as a plain
 *   object in every tier alike). Costs a copy per load, never per hit.
 * A fleet must use one codec: it is part of the stored format.
 * @module
 */
import { deserialize, serialize } from 'node:v8'
import { LarderError } from './errors.ts'

export interface ValueCodec {
  readonly name: string
  /** True when `encode` returns JSON text that L2 can embed as is (no second encoding). */
  readonly inline: boolean
  /** True when the decoded value equals the input for every value `encode` accepts (L1 may keep the input). */
  readonly identity: boolean
  /** Text form of the value; throws E_INVALID_VALUE (naming the path) for what it cannot encode. */
  encode(value: unknown): string
  decode(text: string): unknown
}

function invalid(path: string, what: string, hint = ''): LarderError {
  return new LarderError('E_INVALID_VALUE', `${path}: ${what} is not JSON data${hint}`, { details: { path } })
}

const PLAIN = Object.prototype

/** Throws E_INVALID_VALUE at the first part of `v` that JSON would change or refuse. */
function checkJson(v: unknown, path: string, stack: unknown[]): void {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(v)) throw invalid(path, String(v), ' (JSON writes it as null)')
      return
    case 'bigint':
      throw invalid(path, 'a BigInt', ' (store it as a string, or use structuredCodec)')
    case 'undefined':
      throw invalid(path, 'undefined', ' (JSON drops it; use null)')
    case 'function':
    case 'symbol':
      throw invalid(path, `a ${typeof v}`)
  }
  if (v === null) return
  const o = v as object
  if (stack.includes(o)) throw invalid(path, 'a circular reference')
  if (Array.isArray(o)) {
    stack.push(o)
    for (let i = 0; i < o.length; i++) {
      if (!(i in o)) throw invalid(`${path}[${i}]`, 'a hole in an array')
      checkJson(o[i], `${path}[${i}]`, stack)
    }
    stack.pop()
    return
  }
  const proto = Object.getPrototypeOf(o)
  if (proto !== PLAIN && proto !== null) {
    const name = (o as { constructor?: { name?: string } }).constructor?.name ?? 'an object with a prototype'
    throw invalid(path, `a ${name}`, name === 'Date' ? ' (store date.toISOString(), or use structuredCodec)' : ' (convert it to plain data, or use structuredCodec)')
  }
  stack.push(o)
  for (const k of Object.keys(o)) checkJson((o as Record<string, unknown>)[k], /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`, stack)
  stack.pop()
}

export const jsonCodec: ValueCodec = {
  name: 'json',
  inline: true,
  identity: true,
  encode(value) {
    checkJson(value, '$', [])
    return JSON.stringify(value)
  },
  decode: (text) => JSON.parse(text),
}

export const structuredCodec: ValueCodec = {
  name: 'structured',
  inline: false,
  identity: false,
  encode(value) {
    if (value === undefined) throw invalid('$', 'undefined', ' (use null)')
    try {
      return serialize(value).toString('base64')
    } catch (err) {
      throw new LarderError('E_INVALID_VALUE', `$: cannot be serialized (${(err as Error).message})`, { details: { path: '$' } })
    }
  },
  decode: (text) => deserialize(Buffer.from(text, 'base64')),
}

/** Validates a user-given codec option. */
export function resolveCodec(c: unknown): ValueCodec {
  if (c === undefined || c === 'json') return jsonCodec
  if (c === 'structured') return structuredCodec
  const x = c as Partial<ValueCodec>
  if (typeof x !== 'object' || x === null || typeof x.encode !== 'function' || typeof x.decode !== 'function' || typeof x.name !== 'string') {
    throw new LarderError('E_INVALID_OPTION', 'codec must be "json", "structured" or { name, inline, identity, encode(value): string, decode(text) }')
  }
  return { name: x.name, inline: x.inline === true, identity: x.identity === true, encode: x.encode.bind(x), decode: x.decode.bind(x) }
}

/**
 * The encoded form of an entry the engine writes, so a shared store writes that text instead
 * of encoding the value a second time. Held weakly: it lives only as long as the write.
 */
const encoded = new WeakMap<object, string>()

export function attachEncoded(entry: object, text: string): void {
  encoded.set(entry, text)
}

export function encodedOf(entry: object): string | undefined {
  return encoded.get(entry)
}
