/**
 * `larder purge --tenant acme --tag product:42 [--tag …] [--key k] [--soft]`: purges tags
 * and/or keys of one tenant on a running gateway (POST /_larder/purge).
 * @module
 */
import { CliError, cliArgs, runCli } from '../admin/client.ts'

const USAGE = `usage: larder purge --tenant <id> (--tag <tag> | --key <key> | --url-path <path>)... [--soft] [--url http://127.0.0.1:8080] [--token <token>]
  Hard purge by default (nothing old is served once it returns); --soft lets entries be served
  stale within their grace while one refresh runs. Tags and keys are literal (no patterns).`

export async function run(argv: string[]): Promise<number> {
  return runCli(async () => {
    const { values, client, json, help } = cliArgs(argv, {
      tenant: { type: 'string' },
      tag: { type: 'string', multiple: true },
      key: { type: 'string', multiple: true },
      'url-path': { type: 'string', multiple: true },
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
    const body = { tenant, ...(tags.length ? { tags } : {}), ...(keys.length ? { keys } : {}), ...(urls.length ? { urls } : {}), soft: values.soft === true }
    const r = await client.request<{ purged: number; id: number; queued?: boolean }>('POST', '/_larder/purge', body)
    if (json) console.log(JSON.stringify(r))
    else if (r.queued) console.log(`${values.soft ? 'soft-' : ''}purged ${r.purged} entr${r.purged === 1 ? 'y' : 'ies'} on this instance for tenant ${tenant}; QUEUED: the shared log is unreachable, other instances get it once it is replayed`)
    else console.log(`${values.soft ? 'soft-' : ''}purged ${r.purged} entr${r.purged === 1 ? 'y' : 'ies'} on this instance for tenant ${tenant} (log id ${r.id}; other instances follow the log)`)
    return 0
  })
}
