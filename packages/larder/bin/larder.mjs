#!/usr/bin/env node
// The `larder` CLI: `larder <command> [flags]`. Each command lives in src/cli/<command>.ts
// (dist/cli/<command>.js when built) and exports `run(argv: string[]): Promise<number | void>`.
// Every command answers --help and -h with its own usage.
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const commands = {
  gateway: 'start the caching gateway in front of an origin',
  pg: 'PostgreSQL change capture (larder pg install|uninstall|sql)',
  stats: 'print stats of a running gateway',
  purge: 'purge tags/keys on a running gateway',
  warm: 'run a warm plan on a running gateway',
  demo: 'the storefront demo (larder demo start|load)',
}
const usage = () =>
  [
    'usage: larder <command> [flags]',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, what]) => `  ${name.padEnd(9)} ${what}`),
    '',
    'larder <command> --help shows a command\'s flags; larder --version prints the version.',
  ].join('\n')

/** Edit distance (insertions, deletions, substitutions, adjacent swaps) between two short words. */
function distance(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

let [cmd, ...argv] = process.argv.slice(2)
if (cmd === 'help' && argv[0] in commands) [cmd, argv] = [argv[0], ['--help']]
if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
  console.log(usage())
  process.exit(0)
}
if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  console.log(pkg.version)
  process.exit(0)
}
if (!Object.hasOwn(commands, cmd)) {
  const [closest, d] = Object.keys(commands)
    .map((name) => [name, distance(cmd.toLowerCase(), name)])
    .sort((x, y) => x[1] - y[1])[0]
  const hint = d <= Math.max(1, Math.floor(closest.length / 3)) ? ` (did you mean "${closest}"?)` : ''
  console.error(`larder: unknown ${cmd.startsWith('-') ? 'option' : 'command'} "${cmd}"${hint}\ncommands: ${Object.keys(commands).join(', ')}; larder --help for more`)
  process.exit(2)
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
