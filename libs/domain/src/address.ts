/**
 * The one address codec: bigint inside, "0x…" lower-case hex at the edges. Never Number() an
 * address: user-space addresses exceed 2^53.
 */

export const MAX_U64 = (1n << 64n) - 1n;

/** Formats a 64-bit value as "0x…" lower-case hex without leading zeros. */
export function formatAddress(value: bigint): string {
  return '0x' + value.toString(16);
}

/**
 * Parses hex with an optional 0x/0X prefix into a bigint in [0, 2^64). Returns undefined when the
 * text is not a hex number of at most 16 digits (after leading zeros).
 */
export function parseHexAddress(text: string): bigint | undefined {
  let s = text;
  if (s.length > 1 && s[0] === '0' && (s[1] === 'x' || s[1] === 'X')) s = s.slice(2);
  if (s.length === 0) return undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const hex = (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
    if (!hex) return undefined;
  }
  const v = BigInt('0x' + s);
  return v > MAX_U64 ? undefined : v;
}
