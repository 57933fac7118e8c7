import { component$ } from '@builder.io/qwik'
import type { RequestHandler } from '@builder.io/qwik-city'

/** `/` goes to the channel in `STOREFRONT_CHANNEL` when set. */
export const onGet: RequestHandler = (ev) => {
  const channel = ev.env.get('STOREFRONT_CHANNEL')
  if (channel) throw ev.redirect(302, `/${encodeURIComponent(channel)}/`)
}

export default component$(() => (
  <main>
    <h1>Larder storefront</h1>
    <p>
      Open <code>/&lt;channel token&gt;/</code> (a Vendure channel's token), or set <code>STOREFRONT_CHANNEL</code>.
    </p>
  </main>
))
