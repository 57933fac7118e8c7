import type { RequestEventBase } from '@builder.io/qwik-city'

/** The Larder gateway in front of Vendure, as the server sees it (`LARDER_GATEWAY`). */
export function gatewayUrl(ev: RequestEventBase): string {
  return (ev.env.get('LARDER_GATEWAY') ?? 'http://127.0.0.1:8080').replace(/\/+$/, '')
}
