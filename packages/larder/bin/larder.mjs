#!/usr/bin/env node
// The `larder` CLI: `larder <command> [flags]`. Each command lives in src/cli/<command>.ts
// (dist/cli/<command>.js when built) and exports `run(argv: string[]): Promise<number | void>`.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const commands = {
  gateway: 'start the caching gateway in front of an origin',
  pg: 'PostgreSQL change capture (larder pg install ...)',
  stats: 'print stats of a running gateway',
  purge: 'purge tags/keys on a running gateway',
  warm: 'run a warm plan on a running gateway',
  demo: 'the storefront demo (larder demo [start|load])',
}
const [cmd, ...argv] = process.argv.slice(2)
if (!cmd || cmd === '--help' || cmd === '-h' || !(cmd in commands)) {
  console.log('usage: larder <command> [flags]\n\ncommands:')
  for (const [name, what] of Object.entries(commands)) console.log(`  ${name.padEnd(9)} ${what}`)
  process.exit(cmd && cmd !== '--help' && cmd !== '-h' ? 2 : 0)
}
const dist = fileURLToPath(new URL(`../dist/cli/${cmd}.js`, import.meta.url))
let mod
if (existsSync(dist)) mod = await import(dist)
else {
  const { register } = await import('tsx/esm/api')
  register()
  mod = await import(new URL(`../src/cli/${cmd}.ts`, import.meta.url).href)
}
const code = await mod.run(argv)
if (typeof code === 'number') process.exitCode = code
