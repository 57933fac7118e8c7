/**
 * Invalidation rules: for each event type, which tags/keys to invalidate (hard) or expire
 * (soft), which extra SSE topics to notify and which keys to warm afterwards, as templates
 * over the event's data. Loaded from YAML (`larder.yaml`, errors carry the line) or a TS
 * object, and validated completely at start-up.
 *
 * ```yaml
 * version: 1
 * events:
 *   product.updated:
 *     fields: [productId, categoryIds[]]
 *     invalidate: ['product:{productId}', 'category:{categoryIds[]}', search]   # quote templates inside [ … ]
 *     warm: ['product:{productId}']
 * ```
 * @module
 */
import { readFileSync } from 'node:fs'
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Node } from 'yaml'
import { LarderError } from '../core/errors.ts'
import { MAX_KEY_LENGTH, MAX_TAG_LENGTH } from '../core/keys.ts'
import { type LarderEvent, invalidEvent } from './envelope.ts'
import { type Placeholder, type Template, TemplateSyntaxError, parseTemplate, placeholders, render } from './template.ts'

/** Tags and/or keys; a plain list means tags. */
export type RuleTargets = readonly string[] | { tags?: readonly string[]; keys?: readonly string[] }

export interface RuleSpec {
  description?: string
  /**
   * The event data the templates may read, as placeholder paths: `productId`, `seller.id`,
   * `categoryIds[]` (an array), `items[].variantId`; a trailing `?` marks a field optional
   * (absent → templates using it render nothing). Required when a template has placeholders.
   */
  fields?: readonly string[]
  /** Hard invalidation: once applied, no read returns the old entries. */
  invalidate?: RuleTargets
  /** Soft invalidation: entries may be served stale within grace while one refresh runs. */
  expire?: RuleTargets
  /**
   * Extra SSE topics to notify with the event data (invalidated tags notify already). Only
   * SSE streams opened with a signed token get them, unless `notify_public` is true.
   */
  notify?: readonly string[]
  /** The event data of `notify` is public: anonymous streams may get it too. Default false. */
  notify_public?: boolean
  /** Keys to warm after the invalidation (handed to `onWarm`). */
  warm?: readonly string[]
}

export interface RulesSpec {
  version?: 1
  events: Record<string, RuleSpec>
}

export interface CompiledRule {
  type: string
  description: string | undefined
  /** Line of the rule in its YAML source. */
  line: number | undefined
  hardTags: Template[]
  hardKeys: Template[]
  softTags: Template[]
  softKeys: Template[]
  notify: Template[]
  /** `notify_public: true`: the notified data may reach anonymous streams. */
  notifyPublic: boolean
  warm: Template[]
}

/** What one event asks for, rendered (may hold duplicates; the processor coalesces). */
export interface Plan {
  hardTags: string[]
  hardKeys: string[]
  softTags: string[]
  softKeys: string[]
  notify: string[]
  /** The notify topics' data may reach anonymous streams. */
  notifyPublic: boolean
  warm: string[]
}

export interface RuleSet {
  readonly source: string
  readonly rules: ReadonlyMap<string, CompiledRule>
  has(type: string): boolean
  /**
   * Renders the rule of `event.type` over its data. Throws E_INVALID_EVENT naming the
   * field (type unknown, a field missing or of the wrong shape) before anything is applied.
   */
  plan(event: LarderEvent): Plan
}

export interface RuleOptions {
  /** Largest array a `{x[]}` placeholder expands (default 1000). */
  maxExpansion?: number
  /** Most tags+keys+topics+warm keys one event may produce (default 5000). */
  maxOutputs?: number
}

const TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/
const RULE_KEYS = new Set(['description', 'fields', 'invalidate', 'expire', 'notify', 'notify_public', 'warm'])

interface RuleError {
  path: string
  line: number | undefined
  message: string
}

type PathPart = string | number
type LineOf = (path: readonly PathPart[]) => number | undefined

function pathText(path: readonly PathPart[]): string {
  let s = ''
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? (s ? `.${p}` : p) : `["${p}"]`
  return s
}

class Compiler {
  readonly errors: RuleError[] = []
  constructor(
    readonly source: string,
    readonly lineOf: LineOf,
  ) {}

  fail(path: readonly PathPart[], message: string): void {
    this.errors.push({ path: pathText(path), line: this.lineOf(path), message })
  }

  strings(value: unknown, path: readonly PathPart[]): string[] {
    if (value === undefined) return []
    if (!Array.isArray(value)) {
      this.fail(path, 'must be a list of templates')
      return []
    }
    return value as string[]
  }

  templates(value: unknown, path: readonly PathPart[], limit: number, fields: Map<string, Placeholder> | undefined): Template[] {
    const out: Template[] = []
    for (const [i, text] of this.strings(value, path).entries()) {
      const at = [...path, i]
      let t: Template
      try {
        t = parseTemplate(text, limit)
      } catch (err) {
        if (!(err instanceof TemplateSyntaxError)) throw err
        this.fail(at, err.message)
        continue
      }
      const unknown = placeholders(t).find((ph) => !fields?.has(ph.text))
      if (unknown) {
        const hint = fields ? `declared fields: ${[...fields.keys()].join(', ') || 'none'}` : 'declare it in the rule\'s "fields"'
        this.fail(at, `"${text}": unknown placeholder {${unknown.text}} (${hint})`)
        continue
      }
      for (const ph of placeholders(t)) ph.optional = fields?.get(ph.text)?.optional === true
      out.push(t)
    }
    return out
  }

  targets(value: unknown, path: readonly PathPart[], fields: Map<string, Placeholder> | undefined): { tags: Template[]; keys: Template[] } {
    if (value === undefined) return { tags: [], keys: [] }
    if (Array.isArray(value)) return { tags: this.templates(value, path, MAX_TAG_LENGTH, fields), keys: [] }
    if (typeof value !== 'object' || value === null) {
      this.fail(path, 'must be a list of tag templates or { tags: [...], keys: [...] }')
      return { tags: [], keys: [] }
    }
    for (const k of Object.keys(value)) if (k !== 'tags' && k !== 'keys') this.fail([...path, k], `unknown field "${k}" (use tags or keys)`)
    const v = value as { tags?: unknown; keys?: unknown }
    return { tags: this.templates(v.tags, [...path, 'tags'], MAX_TAG_LENGTH, fields), keys: this.templates(v.keys, [...path, 'keys'], MAX_KEY_LENGTH, fields) }
  }

  fields(value: unknown, path: readonly PathPart[]): Map<string, Placeholder> | undefined {
    if (value === undefined) return undefined
    const map = new Map<string, Placeholder>()
    for (const [i, raw] of this.strings(value, path).entries()) {
      if (typeof raw !== 'string' || raw.length === 0) {
        this.fail([...path, i], 'a field must be a non-empty path such as productId or categoryIds[]')
        continue
      }
      const optional = raw.endsWith('?')
      const text = optional ? raw.slice(0, -1) : raw
      let ph: Placeholder
      try {
        // Reuse the template parser on a dummy literal prefix to check the path syntax.
        ph = placeholders(parseTemplate(`x{${text}}`))[0] as Placeholder
      } catch (err) {
        if (!(err instanceof TemplateSyntaxError)) throw err
        this.fail([...path, i], `"${raw}" is not a field path such as productId, seller.id or categoryIds[]`)
        continue
      }
      if (map.has(ph.text)) this.fail([...path, i], `field "${text}" is declared twice`)
      else map.set(ph.text, { ...ph, optional })
    }
    return map
  }

  rule(type: string, spec: unknown): CompiledRule | undefined {
    const path = ['events', type]
    if (!TYPE.test(type) || type.length > 100) {
      this.fail(path, `"${type}" is not a dotted lower-case event type such as product.updated`)
      return undefined
    }
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
      this.fail(path, 'a rule must be a mapping (fields, invalidate, expire, notify, warm)')
      return undefined
    }
    for (const k of Object.keys(spec)) if (!RULE_KEYS.has(k)) this.fail([...path, k], `unknown field "${k}" (allowed: ${[...RULE_KEYS].join(', ')})`)
    const s = spec as Record<string, unknown>
    if (s.description !== undefined && typeof s.description !== 'string') this.fail([...path, 'description'], 'must be a string')
    if (s.notify_public !== undefined && typeof s.notify_public !== 'boolean') this.fail([...path, 'notify_public'], 'must be true or false')
    const fields = this.fields(s.fields, [...path, 'fields'])
    const hard = this.targets(s.invalidate, [...path, 'invalidate'], fields)
    const soft = this.targets(s.expire, [...path, 'expire'], fields)
    const notify = this.templates(s.notify, [...path, 'notify'], MAX_TAG_LENGTH, fields)
    const warm = this.templates(s.warm, [...path, 'warm'], MAX_KEY_LENGTH, fields)
    if (isEmpty(s.invalidate) && isEmpty(s.expire) && isEmpty(s.notify)) this.fail(path, 'the rule does nothing: give it invalidate, expire or notify')
    if (fields) {
      const used = new Set<string>()
      for (const t of [...hard.tags, ...hard.keys, ...soft.tags, ...soft.keys, ...notify, ...warm]) for (const ph of placeholders(t)) used.add(ph.text)
      for (const name of fields.keys()) if (!used.has(name)) this.fail([...path, 'fields'], `field "${name}" is declared but no template uses it`)
    }
    return {
      type,
      description: typeof s.description === 'string' ? s.description : undefined,
      line: this.lineOf(path),
      hardTags: hard.tags,
      hardKeys: hard.keys,
      softTags: soft.tags,
      softKeys: soft.keys,
      notify,
      notifyPublic: s.notify_public === true,
      warm,
    }
  }
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true
  if (Array.isArray(v)) return v.length === 0
  if (typeof v !== 'object') return false
  const t = v as { tags?: unknown; keys?: unknown }
  return isEmpty(t.tags) && isEmpty(t.keys)
}

/**
 * Compiles and validates rules. Throws one E_INVALID_RULE listing every problem
 * (`details.errors`: path, line, message; `details.line`: the first one's line).
 */
export function compileRules(spec: unknown, options: RuleOptions & { source?: string; lineOf?: LineOf } = {}): RuleSet {
  const source = options.source ?? 'rules'
  const c = new Compiler(source, options.lineOf ?? (() => undefined))
  const rules = new Map<string, CompiledRule>()
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) c.fail([], 'rules must be a mapping with an "events" mapping')
  else {
    const s = spec as Record<string, unknown>
    for (const k of Object.keys(s)) if (k !== 'version' && k !== 'events') c.fail([k], `unknown top-level field "${k}" (allowed: version, events)`)
    if (s.version !== undefined && s.version !== 1) c.fail(['version'], `unsupported version ${JSON.stringify(s.version)} (this Larder reads version 1)`)
    if (typeof s.events !== 'object' || s.events === null || Array.isArray(s.events)) c.fail(['events'], 'must be a mapping of event type → rule')
    else
      for (const [type, r] of Object.entries(s.events)) {
        const rule = c.rule(type, r)
        if (rule) rules.set(type, rule)
      }
  }
  if (c.errors.length > 0) {
    const lines = c.errors.map((e) => `${source}${e.line !== undefined ? `:${e.line}` : ''}: ${e.path || '(root)'}: ${e.message}`)
    throw new LarderError('E_INVALID_RULE', `invalid rules:\n${lines.join('\n')}`, { details: { errors: c.errors, line: c.errors[0]?.line, path: c.errors[0]?.path } })
  }
  return makeRuleSet(source, rules, options)
}

function makeRuleSet(source: string, rules: Map<string, CompiledRule>, options: RuleOptions): RuleSet {
  const maxItems = options.maxExpansion ?? 1000
  const maxOutputs = options.maxOutputs ?? 5000
  return {
    source,
    rules,
    has: (type) => rules.has(type),
    plan(event) {
      const rule = rules.get(event.type)
      if (!rule) throw invalidEvent('type', `no rule for event type "${event.type}"`, { unknownType: true })
      const plan: Plan = { hardTags: [], hardKeys: [], softTags: [], softKeys: [], notify: [], notifyPublic: rule.notifyPublic, warm: [] }
      const data = event.data
      for (const t of rule.hardTags) render(t, data, plan.hardTags, maxItems, MAX_TAG_LENGTH)
      for (const t of rule.hardKeys) render(t, data, plan.hardKeys, maxItems, MAX_KEY_LENGTH)
      for (const t of rule.softTags) render(t, data, plan.softTags, maxItems, MAX_TAG_LENGTH)
      for (const t of rule.softKeys) render(t, data, plan.softKeys, maxItems, MAX_KEY_LENGTH)
      for (const t of rule.notify) render(t, data, plan.notify, maxItems, MAX_TAG_LENGTH)
      for (const t of rule.warm) render(t, data, plan.warm, maxItems, MAX_KEY_LENGTH)
      const n = plan.hardTags.length + plan.hardKeys.length + plan.softTags.length + plan.softKeys.length + plan.notify.length + plan.warm.length
      if (n > maxOutputs) throw invalidEvent('data', `expands to ${n} tags/keys/topics; the limit per event is ${maxOutputs}`, { limit: maxOutputs })
      return plan
    },
  }
}

/** Parses YAML rules; every error carries the line of the offending node (yaml's LineCounter). */
export function parseRules(text: string, options: RuleOptions & { source?: string } = {}): RuleSet {
  const source = options.source ?? 'larder.yaml'
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false })
  if (doc.errors.length > 0) {
    const e = doc.errors[0] as (typeof doc.errors)[number]
    const line = lineCounter.linePos(e.pos[0]).line
    throw new LarderError('E_INVALID_RULE', `${source}:${line}: YAML syntax error: ${e.message.split('\n')[0]}`, {
      details: { errors: doc.errors.map((x) => ({ path: '', line: lineCounter.linePos(x.pos[0]).line, message: x.message })), line },
    })
  }
  const lineOf: LineOf = (path) => {
    // The deepest node on the path that exists; for a mapping entry, its key's line.
    for (let n = path.length; n >= 0; n--) {
      const node = nodeAt(doc.contents as Node | null, path.slice(0, n))
      const start = node?.range?.[0]
      if (start !== undefined) return lineCounter.linePos(start).line
    }
    return undefined
  }
  return compileRules(doc.toJS({ maxAliasCount: 100 }), { ...options, source, lineOf })
}

function nodeAt(root: Node | null, path: readonly PathPart[]): Node | undefined {
  let cur: unknown = root
  let keyNode: Node | undefined
  for (const p of path) {
    keyNode = undefined
    if (isMap(cur)) {
      const pair = cur.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === p)
      if (!pair) return undefined
      keyNode = pair.key as Node
      cur = pair.value
    } else if (cur && typeof cur === 'object' && 'items' in cur && typeof p === 'number') {
      cur = (cur as { items: unknown[] }).items[p]
    } else return undefined
  }
  // Mapping entries report the key's line (where the rule or field is written).
  return keyNode ?? (cur as Node | undefined)
}

/** Rules from a YAML file path, YAML text, a TS object or an already compiled RuleSet. */
export function loadRules(input: string | RulesSpec | RuleSet, options: RuleOptions = {}): RuleSet {
  if (typeof input === 'object' && input !== null && 'plan' in input && typeof input.plan === 'function') return input as RuleSet
  if (typeof input === 'string') {
    // A string holding a newline or "events:" is YAML text; anything else is a file path.
    if (/\n/.test(input) || /^\s*events\s*:/.test(input)) return parseRules(input, options)
    let text: string
    try {
      text = readFileSync(input, 'utf8')
    } catch (err) {
      throw new LarderError('E_INVALID_RULE', `cannot read rules file ${input}: ${(err as Error).message}`, { cause: err })
    }
    return parseRules(text, { ...options, source: input })
  }
  return compileRules(input, options)
}

/**
 * Reads a YAML rules file into the plain object (to merge with other rules before
 * `createEventProcessor`), after validating it on its own so errors keep file and line.
 */
export function readRulesSpec(path: string, options: RuleOptions = {}): RulesSpec {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new LarderError('E_INVALID_RULE', `cannot read rules file ${path}: ${(err as Error).message}`, { cause: err })
  }
  parseRules(text, { ...options, source: path })
  return parseDocument(text).toJS({ maxAliasCount: 100 }) as RulesSpec
}
