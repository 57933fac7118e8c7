/**
 * `larder warm --plan hot`: runs a warm plan on a running gateway (POST /_larder/warm) and
 * draws its progress (GET /_larder/warm) until it is done.
 * @module
 */
import { bar, CliError, cliArgs, runCli } from '../admin/client.ts'
import type { WarmReport } from '../warm/types.ts'

const USAGE = `usage: larder warm --plan <name> [--no-wait] [--url http://127.0.0.1:8080] [--token <admin token>]
  Runs a warm plan on the gateway and shows its progress; --no-wait only starts it.
  Without --plan, lists the plans and their last runs.`

/** What GET /_larder/warm answers per plan (the warmer's own report, as JSON). */
type Report = Pick<WarmReport, 'plan' | 'state' | 'total' | 'done' | 'loaded' | 'skipped' | 'failed' | 'startedAt'>

export async function run(argv: string[], opts: { pollMs?: number } = {}): Promise<number> {
  return runCli(async () => {
    const { values, client, json, help } = cliArgs(argv, { plan: { type: 'string' }, 'no-wait': { type: 'boolean' } })
    if (help) {
      console.log(USAGE)
      return 0
    }
    const plan = values.plan as string | undefined
    const progress = () => client.request<{ plans: string[]; progress: Report[] }>('GET', '/_larder/warm')
    if (!plan) {
      const p = await progress()
      if (json) console.log(JSON.stringify(p, null, 2))
      else {
        console.log(`plans: ${p.plans.join(', ') || 'none'}`)
        for (const r of p.progress) console.log(`  ${r.plan}: ${r.state} ${bar(r.done, r.total)} loaded ${r.loaded}, cached ${r.skipped}, failed ${r.failed}`)
      }
      return 0
    }
    const before = (await progress()).progress.find((r) => r.plan === plan)?.startedAt
    await client.request('POST', '/_larder/warm', { plan })
    if (values['no-wait']) {
      console.log(`started warm plan ${plan}`)
      return 0
    }
    const tty = process.stderr.isTTY === true
    let last = ''
    const deadline = Date.now() + 6 * 3_600_000
    for (;;) {
      const r = (await progress()).progress.find((x) => x.plan === plan)
      const fresh = r !== undefined && r.startedAt !== before
      if (fresh) {
        const line = `${plan} ${bar(r.done, r.total)}  loaded ${r.loaded}  cached ${r.skipped}  failed ${r.failed}`
        if (line !== last) {
          process.stderr.write(tty ? `\r${line}` : `${line}\n`)
          last = line
        }
        if (r.state === 'done') {
          if (tty) process.stderr.write('\n')
          if (json) console.log(JSON.stringify(r))
          else console.log(`warm plan ${plan} done: ${r.done}/${r.total}, loaded ${r.loaded}, already cached ${r.skipped}, failed ${r.failed}`)
          return r.failed > 0 ? 1 : 0
        }
      }
      if (Date.now() > deadline) throw new CliError(`gave up waiting for plan ${plan}`)
      await new Promise((res) => setTimeout(res, opts.pollMs ?? 250))
    }
  })
}
