import type { RequestEventBase, RequestEventLoader } from '@builder.io/qwik-city'
import { ShopApiError, shopQuery } from './shop.ts'

/** The Larder gateway in front of Vendure, as the server sees it (`LARDER_GATEWAY`). */
export function gatewayUrl(ev: RequestEventBase): string {
  return (ev.env.get('LARDER_GATEWAY') ?? 'http://127.0.0.1:8080').replace(/\/+$/, '')
}

/**
 * A Shop API query for a route loader, through the gateway, in the route's channel: an unknown
 * channel answers 404, an unreachable or failing Shop API 502 (never a 500 with a stack).
 */
export async function loaderQuery<T>(ev: RequestEventLoader, query: string, variables: Record<string, unknown>): Promise<T> {
  try {
    return await shopQuery<T>(gatewayUrl(ev), ev.params.channel as string, query, variables)
  } catch (err) {
    if (err instanceof ShopApiError && err.notFound) throw ev.error(404, 'unknown channel')
    console.error(err)
    throw ev.error(502, 'the shop is unavailable')
  }
}
