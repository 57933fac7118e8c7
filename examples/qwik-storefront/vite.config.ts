import { qwikVite } from '@builder.io/qwik/optimizer'
import { qwikCity } from '@builder.io/qwik-city/vite'
import { defaultClientConditions, defaultServerConditions, defineConfig } from 'vite'

// `larder-src`: take larder and @larder/qwik from their TypeScript sources in this repository
// (an app using the published packages needs no conditions).
export default defineConfig(() => ({
  plugins: [qwikCity(), qwikVite()],
  // One Qwik: the linked @larder/qwik must not bring its own copy.
  resolve: { conditions: [...defaultClientConditions, 'larder-src'], dedupe: ['@builder.io/qwik', '@builder.io/qwik-city'] },
  ssr: { resolve: { conditions: [...defaultServerConditions, 'larder-src'] } },
  preview: { headers: { 'cache-control': 'public, max-age=600' } },
}))
