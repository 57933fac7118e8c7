/** Bytes a value roughly takes (UTF-16 strings, JSON for objects); used for L1 accounting. */
export function estimateSize(v: unknown): number {
  switch (typeof v) {
    case 'string':
      return 2 * v.length + 16
    case 'number':
    case 'boolean':
    case 'undefined':
      return 8
    case 'bigint':
      return 16
    case 'object':
      if (v === null) return 8
      if (v instanceof Uint8Array) return v.byteLength + 64
      try {
        const s = JSON.stringify(v)
        return s === undefined ? 64 : 2 * s.length + 64
      } catch {
        return 1024
      }
    default:
      return 64
  }
}
