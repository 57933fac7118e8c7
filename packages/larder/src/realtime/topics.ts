/**
 * SSE topics. Topics and cache tags share one namespace: a client subscribed to
 * `product:42` hears every invalidation of tag `product:42` in its tenant.
 *
 * The only syntax is a trailing `*`, which makes the rest a *literal* prefix
 * (`stock:*` matches `stock:42`, `*` alone matches every topic of the tenant).
 * `?`, `[`, `{`, `:` and a `*` anywhere else are data, never pattern syntax
 * (docs/invariants.md, P2), so a topic can never widen past its tenant.
 * @module
 */
import { LarderError } from '../core/errors.ts'
import { MAX_TAG_LENGTH } from '../core/keys.ts'
import { hasControlChars } from '../core/text.ts'


export interface TopicLimits {
  /** Most topics one stream may ask for (default 64). */
  maxTopics: number
  /** Longest topic (default 512, the tag limit, since topics are tags). */
  maxTopicLength: number
}

export const DEFAULT_TOPIC_LIMITS: TopicLimits = { maxTopics: 64, maxTopicLength: MAX_TAG_LENGTH }

/** A parsed subscription: exact topics and literal prefixes (from `prefix*`). */
export interface TopicSet {
  readonly exact: readonly string[]
  readonly prefixes: readonly string[]
}

/** Validates one topic (exact or ending in `*`); throws E_INVALID_TOPIC with the reason. */
export function validateTopic(topic: unknown, limits: TopicLimits = DEFAULT_TOPIC_LIMITS): string {
  if (typeof topic !== 'string' || topic.length === 0) throw new LarderError('E_INVALID_TOPIC', 'a topic is empty (topics are comma-separated, e.g. topics=product:42,stock:*)')
  if (topic.length > limits.maxTopicLength) {
    throw new LarderError('E_INVALID_TOPIC', `a topic is ${topic.length} characters long; the limit is ${limits.maxTopicLength}`, { details: { limit: limits.maxTopicLength } })
  }
  if (hasControlChars(topic)) throw new LarderError('E_INVALID_TOPIC', 'a topic must not contain control characters')
  return topic
}

/**
 * Parses the topics of a stream request. `list` holds the raw topics (the hub splits
 * `topics=` on commas and takes each `topic=` verbatim). Duplicates are folded.
 */
export function parseTopics(list: readonly string[], limits: TopicLimits = DEFAULT_TOPIC_LIMITS): TopicSet {
  if (list.length === 0) throw new LarderError('E_INVALID_TOPIC', 'no topics: ask for at least one, e.g. ?topics=product:42')
  if (list.length > limits.maxTopics) {
    throw new LarderError('E_INVALID_TOPIC', `${list.length} topics asked for; the limit is ${limits.maxTopics}`, { details: { limit: limits.maxTopics } })
  }
  const exact = new Set<string>()
  const prefixes = new Set<string>()
  for (const t of list) {
    validateTopic(t, limits)
    if (t.endsWith('*')) prefixes.add(t.slice(0, -1))
    else exact.add(t)
  }
  return { exact: [...exact], prefixes: [...prefixes] }
}

/** True when `topic` (a tag or live topic) is matched by the set. */
export function topicMatches(set: TopicSet, topic: string): boolean {
  if (set.exact.includes(topic)) return true
  for (const p of set.prefixes) if (topic.startsWith(p)) return true
  return false
}

/**
 * True when every topic of `wanted` is covered by `allowed` (a signed token's topics):
 * an exact topic must be allowed exactly or by a prefix; a prefix must lie inside an
 * allowed prefix. This is how a token's grant can never be widened by the query.
 */
export function topicsWithin(wanted: TopicSet, allowed: TopicSet): boolean {
  for (const t of wanted.exact) if (!topicMatches(allowed, t)) return false
  for (const p of wanted.prefixes) if (!allowed.prefixes.some((a) => p.startsWith(a))) return false
  return true
}
