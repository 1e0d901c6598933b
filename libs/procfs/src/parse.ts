/**
 * Parsers for /proc text. Pure functions (no I/O). The maps/smaps parsers are hot paths: they
 * take the file's bytes (or text, encoded first) and make one pass over them, no per-line regex,
 * no String.split, only names decoded to strings, numbers parsed from the bytes (one bigint per
 * value).
 *
 * Tolerance: the kernel may emit a VMA twice (or an overlapping re-read) under concurrent change,
 * and callers may hand us truncated text. The maps/smaps parsers never throw: lines that do not
 * parse are dropped, a VMA that starts below the end of the previous accepted VMA is dropped
 * (the first reading wins), and a header without fields yields a VMA with `fields: []`.
 */
import { PmapError, type MemoryRollup, type SmapsField, type Vma } from '@app/domain';
import { classifyName } from './classify';
import { hexVal, lineEndAt, newMapsLine, scanMapsLine } from './maps-line';
import type { NumaMapsEntry, ProcStat, ProcStatus } from './types';

const NL = 10;
const SPACE = 32;
const TAB = 9;
const COLON = 58;
const DASH = 45;

/** bigint values of 0..65535, made on first use (most smaps numbers are small and repeat). */
const BIG_CACHE_SIZE = 65536;
const BIGINTS: (bigint | undefined)[] = new Array<bigint | undefined>(BIG_CACHE_SIZE);

/** A non-negative safe integer as bigint, cached for small values. */
function big(n: number): bigint {
  if (n >= BIG_CACHE_SIZE) return BigInt(n);
  let v = BIGINTS[n];
  if (v === undefined) {
    v = BigInt(n);
    BIGINTS[n] = v;
  }
  return v;
}

/** Hex digits text[from, to) (to - from >= 1) as bigint. */
function hexBig(text: string, from: number, to: number): bigint {
  if (to - from <= 13) {
    let n = 0;
    for (let i = from; i < to; i++) n = n * 16 + hexVal(text.charCodeAt(i));
    return big(n);
  }
  return BigInt('0x' + text.slice(from, to));
}

/** Decimal digits text[from, to) as bigint. */
function decBig(text: string, from: number, to: number): bigint {
  if (to - from <= 15) {
    let n = 0;
    for (let i = from; i < to; i++) n = n * 10 + (text.charCodeAt(i) - 48);
    return big(n);
  }
  return BigInt(text.slice(from, to));
}

/** End of the run of hex digits starting at i (i itself when none). */
function scanHex(text: string, i: number, end: number): number {
  while (i < end && hexVal(text.charCodeAt(i)) >= 0) i++;
  return i;
}

function scanDec(text: string, i: number, end: number): number {
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i++;
  }
  return i;
}

/** Input of the maps/smaps parsers: the file's bytes (what ProcReader passes) or its text. */
export type ProcText = string | Uint8Array;

/** The bytes of a maps/smaps input (text is encoded as UTF-8; a Buffer is used as is). */
function bytesOf(input: ProcText): Buffer {
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  if (Buffer.isBuffer(input)) return input;
  return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

/** Hex digits b[from, to) (to - from >= 1) as bigint: a JS number up to 13 digits. */
function hexBigAt(b: Buffer, from: number, to: number): bigint {
  if (to - from <= 13) {
    let n = 0;
    for (let i = from; i < to; i++) n = n * 16 + hexVal(b[i]);
    return big(n);
  }
  return BigInt('0x' + b.toString('latin1', from, to));
}

/** Decimal digits b[from, to) (1 to 20 of them) as bigint: a JS number up to 15 digits. */
function decBigAt(b: Buffer, from: number, to: number): bigint {
  if (to - from <= 15) {
    let n = 0;
    for (let i = from; i < to; i++) n = n * 10 + (b[i] - 48);
    return big(n);
  }
  return BigInt(b.toString('latin1', from, to));
}

/** The scan of the line being parsed (reused). */
const LINE = newMapsLine();

/** The permission strings seen so far, by their four bytes (at most 6^4 of them). */
const PERMS = new Map<number, string>();

/**
 * b[from, from + len) equals `s` (ASCII only: a byte >= 0x80 never matches). Lets a name printed
 * again reuse the string decoded before.
 */
function sameAscii(b: Buffer, from: number, len: number, s: string): boolean {
  if (s.length !== len) return false;
  for (let k = 0; k < len; k++) {
    const c = b[from + k];
    if (c !== s.charCodeAt(k) || c >= 128) return false;
  }
  return true;
}

/** State of one pass over maps/smaps: the previous VMA's name, reused when printed again. */
interface NameCache {
  name: string;
}

/**
 * Parses one maps header line b[ls, le) strictly:
 * `start-end perms offset major:minor inode [pad name]`. Returns undefined when it is not one.
 */
function parseHeaderLine(b: Buffer, ls: number, le: number, names: NameCache): Vma | undefined {
  const f = LINE;
  if (!scanMapsLine(b, ls, le, f)) return undefined;
  const start = hexBigAt(b, f.startAt, f.startTo);
  const end = hexBigAt(b, f.endAt, f.endTo);
  // start/end as doubles round above 2^53 when not page-aligned (hand-written input): exact here.
  if (end < start) return undefined;
  const i = f.permsAt;
  const permKey = (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
  let perms = PERMS.get(permKey);
  if (perms === undefined) {
    perms = b.toString('latin1', i, i + 4);
    PERMS.set(permKey, perms);
  }
  const offset = hexBigAt(b, f.offsetAt, f.offsetTo);
  const inode = decBigAt(b, f.inodeAt, f.inodeTo);
  // Consecutive VMAs often share a name: reuse it.
  let name = '';
  const n = f.nameAt;
  if (n < le) {
    if (sameAscii(b, n, le - n, names.name)) {
      name = names.name;
    } else {
      name = b.toString('utf8', n, le);
      names.name = name;
    }
  }
  const vma: Vma = {
    start,
    end,
    perms,
    offset,
    devMajor: f.devMajor,
    devMinor: f.devMinor,
    inode,
    name,
    kind: 'anon',
  };
  classifyName(vma);
  return vma;
}

/**
 * Where a parser's VMAs go: kept in an array (finish returns them), or each handed to `onVma`
 * once complete and not kept. Only VMAs in strictly increasing, non-overlapping order pass.
 */
class VmaSink {
  readonly out: Vma[] = [];
  /** End of the last VMA accepted (-1 before the first). */
  private lastEnd = -1n;

  constructor(private readonly onVma: ((v: Vma) => void) | undefined) {}

  /** Whether `vma` comes after the last accepted one (then it is accepted). */
  accept(vma: Vma): boolean {
    if (vma.start < this.lastEnd) return false;
    this.lastEnd = vma.end;
    return true;
  }

  /** An accepted VMA is complete. */
  emit(vma: Vma): void {
    if (this.onVma) this.onVma(vma);
    else this.out.push(vma);
  }
}

/**
 * An incremental maps/smaps parser: feed it the file's bytes in pieces that each end at a line end
 * (what a chunked read delivers; a whole file is one such piece), then take the VMAs. Parsing a
 * piece while the next one is read overlaps the kernel's generation of the file with the parse.
 */
export interface MapsParser {
  /** Parses the next piece (it must end at a line end, or be the file's last piece). */
  feed(piece: Uint8Array): void;
  /** The VMAs parsed so far, in order (call once, after the last piece). */
  finish(): Vma[];
}

/** Bytes of a piece as a Buffer (a view, no copy). */
function pieceOf(piece: Uint8Array): Buffer {
  return Buffer.isBuffer(piece)
    ? piece
    : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
}

/** What both parsers share: where their VMAs go, the name reuse. */
abstract class VmaParserBase implements MapsParser {
  protected readonly sink: VmaSink;
  protected readonly names: NameCache = { name: '' };

  /** With `onVma`, each VMA goes there once complete; finish then returns none. */
  constructor(onVma?: (v: Vma) => void) {
    this.sink = new VmaSink(onVma);
  }

  abstract feed(piece: Uint8Array): void;

  finish(): Vma[] {
    return this.sink.out;
  }
}

/**
 * The incremental parser of /proc/PID/maps (header lines only). With `onVma`, each VMA goes
 * there as soon as it is parsed and finish returns none.
 */
export class MapsLinesParser extends VmaParserBase {
  feed(piece: Uint8Array): void {
    const b = pieceOf(piece);
    const { sink, names } = this;
    const len = b.length;
    let i = 0;
    while (i < len) {
      const le = lineEndAt(b, i);
      if (le > i) {
        const vma = parseHeaderLine(b, i, le, names);
        if (vma !== undefined && sink.accept(vma)) sink.emit(vma);
      }
      i = le + 1;
    }
  }
}

/**
 * /proc/PID/maps (its bytes, or text). Kinds are classified from the name alone (no startStack
 * or thread knowledge; run classifyVmas for those).
 */
export function parseMaps(input: ProcText): Vma[] {
  const p = new MapsLinesParser();
  p.feed(bytesOf(input));
  return p.finish();
}

const VMFLAGS = 'VmFlags';

/**
 * The incremental parser of /proc/PID/smaps (parseSmaps feeds it one piece): VMAs with every
 * `Name: number [kB]` line as a field in kernel order (`THPeligible:` and `ProtectionKey:`
 * included with kb=false) and `VmFlags` as a string. A piece ends at a line end, so a VMA's
 * fields may continue in the next piece.
 *
 * One pass over the bytes. Only names and flags become strings: field names and VmFlags are
 * compared with the previous VMA's (the kernel prints the same names in the same order) and the
 * strings reused when equal; numbers are accumulated as JS numbers and become a bigint once.
 */
export class SmapsParser extends VmaParserBase {
  /** The VMA receiving fields; undefined while skipping a dropped one. */
  private cur: Vma | undefined;
  private fields: SmapsField[] = [];
  /**
   * The previous VMA's fields and their values as numbers (-1: too long for one): a field with
   * the same name, number and unit at the same index is that same (read-only) object.
   */
  private prevFields: SmapsField[] = [];
  /** Fields parsed for `cur`. */
  private count = 0;
  /**
   * `cur`'s fields so far are the previous VMA's first `count` (the same objects): `cur.fields`
   * is that very array, shared, until a field differs (then a copy of the prefix is made).
   */
  private sharing = false;
  private nums: number[] = [];
  private prevNums: number[] = [];
  private prevFlags = '';

  feed(piece: Uint8Array): void {
    const b = pieceOf(piece);
    const { sink, names } = this;
    const len = b.length;
    let { cur, fields, prevFields, count, sharing, nums, prevNums, prevFlags } = this;
    let i = 0;
    while (i < len) {
      const c0 = b[i];
      if (c0 === NL) {
        i++;
        continue;
      }
      // Header lines start with a hex digit; field names with a letter. Some names start with a
      // hex letter ("Anonymous:"), so a hex start is tried as a header first (it needs "hex-hex ").
      let le = -1;
      if (hexVal(c0) >= 0) {
        le = lineEndAt(b, i);
        const header = parseHeaderLine(b, i, le, names);
        if (header !== undefined) {
          if (cur !== undefined) {
            fields = closeFields(cur, prevFields, count, sharing);
            sink.emit(cur);
            if (count > 0) {
              prevFields = fields;
              const t = prevNums;
              prevNums = nums;
              nums = t;
            }
          }
          count = 0;
          if (sink.accept(header)) {
            cur = header;
            sharing = prevFields.length > 0;
            fields = sharing ? prevFields : [];
            cur.fields = fields;
            cur.vmFlags = '';
          } else {
            cur = undefined;
          }
          i = le + 1;
          continue;
        }
      }
      if (cur === undefined) {
        i = (le < 0 ? lineEndAt(b, i) : le) + 1;
        continue;
      }
      // "Name:<spaces>digits[ kB]" or "VmFlags: ...": the name has no blanks. Try the previous
      // VMA's name at this index first (no scan, no new string).
      const idx = count;
      const prev: SmapsField | undefined = idx < prevFields.length ? prevFields[idx] : undefined;
      let name: string | undefined = prev?.name;
      let colon: number;
      if (
        name !== undefined &&
        b[i + name.length] === COLON &&
        sameAscii(b, i, name.length, name)
      ) {
        colon = i + name.length;
      } else {
        name = undefined;
        colon = i;
        while (colon < len) {
          const c = b[colon];
          if (c === COLON || c === NL || c === SPACE || c === TAB) break;
          colon++;
        }
        if (colon === i || colon >= len || b[colon] !== COLON) {
          i = (le < 0 ? lineEndAt(b, i) : le) + 1;
          continue;
        }
      }
      let v = colon + 1;
      let c = v < len ? b[v] : NL;
      while (c === SPACE || c === TAB) c = ++v < len ? b[v] : NL;
      // digits, accumulated as a number on the way
      let d = v;
      let n = 0;
      while (c >= 48 && c <= 57) {
        n = n * 10 + (c - 48);
        c = ++d < len ? b[d] : NL;
      }
      if (d > v && d - v <= 20) {
        if (d - v > 15) n = -1;
        const kb =
          c === SPACE && d + 3 <= len && b[d + 1] === 107 /* k */ && b[d + 2] === 66; /* B */
        if (name === undefined) name = b.toString('utf8', i, colon);
        const same =
          prev !== undefined &&
          n >= 0 &&
          prevNums[idx] === n &&
          prev.kb === kb &&
          prev.name === name;
        if (sharing && !same) {
          fields = prevFields.slice(0, idx);
          cur.fields = fields;
          sharing = false;
        }
        if (!sharing) {
          fields.push(
            same ? prev : { name, value: n >= 0 ? big(n) : BigInt(b.toString('latin1', v, d)), kb },
          );
        }
        count++;
        nums[idx] = n;
        const e = kb ? d + 3 : d;
        if (le < 0) le = e >= len || b[e] === NL ? e : lineEndAt(b, e);
      } else {
        if (le < 0) le = lineEndAt(b, v);
        if (colon - i === 7 && sameAscii(b, i, 7, VMFLAGS)) {
          let e = le;
          while (e > v && b[e - 1] === SPACE) e--;
          if (!sameAscii(b, v, e - v, prevFlags)) prevFlags = b.toString('utf8', v, e);
          cur.vmFlags = prevFlags;
        }
      }
      i = le + 1;
    }
    this.cur = cur;
    this.fields = fields;
    this.prevFields = prevFields;
    this.count = count;
    this.sharing = sharing;
    this.nums = nums;
    this.prevNums = prevNums;
    this.prevFlags = prevFlags;
  }

  override finish(): Vma[] {
    const cur = this.cur;
    if (cur !== undefined) {
      closeFields(cur, this.prevFields, this.count, this.sharing);
      this.sink.emit(cur);
    }
    this.cur = undefined;
    return this.sink.out;
  }
}

/**
 * Ends a VMA's fields: one sharing the previous VMA's array keeps it when it had all of them,
 * else gets the prefix it had. Returns its fields.
 */
function closeFields(
  vma: Vma,
  prevFields: SmapsField[],
  count: number,
  sharing: boolean,
): SmapsField[] {
  if (sharing && count < prevFields.length) vma.fields = prevFields.slice(0, count);
  return vma.fields!;
}

/**
 * /proc/PID/smaps (its bytes, or text): VMAs with every `Name: number [kB]` line as a field in
 * kernel order (`THPeligible:` and `ProtectionKey:` included with kb=false) and `VmFlags` as a
 * string (SmapsParser, in one piece).
 */
export function parseSmaps(input: ProcText): Vma[] {
  const p = new SmapsParser();
  p.feed(bytesOf(input));
  return p.finish();
}

/** Line end (index of '\n' or text length) from i. */
function lineEnd(text: string, i: number): number {
  const e = text.indexOf('\n', i);
  return e < 0 ? text.length : e;
}

const ROLLUP_KEYS: Record<string, keyof MemoryRollup> = {
  Rss: 'rss',
  Pss: 'pss',
  Pss_Anon: 'pssAnon',
  Pss_File: 'pssFile',
  Pss_Shmem: 'pssShmem',
  Shared_Clean: 'sharedClean',
  Shared_Dirty: 'sharedDirty',
  Private_Clean: 'privateClean',
  Private_Dirty: 'privateDirty',
  Referenced: 'referenced',
  Anonymous: 'anonymous',
  AnonHugePages: 'anonHugePages',
  ShmemPmdMapped: 'shmemPmdMapped',
  FilePmdMapped: 'filePmdMapped',
  Swap: 'swap',
  SwapPss: 'swapPss',
  Locked: 'locked',
};

export function emptyRollup(): MemoryRollup {
  return {
    rss: 0n,
    pss: 0n,
    pssAnon: 0n,
    pssFile: 0n,
    pssShmem: 0n,
    sharedClean: 0n,
    sharedDirty: 0n,
    privateClean: 0n,
    privateDirty: 0n,
    referenced: 0n,
    anonymous: 0n,
    anonHugePages: 0n,
    shmemPmdMapped: 0n,
    filePmdMapped: 0n,
    swap: 0n,
    swapPss: 0n,
    locked: 0n,
  };
}

/** /proc/PID/smaps_rollup in bytes (absent fields are 0; an empty file gives all zeros). */
export function parseSmapsRollup(text: string): MemoryRollup {
  const r = emptyRollup();
  const len = text.length;
  let i = 0;
  while (i < len) {
    const le = lineEnd(text, i);
    const colon = text.indexOf(':', i);
    if (colon > i && colon < le) {
      const key = ROLLUP_KEYS[text.slice(i, colon)];
      if (key !== undefined) {
        let v = colon + 1;
        while (v < le && text.charCodeAt(v) === SPACE) v++;
        const d = scanDec(text, v, le);
        if (d > v) {
          const kb = text.startsWith(' kB', d);
          const n = decBig(text, v, d);
          r[key] = kb ? n * 1024n : n;
        }
      }
    }
    i = le + 1;
  }
  return r;
}

/**
 * The rollup of a map read at smaps level: per-VMA smaps figures summed, in bytes, by the same
 * names as smaps_rollup. For maps that have no smaps_rollup of their own (a VE process's map from
 * VEOS). smaps_rollup itself stays the better source for Pss: the kernel sums it before rounding.
 */
export function rollupOfVmas(vmas: readonly Vma[]): MemoryRollup {
  const r = emptyRollup();
  for (const v of vmas) {
    if (v.fields === undefined) continue;
    for (const f of v.fields) {
      const key = ROLLUP_KEYS[f.name];
      if (key !== undefined) r[key] += f.kb ? f.value * 1024n : f.value;
    }
  }
  return r;
}

function toInt(s: string | undefined): number {
  if (s === undefined) return 0;
  const n = Number(s);
  return Number.isFinite(n) ? n : 0;
}

function toBig(s: string | undefined): bigint {
  if (s === undefined || s.length === 0) return 0n;
  const neg = s.charCodeAt(0) === DASH;
  const from = neg ? 1 : 0;
  if (scanDec(s, from, s.length) !== s.length || s.length === from) return 0n;
  const v = decBig(s, from, s.length);
  return neg ? -v : v;
}

/**
 * /proc/PID/stat. comm is everything between the first '(' and the LAST ')' (it may contain
 * spaces and parentheses). Missing trailing fields read as 0. Throws PmapError(UNAVAILABLE) when
 * the text has no "(comm)" at all.
 */
export function parseStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) {
    throw new PmapError('UNAVAILABLE', 'malformed /proc stat: no "(comm)"');
  }
  const pid = toInt(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  const rest = text
    .slice(close + 1)
    .trim()
    .split(' ');
  // rest[k] is field k + 3 (1-based, as in proc(5)).
  const f = (n: number): string | undefined => rest[n - 3];
  return {
    pid,
    comm,
    state: f(3) ?? '',
    ppid: toInt(f(4)),
    pgrp: toInt(f(5)),
    session: toInt(f(6)),
    ttyNr: toInt(f(7)),
    flags: toInt(f(9)),
    minflt: toInt(f(10)),
    majflt: toInt(f(12)),
    utimeTicks: toInt(f(14)),
    stimeTicks: toInt(f(15)),
    priority: toInt(f(18)),
    nice: toInt(f(19)),
    numThreads: toInt(f(20)),
    startTimeTicks: toInt(f(22)),
    vsize: toBig(f(23)),
    rssPages: toBig(f(24)),
    startStack: toBig(f(28)),
    kstkesp: toBig(f(29)),
    kstkeip: toBig(f(30)),
    processor: f(39) === undefined ? -1 : toInt(f(39)),
  };
}

function kbValue(s: string | undefined): bigint | undefined {
  if (s === undefined) return undefined;
  const sp = s.indexOf(' ');
  return toBig(sp < 0 ? s : s.slice(0, sp));
}

/** /proc/PID/status. */
export function parseStatus(text: string): ProcStatus {
  const fields = new Map<string, string>();
  const len = text.length;
  let i = 0;
  while (i < len) {
    const le = lineEnd(text, i);
    const colon = text.indexOf(':', i);
    if (colon > i && colon < le) fields.set(text.slice(i, colon), text.slice(colon + 1, le).trim());
    i = le + 1;
  }
  const ids = (key: string): number[] => {
    const v = fields.get(key);
    if (v === undefined) return [];
    return v.split(/\s+/).map(toInt);
  };
  const uids = ids('Uid');
  const gids = ids('Gid');
  const capHex = fields.get('CapEff');
  let capEff = 0n;
  if (
    capHex !== undefined &&
    capHex.length > 0 &&
    scanHex(capHex, 0, capHex.length) === capHex.length
  ) {
    capEff = BigInt('0x' + capHex);
  }
  const kthread = fields.get('Kthread');
  const status: ProcStatus = {
    name: fields.get('Name') ?? '',
    state: (fields.get('State') ?? '').slice(0, 1),
    tgid: toInt(fields.get('Tgid')),
    pid: toInt(fields.get('Pid')),
    ppid: toInt(fields.get('PPid')),
    uid: uids[0] ?? 0,
    euid: uids[1] ?? uids[0] ?? 0,
    gid: gids[0] ?? 0,
    egid: gids[1] ?? gids[0] ?? 0,
    threads: toInt(fields.get('Threads')),
    capEff,
    fields,
  };
  const rss = kbValue(fields.get('VmRSS'));
  if (rss !== undefined) status.vmRssKb = rss;
  const size = kbValue(fields.get('VmSize'));
  if (size !== undefined) status.vmSizeKb = size;
  if (kthread !== undefined) status.kthread = kthread === '1';
  return status;
}

/**
 * /proc/PID/cgroup: the cgroup v2 path (the "0::/path" line), else the path of the first line,
 * else "".
 */
export function parseCgroup(text: string): string {
  let first: string | undefined;
  const len = text.length;
  let i = 0;
  while (i < len) {
    const le = lineEnd(text, i);
    const c1 = text.indexOf(':', i);
    const c2 = c1 < 0 || c1 >= le ? -1 : text.indexOf(':', c1 + 1);
    if (c2 >= 0 && c2 < le) {
      const path = text.slice(c2 + 1, le);
      if (c1 === i + 1 && text.charCodeAt(i) === 48 && c2 === c1 + 1) return path;
      if (first === undefined) first = path;
    }
    i = le + 1;
  }
  return first ?? '';
}

function numaKeyIsKnown(tok: string): boolean {
  if (tok === 'heap' || tok === 'stack' || tok === 'huge') return true;
  const eq = tok.indexOf('=');
  if (eq <= 0) return false;
  const key = tok.slice(0, eq);
  switch (key) {
    case 'anon':
    case 'dirty':
    case 'mapped':
    case 'mapmax':
    case 'swapcache':
    case 'active':
    case 'writeback':
    case 'kernelpagesize_kB':
    case 'file':
      return true;
    default:
      return (
        key.length > 1 && key.charCodeAt(0) === 78 && scanDec(key, 1, key.length) === key.length
      );
  }
}

/** Undoes the kernel's mangle_path escapes ("\\040" for a space, "\\012" for a newline). */
function unescapeOctal(s: string): string {
  if (s.indexOf('\\') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 && i + 3 < s.length && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      out += String.fromCharCode(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

/** /proc/PID/numa_maps (file names unescaped). Lines that do not start with a hex address are skipped. */
export function parseNumaMaps(text: string): NumaMapsEntry[] {
  const out: NumaMapsEntry[] = [];
  const len = text.length;
  let i = 0;
  while (i < len) {
    const le = lineEnd(text, i);
    const sp = text.indexOf(' ', i);
    const h = scanHex(text, i, le);
    if (h > i && h - i <= 16 && h === sp && sp < le) {
      const toks = text.slice(sp + 1, le).split(' ');
      const entry: NumaMapsEntry = {
        start: hexBig(text, i, h),
        policy: toks[0] ?? '',
        nodes: new Map(),
      };
      for (let k = 1; k < toks.length; k++) {
        const tok = toks[k];
        if (tok === '') continue;
        if (tok === 'heap') entry.heap = true;
        else if (tok === 'stack') entry.stack = true;
        else if (tok === 'huge') entry.huge = true;
        else if (tok.startsWith('file=')) {
          let file = tok.slice(5);
          while (k + 1 < toks.length && !numaKeyIsKnown(toks[k + 1])) file += ' ' + toks[++k];
          entry.file = unescapeOctal(file);
        } else {
          const eq = tok.indexOf('=');
          if (eq <= 0) continue;
          const key = tok.slice(0, eq);
          const val = toBig(tok.slice(eq + 1));
          switch (key) {
            case 'anon':
              entry.anon = val;
              break;
            case 'dirty':
              entry.dirty = val;
              break;
            case 'mapped':
              entry.mapped = val;
              break;
            case 'mapmax':
              entry.mapmax = val;
              break;
            case 'swapcache':
              entry.swapcache = val;
              break;
            case 'active':
              entry.active = val;
              break;
            case 'writeback':
              entry.writeback = val;
              break;
            case 'kernelpagesize_kB':
              entry.kernelPageSizeKb = val;
              break;
            default:
              if (key.charCodeAt(0) === 78 && scanDec(key, 1, key.length) === key.length) {
                entry.nodes.set(Number(key.slice(1)), val);
              }
          }
        }
      }
      out.push(entry);
    }
    i = le + 1;
  }
  return out;
}

/**
 * /proc/PID/cmdline: NUL-separated arguments joined by single spaces (one trailing NUL
 * dropped). An empty cmdline (kernel thread, zombie) gives "[comm]" as pmap shows it.
 */
export function parseCmdline(buf: Buffer, comm: string): string {
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end--;
  if (end === 0) return `[${comm}]`;
  const s = buf.toString('utf8', 0, end);
  return s.indexOf('\0') < 0 ? s : s.split('\0').join(' ');
}
