/**
 * The one scanner of a maps header line (`start-end perms offset major:minor inode [pad name]`),
 * shared by the VMA parsers (parse.ts builds a Vma from what it finds) and the text fast path
 * (MapsLineScanner hands the line's byte offsets on, with no Vma, no bigint and no string: the
 * agent renders pmap's plain and -d rows straight from the bytes).
 */
import type { MapsLine } from '@app/domain';

const NL = 10;
const SPACE = 32;
const COLON = 58;
const DASH = 45;

/** The column at which the kernel pads a maps header before the name (25 + 8*6 - 1). */
const NAME_PAD = 72;

/** 0..15 for a hex digit char code, -1 otherwise. */
export function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** End of the run of hex digits in b starting at i. */
export function scanHexAt(b: Uint8Array, i: number, end: number): number {
  while (i < end && hexVal(b[i]) >= 0) i++;
  return i;
}

/** End of the run of decimal digits in b starting at i. */
export function scanDecAt(b: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = b[i];
    if (c < 48 || c > 57) break;
    i++;
  }
  return i;
}

function isPermChar(c: number): boolean {
  // r w x s p -
  return c === 114 || c === 119 || c === 120 || c === 115 || c === 112 || c === DASH;
}

/** Line end (index of '\n' or the length) in b from i. */
export function lineEndAt(b: Buffer, i: number): number {
  const e = b.indexOf(NL, i);
  return e < 0 ? b.length : e;
}

/** Hex digits b[from, to) as a JS number (exact for page-aligned addresses, any 64-bit one). */
function hexNum(b: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let k = from; k < to; k++) n = n * 16 + hexVal(b[k]);
  return n;
}

/** A fresh MapsLine to scan into (reused line after line). */
export function newMapsLine(): MapsLine {
  return {
    start: 0,
    end: 0,
    startAt: 0,
    startTo: 0,
    endAt: 0,
    endTo: 0,
    permsAt: 0,
    offsetAt: 0,
    offsetTo: 0,
    majorAt: 0,
    majorTo: 0,
    minorAt: 0,
    minorTo: 0,
    devMajor: 0,
    devMinor: 0,
    inodeAt: 0,
    inodeTo: 0,
    nameAt: 0,
    nameTo: 0,
  };
}

/**
 * Scans the maps header line b[ls, le) strictly into `f` (offsets of each field, start/end and
 * the device as numbers); false when it is not one. The name: the kernel writes "inode " and,
 * when there is a name, pads with spaces to column 72 and writes one more space; exactly that
 * padding is skipped so names that begin with spaces survive (fewer spaces are accepted:
 * hand-written input). An empty name has nameAt === nameTo.
 */
export function scanMapsLine(b: Buffer, ls: number, le: number, f: MapsLine): boolean {
  let i = ls;
  let j = scanHexAt(b, i, le);
  if (j === i || j - i > 16 || j >= le || b[j] !== DASH) return false;
  f.startAt = i;
  f.startTo = j;
  i = j + 1;
  j = scanHexAt(b, i, le);
  if (j === i || j - i > 16 || j >= le || b[j] !== SPACE) return false;
  f.endAt = i;
  f.endTo = j;
  i = j + 1;
  if (i + 5 > le) return false;
  for (let k = 0; k < 4; k++) if (!isPermChar(b[i + k])) return false;
  if (b[i + 4] !== SPACE) return false;
  f.permsAt = i;
  i += 5;
  j = scanHexAt(b, i, le);
  if (j === i || j - i > 16 || j >= le || b[j] !== SPACE) return false;
  f.offsetAt = i;
  f.offsetTo = j;
  i = j + 1;
  j = scanHexAt(b, i, le);
  if (j === i || j - i > 8 || j >= le || b[j] !== COLON) return false;
  f.majorAt = i;
  f.majorTo = j;
  i = j + 1;
  j = scanHexAt(b, i, le);
  if (j === i || j - i > 8 || j >= le || b[j] !== SPACE) return false;
  f.minorAt = i;
  f.minorTo = j;
  i = j + 1;
  j = scanDecAt(b, i, le);
  if (j === i || j - i > 20) return false;
  if (j < le && b[j] !== SPACE) return false;
  f.inodeAt = i;
  f.inodeTo = j;
  f.start = hexNum(b, f.startAt, f.startTo);
  f.end = hexNum(b, f.endAt, f.endTo);
  if (f.end < f.start) return false;
  f.devMajor = hexNum(b, f.majorAt, f.majorTo);
  f.devMinor = hexNum(b, f.minorAt, f.minorTo);
  let n = le;
  if (j < le) {
    const prefixLen = j + 1 - ls;
    const nameAt = ls + (prefixLen > NAME_PAD ? prefixLen : NAME_PAD) + 1;
    n = j + 1;
    while (n < le && n < nameAt && b[n] === SPACE) n++;
  }
  f.nameAt = n;
  f.nameTo = le;
  return true;
}

/**
 * /proc/PID/maps fed in pieces that end at line ends (what a chunked read delivers): each header
 * line that scans, in strictly increasing non-overlapping order (as the VMA parsers keep them),
 * goes to `onLine` with the piece's bytes. Nothing is kept between lines but the last end.
 */
export class MapsLineScanner {
  private readonly f = newMapsLine();
  private lastEnd = -1;
  /** Lines handed on. */
  lines = 0;

  constructor(private readonly onLine: (b: Buffer, f: MapsLine) => void) {}

  feed(piece: Buffer): void {
    const { f, onLine } = this;
    const len = piece.length;
    let i = 0;
    while (i < len) {
      const le = lineEndAt(piece, i);
      if (le > i && scanMapsLine(piece, i, le, f) && f.start >= this.lastEnd) {
        this.lastEnd = f.end;
        this.lines++;
        onLine(piece, f);
      }
      i = le + 1;
    }
  }
}
