/**
 * `@larder/qwik`: Larder's realtime client in Qwik components.
 * @module
 */
export {
  type ConnectionState,
  DEFAULT_STREAM_URL,
  type LarderTopicEvent,
  type LarderTopicsOptions,
  type LarderTopicsState,
  type RealtimeEvent,
  useLarderTopics,
} from './use-larder-topics.ts'
export { useLarderRefetch } from './use-larder-refetch.ts'
export { acquireClient, RELEASE_GRACE_MS, type SharedClientOptions, sharedClientCount } from './shared-client.ts'
