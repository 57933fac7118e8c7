#!/usr/bin/env node
// The main job. For now: the core example.
import { spawn } from 'node:child_process'
const root = new URL('..', import.meta.url).pathname
const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=larder-src', 'examples/basic.ts', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' })
child.on('exit', (code) => process.exit(code ?? 1))
