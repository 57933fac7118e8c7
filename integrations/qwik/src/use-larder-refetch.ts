import { type QRL, type Signal, useTask$ } from '@builder.io/qwik'
import type { LarderTopicsState } from './use-larder-topics.ts'

/**
 * Refetches into `target` after each event of `live` (from `useLarderTopics`): `fetch$` gets an
 * AbortSignal and returns the new value (`undefined` keeps the old one). The render does not
 * wait for the refetch (the old value stays on screen until the new one arrives), and a newer
 * event aborts an older refetch, whose answer is then dropped: an old answer never overwrites a
 * newer one. Failures go to `console.error` and keep the old value.
 *
 * ```tsx
 * const product = useSignal(loaded.value)
 * const live = useLarderTopics([`Product:${id}`], { headers: { 'vendure-token': channel } })
 * useLarderRefetch(live, product, $((signal) => loadProduct(id, signal)))
 * ```
 */
export function useLarderRefetch<T>(live: LarderTopicsState, target: Signal<T>, fetch$: QRL<(signal: AbortSignal) => Promise<T | undefined>>): void {
  useTask$(({ track, cleanup }) => {
    if (track(() => live.version) === 0) return
    const ctrl = new AbortController()
    cleanup(() => ctrl.abort())
    // Not awaited: Qwik holds a component's render until its tasks end.
    fetch$(ctrl.signal).then(
      (value) => {
        if (value !== undefined && !ctrl.signal.aborted) target.value = value
      },
      (err: unknown) => {
        if (!ctrl.signal.aborted) console.error(err)
      },
    )
  })
}
