import { qwikVite } from '@builder.io/qwik/optimizer'
import { qwikCity } from '@builder.io/qwik-city/vite'
import { defaultClientConditions, defaultServerConditions, defineConfig } from 'vite'

// `larder-src`: take larder and @larder/qwik from their TypeScript sources in this repository
// (an app using the published packages needs no conditions).
export default defineConfig(() => ({
  plugins: [qwikCity(), qwikVite()],
  resolve: { conditions: [...defaultClientConditions, 'larder-src'] },
  ssr: { resolve: { conditions: [...defaultServerConditions, 'larder-src'] } },
  preview: { headers: { 'cache-control': 'public, max-age=600' } },
}))
