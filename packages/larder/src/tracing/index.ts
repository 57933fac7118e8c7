/**
 * OpenTelemetry traces for Larder, built from its diagnostics channels.
 *
 * ```ts
 * import { enableTracing } from 'larder/tracing'
 * // after registering an OpenTelemetry SDK (e.g. NodeSDK)
 * enableTracing()
 * ```
 * @module
 */
export { enableTracing, SPAN_NAMES, type Tracing, type TracingOptions } from './otel.ts'
