/**
 * Server-side scripts. Each runs atomically on the node that owns its keys; every key a
 * script touches shares the tenant's hash tag (see keyspace.ts), so none can CROSSSLOT.
 * Epoch values are invalidation-log ids (Redis-server-time based, see log.ts), compared
 * with the `began` id stored in each entry — instance clocks never decide freshness.
 * Numbers are formatted with %.0f: Lua's default number formatting would print 1.7e+15.
 * Key names come from keyspace.ts (`ROOT`, `SEG`), interpolated into the script text.
 * @module
 */
import { ROOT, SEG } from './keyspace.ts'

/** A Lua string literal of `s` (the segments are plain ASCII; no escaping needed, checked). */
function lua(s: string): string {
  if (!/^[A-Za-z0-9:_-]*$/.test(s)) throw new Error(`key segment ${JSON.stringify(s)} cannot be put in a Lua script as is`)
  return `'${s}'`
}
/** A Lua pattern matching `s` literally (escapes the magic characters). */
function luaPattern(s: string): string {
  return s.replace(/[%^$().[\]*+?-]/g, (c) => `%${c}`)
}
const TENANT_PREFIX = `^(${luaPattern(ROOT)}{[^}]*}:)`

// Shared prelude: parse an entry key into its tenant prefix and key, and an entry's
// header into began + tag list.
const PRELUDE = `
local function split_key(k) return string.match(k, '${TENANT_PREFIX}${luaPattern(SEG.entry)}(.*)$') end
local function header(raw) local b, tg = string.match(raw, '^%[1,([^,]*),[^,]*,[^,]*,[^,]*,[^,]*,"([^"]*)",') return tonumber(b), tg end
local function newer(k, b) local e = redis.call('GET', k) return e and tonumber(e) > b end
`

/**
 * READ (KEYS = entry keys of one slot; no ARGV): per key, the stored string, nil when
 * missing or hard-invalidated after its load began (tenant generation or a tag epoch),
 * or the string with its format version 1 replaced by 2 when a soft invalidation is newer
 * (the entry is stale but may be served within grace). One round trip per call, however
 * many epochs are checked.
 */
export const READ = `#!lua flags=no-writes
${PRELUDE}
local out = {}
for i, k in ipairs(KEYS) do
  local res = false
  local raw = redis.call('GET', k)
  if raw then
    local p, key = split_key(k)
    local b, tg = header(raw)
    if p and b then
      -- All epochs in one MGET: each redis.call costs more than the lookup itself.
      -- Layout: g, sg, sd:key, then t:tag, s:tag per tag (odd positions from 4 are hard).
      local names = { p .. ${lua(SEG.gen)}, p .. ${lua(SEG.softGen)}, p .. ${lua(SEG.softKey)} .. key }
      for t in string.gmatch(tg, '[^,]+') do
        names[#names + 1] = p .. ${lua(SEG.tagEpoch)} .. t
        names[#names + 1] = p .. ${lua(SEG.softTag)} .. t
      end
      local e = redis.call('MGET', unpack(names))
      local ok = not (e[1] and tonumber(e[1]) > b)
      local stale = false
      for j = 2, #names do
        local v = e[j]
        if v and tonumber(v) > b then
          if j >= 4 and j % 2 == 0 then ok = false break end
          stale = true
        end
      end
      if ok then res = stale and ('[2' .. string.sub(raw, 3)) or raw end
    end
  end
  out[i] = res
end
return out
`

/**
 * WRITE (KEYS = entry keys of one slot; ARGV = payload1, px1, payload2, px2, ...):
 * the versioned write. Refuses (0) an entry whose load began before the tenant's
 * generation, the key's delete epoch or one of its tags' hard epochs; else SET PX (1).
 */
export const WRITE = `
${PRELUDE}
local out = {}
for i, k in ipairs(KEYS) do
  local payload, px = ARGV[2 * i - 1], ARGV[2 * i]
  local p, key = split_key(k)
  local b, tg = header(payload)
  local ok = p ~= nil and b ~= nil and not newer(p .. ${lua(SEG.gen)}, b) and not newer(p .. ${lua(SEG.keyEpoch)} .. key, b)
  if ok then
    for t in string.gmatch(tg, '[^,]+') do
      if newer(p .. ${lua(SEG.tagEpoch)} .. t, b) then ok = false break end
    end
  end
  if ok then redis.call('SET', k, payload, 'PX', px) out[i] = 1 else out[i] = 0 end
end
return out
`

/**
 * INVALIDATE (KEYS[1] = the tenant's generation key, for routing; ARGV = kind, id,
 * epochTtlMs, keyFenceTtlMs, ntags, b64 tags..., keys...): records epochs (never lowers
 * one: replays and late duplicates are harmless) and deletes hard-invalidated keys.
 */
export const INVALIDATE = `
local p = string.match(KEYS[1], '${TENANT_PREFIX}${luaPattern(SEG.gen)}$')
local kind, id, ttl, kttl, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local nid = tonumber(id)
local function setmax(k, ms)
  local cur = redis.call('GET', k)
  if cur and tonumber(cur) >= nid then return end
  if ms then redis.call('SET', k, id, 'PX', ms) else redis.call('SET', k, id) end
end
if kind == 'clear' then setmax(p .. ${lua(SEG.gen)}, nil) return 1 end
local soft = kind == 'soft'
if soft and n == 0 and #ARGV == 5 then setmax(p .. ${lua(SEG.softGen)}, ttl) return 1 end
for i = 6, 5 + n do setmax(p .. (soft and ${lua(SEG.softTag)} or ${lua(SEG.tagEpoch)}) .. ARGV[i], ttl) end
for i = 6 + n, #ARGV do
  if soft then setmax(p .. ${lua(SEG.softKey)} .. ARGV[i], ttl) else
    redis.call('UNLINK', p .. ${lua(SEG.entry)} .. ARGV[i])
    setmax(p .. ${lua(SEG.keyEpoch)} .. ARGV[i], kttl)
  end
end
return 1
`

/**
 * RELEASE (KEYS[1] = lease key, ARGV[1] = token, ARGV[2] = channel): compare-and-delete,
 * then tell the waiters (pub/sub; in a Cluster PUBLISH reaches every node).
 */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], KEYS[1])
  return 1
end
return 0
`

/**
 * APPEND (KEYS = stream, seq, since, dedup; ARGV = maxlen, dedupTtlMs, token, min1,
 * json1, min2, json2, ...): appends entries with ids max(last + 1, server TIME in µs, min) as
 * explicit stream ids `<id>-0`, trims with MAXLEN ~, remembers the first id of this
 * server's run in `since` (restart detection) and the answer under a dedup token so a
 * retried append (after a client-side timeout) returns the same ids instead of
 * appending twice. The token is stored with each entry so the appending instance can
 * recognise its own entries when its reader sees them (it delivered them already).
 * Returns "id,id,...|atMs|since".
 */
export const APPEND = `
local done = redis.call('GET', KEYS[4])
if done then return done end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = string.format('%.0f', math.floor(now / 1000))
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local ids = {}
for i = 4, #ARGV, 2 do
  local id = math.max(last + 1, now, tonumber(ARGV[i]))
  local sid = string.format('%.0f', id)
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], sid .. '-0', 'a', at, 'u', ARGV[3], 'e', ARGV[i + 1])
  last = id
  ids[#ids + 1] = sid
end
redis.call('SET', KEYS[2], string.format('%.0f', last))
redis.call('SET', KEYS[3], ids[1], 'NX')
local r = table.concat(ids, ',') .. '|' .. at .. '|' .. redis.call('GET', KEYS[3])
redis.call('SET', KEYS[4], r, 'PX', ARGV[2])
return r
`

/**
 * RATE (KEYS[1] = sorted set; ARGV = windowMs, limit, member): sliding-window limiter
 * on server time. Drops members older than the window, admits when under the limit.
 * Returns {allowed (0/1), count, retryAfterMs}.
 */
export const RATE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local n = redis.call('ZCARD', KEYS[1])
if n < limit then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, n + 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = window
if oldest[2] then retry = tonumber(oldest[2]) + window - now end
return {0, n, retry}
`
