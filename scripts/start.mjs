#!/usr/bin/env node
// `npm start [-- flags]`: the storefront demo (`larder demo start`): embedded PostgreSQL,
// origin shop API, caching gateway with the SSE hub, admin dashboard and metrics.
// The core example that used to live here: `npm run example`.
import { spawn } from 'node:child_process'
const root = new URL('..', import.meta.url).pathname
const child = spawn(process.execPath, ['packages/larder/bin/larder.mjs', 'demo', 'start', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' })
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)))
