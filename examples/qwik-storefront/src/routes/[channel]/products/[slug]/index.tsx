import { $, component$, useComputed$, useSignal, useTask$ } from '@builder.io/qwik'
import { Link, routeLoader$, useLocation } from '@builder.io/qwik-city'
import { useLarderRefetch, useLarderTopics } from '@larder/qwik'
import { loaderQuery } from '../../../../lib/gateway.ts'
import { formatPrice, PRODUCT_QUERY, type Product, productTopics, shopQuery } from '../../../../lib/shop.ts'

interface ProductData {
  product: Product | null
}

export const useProduct = routeLoader$(async (ev) => {
  const data = await loaderQuery<ProductData>(ev, PRODUCT_QUERY, { slug: ev.params.slug })
  if (!data.product) throw ev.error(404, 'no such product')
  return data.product
})

/** Product page: the price follows the product's and its variants' tags; variant choice and quantity stay as they are. */
export default component$(() => {
  const { channel, slug } = useLocation().params
  const loaded = useProduct()
  const product = useSignal(loaded.value)
  const variantId = useSignal(loaded.value.variants[0]?.id ?? '')
  const quantity = useSignal('1')
  const topics = useComputed$(() => productTopics(product.value))
  const live = useLarderTopics(topics, { headers: { 'vendure-token': channel } })

  useTask$(({ track }) => {
    product.value = track(() => loaded.value)
  })
  useLarderRefetch(
    live,
    product,
    $(async (signal: AbortSignal) => (await shopQuery<ProductData>('', channel, PRODUCT_QUERY, { slug }, signal)).product ?? undefined),
  )

  const p = product.value
  const variant = p.variants.find((v) => v.id === variantId.value) ?? p.variants[0]
  return (
    <main data-stream={live.state} data-version={live.version}>
      <Link href={`/${channel}/`}>All products</Link>
      <h1 id="name">{p.name}</h1>
      <p id="price">{variant ? formatPrice(variant.priceWithTax, variant.currencyCode) : ''}</p>
      <label>
        Variant{' '}
        <select id="variant" bind:value={variantId}>
          {p.variants.map((v) => (
            <option key={v.id} value={v.id}>
              {v.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Quantity <input id="quantity" type="number" min="1" bind:value={quantity} />
      </label>
      <p id="total">{variant ? formatPrice(variant.priceWithTax * Math.max(1, Number(quantity.value) || 1), variant.currencyCode) : ''}</p>
    </main>
  )
})
