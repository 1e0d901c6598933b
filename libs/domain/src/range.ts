import { MAX_U64, parseHexAddress } from './address';
import { PmapError } from './errors';
import type { AddressRange, Vma } from './types';

/**
 * Parses a pmap `-A` argument: `low[,high]`, each side hex with an optional 0x. No comma means
 * low = high (a single address); an empty side is open. Throws PmapError(INVALID_ARGUMENT) naming
 * what was wrong.
 *
 * With `illumos`, a lone "," is rejected as illumos pmap rejects it.
 */
export function parseAddressRange(
  text: string,
  opts: { clip?: boolean; illumos?: boolean; field?: string } = {},
): AddressRange {
  const field = opts.field ?? 'range';
  const comma = text.indexOf(',');
  const lowText = comma < 0 ? text : text.slice(0, comma);
  const highText = comma < 0 ? text : text.slice(comma + 1);
  if (highText.includes(',')) {
    throw new PmapError(
      'INVALID_ARGUMENT',
      `${field}: expected LOW[,HIGH] with at most one comma, got '${text}'`,
      field,
    );
  }
  if (opts.illumos && comma >= 0 && lowText === '' && highText === '') {
    throw new PmapError('INVALID_ARGUMENT', `${field}: ',' alone is not a range`, field);
  }
  const side = (s: string, which: string): bigint | undefined => {
    if (s === '') return undefined;
    const v = parseHexAddress(s);
    if (v === undefined) {
      throw new PmapError(
        'INVALID_ARGUMENT',
        `${field}: ${which} address '${s}' is not a hexadecimal address (0x optional, at most 64 bits)`,
        field,
      );
    }
    return v;
  };
  const low = side(lowText, 'low');
  const high = side(highText, 'high');
  if (low !== undefined && high !== undefined && low > high) {
    throw new PmapError(
      'INVALID_ARGUMENT',
      `${field}: low address 0x${low.toString(16)} is above high address 0x${high.toString(16)}`,
      field,
    );
  }
  const range: AddressRange = {};
  if (low !== undefined) range.low = low;
  if (high !== undefined) range.high = high;
  if (opts.clip) range.clip = true;
  return range;
}

/** True when the range selects everything. */
export function isOpenRange(range: AddressRange | undefined): boolean {
  return !range || (range.low === undefined && range.high === undefined);
}

/** pmap -A: a VMA is selected when it overlaps the inclusive range [low, high]. */
export function vmaOverlaps(vma: { start: bigint; end: bigint }, range: AddressRange): boolean {
  const low = range.low ?? 0n;
  const high = range.high ?? MAX_U64;
  return vma.start <= high && vma.end - 1n >= low;
}

/**
 * Applies a range to VMAs sorted by address. Without `clip`: the whole VMAs overlapping it
 * (procps semantics). With `clip` (illumos): low rounded down to a page, high up to the end of its
 * page, each row clipped to that; a single address equal to a VMA start selects that whole VMA.
 * Clipped rows lose their smaps fields (they describe the whole VMA) and shift their file offset.
 */
export function filterVmasByRange<T extends Vma>(
  vmas: T[],
  range: AddressRange | undefined,
  pageSize = 4096n,
): T[] {
  if (!range || isOpenRange(range)) return vmas;
  if (!range.clip) return vmas.filter((v) => vmaOverlaps(v, range));
  const mask = pageSize - 1n;
  const single = range.low !== undefined && range.low === range.high;
  if (single) {
    const whole = vmas.find((v) => v.start === range.low);
    if (whole) return [whole];
  }
  const low = (range.low ?? 0n) & ~mask;
  const highEnd = range.high === undefined ? MAX_U64 : range.high | mask;
  const out: T[] = [];
  for (const v of vmas) {
    if (!(v.start <= highEnd && v.end - 1n >= low)) continue;
    const start = v.start < low ? low : v.start;
    const end = v.end - 1n > highEnd ? highEnd + 1n : v.end;
    if (start === v.start && end === v.end) {
      out.push(v);
      continue;
    }
    const clipped: T = { ...v, start, end, offset: v.offset + (start - v.start) };
    delete clipped.fields;
    delete clipped.vmFlags;
    out.push(clipped);
  }
  return out;
}
