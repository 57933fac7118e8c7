import { qwikVite } from '@builder.io/qwik/optimizer'
import { defineConfig } from 'vite'

// Qwik library build: `lib/index.qwik.mjs`, which an app's Qwik optimizer splits further.
export default defineConfig({
  build: {
    target: 'es2022',
    outDir: 'lib',
    lib: { entry: './src/index.ts', formats: ['es'], fileName: () => 'index.qwik.mjs' },
    rollupOptions: { external: [/^@builder\.io\/qwik/, /^larder(\/|$)/] },
  },
  plugins: [qwikVite()],
})
