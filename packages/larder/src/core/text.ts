/**
 * Text rules shared by every input check: the one definition of a control character
 * (C0 controls and DEL), refused in tenant ids, keys, tags, topics, event fields and rule
 * templates (a control character could alias a qualified key, whose separator is one).
 * @module
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
export const CONTROL_CHARS = /[\u0000-\u001f\u007f]/

/** True when `text` holds a control character. */
export function hasControlChars(text: string): boolean {
  return CONTROL_CHARS.test(text)
}
