/**
 * Test support: conformance suites every Store / InvalidationLog must pass, a fake clock,
 * and throwaway Redis / Redis Cluster / PostgreSQL servers.
 * @module
 */
export * from './servers.ts'
export { FakeClock, flushMicrotasks } from './fake-clock.ts'
export { mulberry32 } from './random.ts'
export { storeConformance, type StoreConformanceOptions } from './store-conformance.ts'
export { logConformance, type LogConformanceOptions } from './log-conformance.ts'
