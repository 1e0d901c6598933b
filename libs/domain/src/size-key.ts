/**
 * "4K", "64K", "2M", "1G": a byte size in its largest exact binary unit (up to T) — the key of a
 * page-size bin and its column label in the text tables.
 */
export function sizeKey(bytes: bigint): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let v = bytes;
  let u = 0;
  while (u < units.length - 1 && v >= 1024n && v % 1024n === 0n) {
    v /= 1024n;
    u++;
  }
  return `${v}${units[u]}`;
}
