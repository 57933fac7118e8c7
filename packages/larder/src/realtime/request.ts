/**
 * Turns an incoming `GET /_larder/stream` request into what the hub needs (tenant,
 * topics, resume id), or into a clear 4xx. Everything here is untrusted input.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { LarderError } from '../core/errors.ts'
import { isTenantId } from '../core/keys.ts'
import { verifyStreamToken } from './token.ts'
import { parseTopics, type TopicLimits, type TopicSet, topicsWithin } from './topics.ts'

export interface StreamRequest {
  tenant: string
  topics: TopicSet
  /** Log id to resume after (Last-Event-ID), when the client sent one. */
  resumeAfter: number | undefined
  /** True when the tenant came from a signed token; false for an anonymous stream. */
  viaToken: boolean
}

export interface RequestRules extends TopicLimits {
  tokenSecret: string | Buffer | undefined
  /** Streams without a token are refused (401) when false. */
  anonymous: boolean
  tenantFrom: ((req: IncomingMessage, ctx: { tenant: string; url: URL }) => string | undefined) | undefined
  allowTopic: ((topic: string, tenant: string) => boolean) | undefined
  now: () => number
}

const ID = /^\d{1,16}$/

/** Parses a Last-Event-ID value: a decimal log id (a safe integer), or absent when empty. */
export function parseLastEventId(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined
  if (!ID.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new LarderError('E_BAD_REQUEST', `Last-Event-ID must be a decimal log id (digits only), got "${raw.slice(0, 40)}"`)
  }
  return Number(raw)
}

function show(topic: string): string {
  return topic.length > 64 ? `${topic.slice(0, 64)}…` : topic
}

export function parseStreamRequest(req: IncomingMessage, ctx: { tenant: string; url: URL }, rules: RequestRules): StreamRequest {
  const q = ctx.url.searchParams
  // `topics` is comma-separated; `topic` is taken verbatim (so a topic may hold a comma).
  const raw = [...q.getAll('topics').flatMap((s) => s.split(',')), ...q.getAll('topic')]
  const topics = parseTopics(raw, rules)

  const header = req.headers['last-event-id']
  const resumeAfter = parseLastEventId(typeof header === 'string' && header !== '' ? header : (q.get('lastEventId') ?? undefined))

  const token = q.get('token')
  let tenant: string | undefined
  let viaToken = false
  if (token !== null) {
    if (rules.tokenSecret === undefined) throw new LarderError('E_BAD_REQUEST', 'this stream does not take ?token= (no tokenSecret configured)')
    const grant = verifyStreamToken(rules.tokenSecret, token, rules.now())
    if (typeof grant === 'string') throw new LarderError('E_UNAUTHORIZED', grant)
    // The token's tenant wins; the request's own tenant (header, host) is ignored.
    tenant = grant.tenant
    viaToken = true
    if (grant.topics !== undefined && !topicsWithin(topics, parseTopics(grant.topics, { maxTopics: Number.MAX_SAFE_INTEGER, maxTopicLength: rules.maxTopicLength }))) {
      throw new LarderError('E_FORBIDDEN', 'the stream token does not grant every topic asked for')
    }
  } else {
    if (!rules.anonymous) throw new LarderError('E_UNAUTHORIZED', 'this stream needs a signed ?token= (anonymous streams are off; the shop backend issues tokens, see docs/realtime.md)')
    tenant = rules.tenantFrom ? rules.tenantFrom(req, ctx) : ctx.tenant
  }
  if (!isTenantId(tenant)) throw new LarderError('E_INVALID_TENANT', 'no valid tenant for this stream (check the tenant header or host)')

  if (rules.allowTopic) {
    for (const t of topics.exact) if (!rules.allowTopic(t, tenant)) throw new LarderError('E_INVALID_TOPIC', `unknown topic "${show(t)}"`)
    for (const p of topics.prefixes) if (!rules.allowTopic(`${p}*`, tenant)) throw new LarderError('E_INVALID_TOPIC', `unknown topic "${show(p)}*"`)
  }
  return { tenant, topics, resumeAfter, viaToken }
}
