/**
 * The admin API (stats, purge, clear, keys, warm), the live dashboard page and the cache
 * warmer, mountable on the gateway or any node:http server.
 *
 * ```ts
 * import { createAdminApi, createWarmer } from 'larder/admin'
 * import { createAuthorizer, tokensFromEnv } from 'larder/admin'
 * const admin = createAdminApi({ cache, auth: createAuthorizer(tokensFromEnv()) })
 * // mount admin.route: /_larder/stats, /_larder/purge, /_larder/clear, /_larder/keys, /_larder/warm, /_larder/dashboard
 * ```
 * @module
 */
export { createAdminApi, type AdminApi, type AdminApiOptions, type HubLike } from './api.ts'
export { ALERT_RULES, AlertEvaluator, type AlertRule, type AlertState, type AlertInputs } from './alerts.ts'
export { Monitor, type MonitorSnapshot, type TenantRow, type WarmProgress } from './monitor.ts'
export { KeySampler, TopK, type SampledKey, type TopItem } from '../core/top-k.ts'
export {
  createAuthorizer,
  requireGrant,
  requireScope,
  requireToken,
  SOME_TENANT,
  tokensFromEnv,
  type Authorizer,
  type Principal,
  type TokenConfig,
} from '../core/auth.ts'
export { createPurger, type Purger, type PurgerOptions, type PurgeWork } from './purge.ts'
// Warming ships here too (also exported as larder/warm).
export * from '../warm/index.ts'
export { loadTokens, tokensFromFile } from './tokens.ts'
