/**
 * `larder purge --tenant acme --tag product:42 [--tag …] [--key k] [--url-path /p/42 --host shop.example] [--soft]`:
 * purges tags, keys and/or pages of one tenant on a running gateway (POST /_larder/purge,
 * the same handler, validation and audit line as the API and the PURGE method).
 *
 * A page is cached under the host users reach the shop by; `--url` is only how this CLI
 * reaches the gateway. So `--url-path` purges under `--host` (LARDER_SHOP_HOST), else the
 * host the gateway maps to the tenant; if the gateway could only resolve the path against
 * the address the CLI used, the command fails (exit 1) and says to pass `--host`.
 * @module
 */
import { CliError, cliArgs, runCli } from '../admin/client.ts'

const USAGE = `usage: larder purge --tenant <id> (--tag <tag> | --key <key> | --url-path <path>)... [--host <shop host>] [--soft]
                    [--url http://127.0.0.1:8080] [--token <token>]
  Hard purge by default (nothing old is served once it returns); --soft lets entries be served
  stale within their grace while one refresh runs. Tags and keys are literal (no patterns).
  --url-path purges a page as users of --host (the shop's host, e.g. shop.example) see it;
  without --host the gateway's host map must name one host for the tenant.`

export async function run(argv: string[]): Promise<number> {
  return runCli(async () => {
    const { values, client, json, help } = cliArgs(argv, {
      tenant: { type: 'string' },
      tag: { type: 'string', multiple: true },
      key: { type: 'string', multiple: true },
      'url-path': { type: 'string', multiple: true },
      host: { type: 'string' },
      soft: { type: 'boolean' },
    })
    if (help) {
      console.log(USAGE)
      return 0
    }
    const tenant = values.tenant as string | undefined
    const tags = (values.tag as string[] | undefined) ?? []
    const keys = (values.key as string[] | undefined) ?? []
    const urls = (values['url-path'] as string[] | undefined) ?? []
    if (!tenant) throw new CliError(`--tenant is required\n${USAGE}`, 2)
    if (tags.length + keys.length + urls.length === 0) throw new CliError(`name at least one --tag, --key or --url-path\n${USAGE}`, 2)
    const host = (values.host as string | undefined) ?? process.env.LARDER_SHOP_HOST
    if (values.host !== undefined && urls.length === 0) throw new CliError(`--host only applies to --url-path\n${USAGE}`, 2)
    for (const u of urls) if (!u.startsWith('/')) throw new CliError(`--url-path takes a path starting with "/", got "${u}" (the host goes in --host)`, 2)
    const body = { tenant, ...(tags.length ? { tags } : {}), ...(keys.length ? { keys } : {}), ...(urls.length ? { urls } : {}), ...(host && urls.length ? { host } : {}), soft: values.soft === true }
    const r = await client.request<{ purged: number; id: number; host?: string; hostFrom?: string; queued?: boolean }>('POST', '/_larder/purge', body)
    if (r.hostFrom === 'request') {
      // The path was resolved against the address this CLI used, not the shop's host.
      throw new CliError(
        `--url-path was resolved against ${r.host}, the address this command reached the gateway at, not the shop's host: pages users see were not purged. Pass --host <the shop's host> (or map that host to tenant ${tenant} in the gateway's hosts)`,
      )
    }
    if (json) console.log(JSON.stringify(r))
    else if (r.queued) console.log(`${values.soft ? 'soft-' : ''}purged ${r.purged} entr${r.purged === 1 ? 'y' : 'ies'} on this instance for tenant ${tenant}; QUEUED: the shared log is unreachable, other instances get it once it is replayed`)
    else console.log(`${values.soft ? 'soft-' : ''}purged ${r.purged} entr${r.purged === 1 ? 'y' : 'ies'} on this instance for tenant ${tenant}${r.host ? ` (pages on ${r.host})` : ''} (log id ${r.id}; other instances follow the log)`)
    return 0
  })
}
