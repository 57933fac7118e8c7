import { $, component$, useSignal, useTask$ } from '@builder.io/qwik'
import { Link, routeLoader$, useLocation } from '@builder.io/qwik-city'
import { useLarderRefetch, useLarderTopics } from '@larder/qwik'
import { loaderQuery } from '../../lib/gateway.ts'
import { formatPrice, PRODUCTS_QUERY, type Product, shopQuery } from '../../lib/shop.ts'

interface ProductsData {
  products: { items: Product[] }
}

export const useProducts = routeLoader$(async (ev) => {
  const data = await loaderQuery<ProductsData>(ev, PRODUCTS_QUERY, { take: 50 })
  return data.products.items
})

/** Product list: any product or variant change in the channel refreshes it; the search box keeps its text. */
export default component$(() => {
  const channel = useLocation().params.channel
  const loaded = useProducts()
  const products = useSignal(loaded.value)
  const search = useSignal('')
  const live = useLarderTopics(['Product:*', 'ProductVariant:*'], { headers: { 'vendure-token': channel } })

  useTask$(({ track }) => {
    products.value = track(() => loaded.value)
  })
  useLarderRefetch(
    live,
    products,
    $(async (signal: AbortSignal) => (await shopQuery<ProductsData>('', channel, PRODUCTS_QUERY, { take: 50 }, signal)).products.items),
  )

  const q = search.value.trim().toLowerCase()
  const shown = q ? products.value.filter((p) => p.name.toLowerCase().includes(q)) : products.value
  return (
    <main data-stream={live.state} data-version={live.version}>
      <h1>Products</h1>
      <input id="search" type="search" placeholder="Search" bind:value={search} />
      <ul id="products">
        {shown.map((p) => (
          <li key={p.id} data-product={p.id}>
            <Link href={`/${channel}/products/${p.slug}/`}>{p.name}</Link>{' '}
            <span class="price">{p.variants[0] ? formatPrice(p.variants[0].priceWithTax, p.variants[0].currencyCode) : ''}</span>
          </li>
        ))}
      </ul>
    </main>
  )
})
