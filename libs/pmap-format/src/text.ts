/**
 * Small text helpers shared by the renderers: padding without per-call allocation of the pad and
 * cached decimal strings for the small numbers that fill most smaps cells.
 */

const SPACES = ' '.repeat(512);
const ZEROS = '0'.repeat(64);
const EQUALS = '='.repeat(256);

/** Right-justifies `s` in `width` columns (printf "%*s"); never truncates. */
export function padLeft(s: string, width: number): string {
  const n = width - s.length;
  if (n <= 0) return s;
  return (n <= 512 ? SPACES.slice(0, n) : ' '.repeat(n)) + s;
}

/** Left-justifies `s` in `width` columns (printf "%-*s"); never truncates. */
export function padRight(s: string, width: number): string {
  const n = width - s.length;
  if (n <= 0) return s;
  return s + (n <= 512 ? SPACES.slice(0, n) : ' '.repeat(n));
}

/** Zero-pads `s` on the left to `width` (printf "%0*x" on a digit string). */
export function zeroPad(s: string, width: number): string {
  const n = width - s.length;
  if (n <= 0) return s;
  return (n <= 64 ? ZEROS.slice(0, n) : '0'.repeat(n)) + s;
}

export function spaces(n: number): string {
  if (n <= 0) return '';
  return n <= 512 ? SPACES.slice(0, n) : ' '.repeat(n);
}

export function equalsRun(n: number): string {
  if (n <= 0) return '';
  return n <= 256 ? EQUALS.slice(0, n) : '='.repeat(n);
}

const DEC_CACHE_SIZE = 65536;
const DEC_CACHE: string[] = new Array<string>(DEC_CACHE_SIZE);
for (let i = 0; i < DEC_CACHE_SIZE; i++) DEC_CACHE[i] = String(i);
const DEC_LIMIT = BigInt(DEC_CACHE_SIZE);

/** Decimal text of a non-negative bigint (cached below 65536). */
export function dec(v: bigint): string {
  return v >= 0n && v < DEC_LIMIT ? DEC_CACHE[Number(v)] : v.toString();
}

/** printf's "%lu" of a 64-bit value: negative inputs wrap as unsigned. */
export function decU64(v: bigint): string {
  return v < 0n ? BigInt.asUintN(64, v).toString() : dec(v);
}
