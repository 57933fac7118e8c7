/**
 * HTTP-date parsing (RFC 9110 §5.6.7). Recipients must accept the three historical
 * formats (we also accept them in any letter case, as most caches do); anything else is invalid and callers treat it as the RFC says for the field
 * (e.g. an invalid Expires means "already expired", RFC 9111 §5.3).
 * @module
 */

const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 }
const DAY3 = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)'
const DAYLONG = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)'
// IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
const IMF = new RegExp(`^${DAY3}, (\\d{2}) ([A-Za-z]{3}) (\\d{4}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`, 'i')
// rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT
const RFC850 = new RegExp(`^${DAYLONG}, (\\d{2})-([A-Za-z]{3})-(\\d{2}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`, 'i')
// asctime-date: Sun Nov  6 08:49:37 1994
const ASCTIME = new RegExp(`^${DAY3} ([A-Za-z]{3}) ([ \\d]\\d) (\\d{2}):(\\d{2}):(\\d{2}) (\\d{4})$`, 'i')

function build(y: number, mon: string, d: number, h: number, mi: number, s: number): number | undefined {
  const m = MONTHS[mon.toLowerCase()]
  if (m === undefined || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined
  return Date.UTC(y, m, d, h, mi, s)
}

/** Parses an HTTP-date into epoch ms, or undefined when it is not one. */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const v = value.trim()
  let m = IMF.exec(v)
  if (m) return build(Number(m[3]), m[2] as string, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]))
  m = RFC850.exec(v)
  if (m) {
    // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past century.
    let y = 2000 + Number(m[3])
    if (y > new Date().getUTCFullYear() + 50) y -= 100
    return build(y, m[2] as string, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]))
  }
  m = ASCTIME.exec(v)
  if (m) return build(Number(m[6]), m[1] as string, Number((m[2] as string).trim()), Number(m[3]), Number(m[4]), Number(m[5]))
  return undefined
}

/** Formats epoch ms as an IMF-fixdate. */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString()
}
