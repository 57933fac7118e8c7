/**
 * `larder/realtime`: the Server-Sent Events hub fed by the invalidation log.
 *
 * ```ts
 * import { createServer } from 'node:http'
 * import { createCache } from 'larder'
 * import { createSseHub } from 'larder/realtime'
 *
 * const cache = createCache()
 * const hub = createSseHub({ log: cache.log })
 * createServer((req, res) => {
 *   const url = new URL(req.url ?? '/', 'http://localhost')
 *   const tenant = String(req.headers['x-tenant'] ?? '')
 *   if (hub.route(req, res, { tenant, url })) return
 *   res.writeHead(404).end()
 * }).listen(3000)
 * // Browser: GET /_larder/stream?topics=product:42,stock:*  (see larder/realtime/client)
 * await cache.tenant('acme').invalidateTags(['product:42']) // → `invalidate` event
 * await hub.publishLive('acme', 'stock:42', { qty: 3 })       // → `update` event
 * ```
 * @module
 */
export { createSseHub, type SseHub, type SseHubOptions, type SseHubStats } from './hub.ts'
export { signStreamToken, type StreamGrant, verifyStreamToken } from './token.ts'
export { parseTopics, type TopicSet, topicMatches, validateTopic } from './topics.ts'
export { sseFrame, type SseEventType } from './sse-format.ts'
