import { component$, Slot } from '@builder.io/qwik'
import type { RequestHandler } from '@builder.io/qwik-city'
import { validChannel } from '../../lib/shop.ts'

export const onRequest: RequestHandler = (ev) => {
  if (!validChannel(ev.params.channel)) throw ev.error(404, 'unknown channel')
  // The page is live through the stream; the HTML itself is not for shared caches.
  ev.cacheControl({ noStore: true })
}

export default component$(() => <Slot />)
