import {
  vmaOverlaps,
  type AddressRange,
  type MapsLine,
  type ProcessHeader,
  type SmapsField,
  type Vma,
} from '@app/domain';
import { pmapDisplayName, pmapFirstLine, type DisplayNameOptions } from './names';
import { ByteOut, dec } from './text';
import type { PmapMode, PmapRenderOptions } from './types';

/** The procps modes whose rows do not depend on the rest of the map: plain, `-x`, `-d`. */
export type PmapRowMode = 'default' | 'x' | 'd';

/** Whether `mode` is one PmapRowRenderer renders (its column widths are fixed). */
export function isRowMode(mode: PmapMode): mode is PmapRowMode {
  return mode === 'default' || mode === 'x' || mode === 'd';
}

/** "r-xp" -> "r-x--": the p becomes '-', plus a fifth '-' (pmap's Solaris-style mode). */
function mode5(perms: string): string {
  const p3 = perms.length > 3 ? perms[3] : '-';
  return perms.slice(0, 3) + (p3 === 'p' ? '-' : p3) + '-';
}

/** Index of the field called `name`, trying the hint position first. */
export function fieldIndex(fields: SmapsField[], name: string, hint: number): number {
  if (hint >= 0 && hint < fields.length && fields[hint].name === name) return hint;
  for (let i = 0; i < fields.length; i++) if (fields[i].name === name) return i;
  return -1;
}

/** pmap -x's Kbytes, RSS and Dirty columns (rows and total alike). */
function extendedColumns(out: ByteOut, sizeBytes: bigint, rssKb: number, dirtyKb: number): void {
  out.num(Number(sizeBytes >> 10n), 7);
  out.byte(32);
  out.num(rssKb, 7);
  out.byte(32);
  out.num(dirtyKb, 7);
}

const TWO_53 = 2 ** 53;
const TWO_53N = 2n ** 53n;

/** Hex digits b[from, to) as a bigint (the rare values a double may not hold). */
function hexBig(b: Uint8Array, from: number, to: number): bigint {
  return BigInt('0x' + Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('latin1'));
}

/** Bytes a row of each mode takes, about (the first buffer's size). */
const ROW_BYTES: Record<PmapRowMode, number> = { default: 48, x: 72, d: 80 };

/**
 * procps pmap plain, `-x` and `-d` one VMA at a time (the rows of these modes have fixed widths,
 * so a row is written as soon as its VMA is known: what lets the agent render a map while it is
 * still being read). The first line and column header at construction, `row` for each VMA in
 * address order (those outside `opts.range` are skipped, as pmap -A), `finish` for the footer.
 * renderPmap's plain, -x and -d are this over the map's VMAs.
 */
export class PmapRowRenderer {
  private readonly out: ByteOut;
  private readonly mode: PmapRowMode;
  private readonly quiet: boolean;
  private readonly range: AddressRange | undefined;
  private readonly names: DisplayNameOptions;
  /** Bytes of the printed VMAs (plain, -x); -d: of the private writeable ones. */
  private size = 0n;
  private rss = 0;
  private dirty = 0;
  private shared = 0n;
  private readonly_ = 0n;
  /**
   * What line() adds to size/shared/readonly_ (sizes below 2^53 bytes, the kernel's every one but
   * vsyscall's): whole KiB and the bytes left over, as numbers; finish() adds them in exactly.
   */
  private readonly acc = new Float64Array(6);
  /** startStack as a number when exact (below 2^53), else -1 (line() then compares bigints). */
  private readonly stackNum: number;
  /** Rows written (VMAs in the range). */
  rows = 0;
  private hRss = -1;
  private hSd = -1;
  private hPd = -1;

  constructor(
    private readonly header: ProcessHeader,
    opts: PmapRenderOptions & { mode: PmapRowMode },
    rowsEstimate = 1024,
  ) {
    this.mode = opts.mode;
    this.quiet = !!opts.quiet;
    const r = opts.range;
    this.range = r && (r.low !== undefined || r.high !== undefined) ? r : undefined;
    this.names = { showPath: opts.showPath, kernelNames: opts.kernelNames };
    this.stackNum = header.startStack < TWO_53N ? Number(header.startStack) : -1;
    this.out = new ByteOut(256 + rowsEstimate * ROW_BYTES[this.mode]);
    this.out.text(pmapFirstLine(header));
    if (this.quiet) return;
    if (this.mode === 'x') {
      this.out.text('Address           Kbytes     RSS   Dirty Mode  Mapping\n');
    } else if (this.mode === 'd') {
      this.out.text('Address           Kbytes Mode  Offset           Device    Mapping\n');
    }
  }

  /** The row of one VMA (nothing when it is outside the range). */
  row(v: Vma): void {
    if (this.range && !vmaOverlaps(v, this.range)) return;
    this.rows++;
    const out = this.out;
    const size = v.end - v.start;
    out.hex(v.start, 16);
    out.byte(32);
    if (this.mode === 'default') {
      this.size += size;
      out.num(Number(size >> 10n), 6);
      out.text('K ');
    } else if (this.mode === 'x') {
      this.extended(v, size);
    } else {
      this.device(v, size);
    }
    out.text(mode5(v.perms));
    out.byte(32);
    if (this.mode === 'd') {
      out.hex(v.offset, 16);
      out.byte(32);
      out.hex(BigInt(v.devMajor), 3);
      out.byte(58);
      out.hex(BigInt(v.devMinor), 5);
      out.byte(32);
    }
    out.text(pmapDisplayName(v, this.header, this.names));
    out.byte(10);
  }

  /**
   * The row of one maps header line, straight from its bytes (procfs MapsLineScanner): what
   * row() prints for the Vma parsed from that line, with no Vma, bigint or string made (plain and
   * -d; -x needs smaps fields: row()). Addresses, offset and device are the line's hex digits
   * re-padded; the name's bytes are copied (non-ASCII names and SysV shm go through row()'s
   * pmapDisplayName).
   */
  line(b: Buffer, f: MapsLine): void {
    if (this.mode === 'x') throw new Error('PmapRowRenderer.line: -x rows need smaps fields');
    if (this.range && !vmaOverlaps(this.lineSpan(b, f), this.range)) return;
    this.rows++;
    const out = this.out;
    const acc = this.acc;
    const p = f.permsAt;
    const p1 = b[p + 1];
    const p3 = b[p + 3];
    // Which total the size goes to: 0 size, 2 shared, 4 read-only (-d); -1 none.
    const slot =
      this.mode === 'default' ? 0 : p3 === 115 ? 2 : p3 === 112 ? (p1 === 119 ? 0 : 4) : -1;
    let kb: number;
    if (f.end < TWO_53) {
      const size = f.end - f.start;
      kb = Math.floor(size / 1024);
      if (slot >= 0) {
        acc[slot] += kb;
        acc[slot + 1] += size - kb * 1024;
      }
    } else {
      const span = this.lineSpan(b, f);
      const size = span.end - span.start;
      kb = Number(size >> 10n);
      if (slot === 0) this.size += size;
      else if (slot === 2) this.shared += size;
      else if (slot === 4) this.readonly_ += size;
    }
    out.hexDigits(b, f.startAt, f.startTo, 16);
    out.byte(32);
    if (this.mode === 'default') {
      out.num(kb, 6);
      out.text('K ');
    } else {
      out.num(kb, 7);
      out.byte(32);
    }
    out.byte(b[p]);
    out.byte(p1);
    out.byte(b[p + 2]);
    out.byte(p3 === 112 ? 45 : p3);
    out.byte(45);
    out.byte(32);
    if (this.mode === 'd') {
      out.hexDigits(b, f.offsetAt, f.offsetTo, 16);
      out.byte(32);
      out.hexDigits(b, f.majorAt, f.majorTo, 3);
      out.byte(58);
      out.hexDigits(b, f.minorAt, f.minorTo, 5);
      out.byte(32);
    }
    this.lineName(b, f);
    out.byte(10);
  }

  /** The line's start and end as bigints. */
  private lineSpan(b: Buffer, f: MapsLine): { start: bigint; end: bigint } {
    return { start: hexBig(b, f.startAt, f.startTo), end: hexBig(b, f.endAt, f.endTo) };
  }

  /** pmapDisplayName of the line's VMA, from its bytes. */
  private lineName(b: Buffer, f: MapsLine): void {
    const out = this.out;
    const a = f.nameAt;
    const e = f.nameTo;
    if (a < e) {
      let first = -1;
      let last = -1;
      for (let k = a; k < e; k++) {
        const c = b[k];
        if (c === 47) {
          if (first < 0) first = k;
          last = k;
        } else if (c >= 0x80) {
          return this.lineNameSlow(b, f);
        }
      }
      if (first >= 0) {
        if (first === a && f.devMajor === 0 && e - a >= 5 && b[a + 1] === 83) {
          return this.lineNameSlow(b, f); // maybe SysV shm ("/SYSV…")
        }
        if (this.names.showPath) out.copy(b, first, e);
        else if (last + 1 < e) out.copy(b, last + 1, e);
        else out.byte(47);
        return;
      }
      if (this.names.kernelNames && b[e - 1] === 93) {
        const open = b.indexOf(91, a);
        if (open >= 0 && open < e) return out.copy(b, open, e);
      }
    }
    const ss = this.stackNum;
    const inStack =
      ss >= 0 && f.end < TWO_53
        ? ss >= f.start && ss <= f.end
        : this.header.startStack >= hexBig(b, f.startAt, f.startTo) &&
          this.header.startStack <= hexBig(b, f.endAt, f.endTo);
    out.text(inStack ? '  [ stack ]' : '  [ anon ]');
  }

  /** pmapDisplayName itself, over the fields it reads, for the names lineName does not do. */
  private lineNameSlow(b: Buffer, f: MapsLine): void {
    const { start, end } = this.lineSpan(b, f);
    const v: Vma = {
      start,
      end,
      perms: b.toString('latin1', f.permsAt, f.permsAt + 4),
      offset: 0n,
      devMajor: f.devMajor,
      devMinor: f.devMinor,
      inode: BigInt(b.toString('latin1', f.inodeAt, f.inodeTo)),
      name: b.toString('utf8', f.nameAt, f.nameTo),
      kind: 'anon',
    };
    this.out.text(pmapDisplayName(v, this.header, this.names));
  }

  private extended(v: Vma, size: bigint): void {
    const f = v.fields;
    let rss = 0;
    let dirty = 0;
    if (f) {
      this.hRss = fieldIndex(f, 'Rss', this.hRss);
      this.hSd = fieldIndex(f, 'Shared_Dirty', this.hSd);
      this.hPd = fieldIndex(f, 'Private_Dirty', this.hPd);
      const { hRss, hSd, hPd } = this;
      rss = hRss < 0 ? 0 : Number(f[hRss].value);
      dirty = (hSd < 0 ? 0 : Number(f[hSd].value)) + (hPd < 0 ? 0 : Number(f[hPd].value));
    }
    this.size += size;
    this.rss += rss;
    this.dirty += dirty;
    extendedColumns(this.out, size, rss, dirty);
    this.out.byte(32);
  }

  private device(v: Vma, size: bigint): void {
    const p1 = v.perms[1];
    const p3 = v.perms[3];
    if (p3 === 's') this.shared += size;
    if (p3 === 'p') {
      if (p1 === 'w') this.size += size;
      else this.readonly_ += size;
    }
    this.out.num(Number(size >> 10n), 7);
    this.out.byte(32);
  }

  /** The footer (unless -q); the text written. */
  finish(): ByteOut {
    const out = this.out;
    const acc = this.acc;
    this.size += BigInt(acc[0]) * 1024n + BigInt(acc[1]);
    this.shared += BigInt(acc[2]) * 1024n + BigInt(acc[3]);
    this.readonly_ += BigInt(acc[4]) * 1024n + BigInt(acc[5]);
    acc.fill(0);
    if (this.quiet) return out;
    if (this.mode === 'default') {
      out.text(' total ');
      out.num(Number(this.size >> 10n), 16);
      out.text('K\n');
    } else if (this.mode === 'x') {
      out.text('---------------- ------- ------- ------- \ntotal kB         ');
      extendedColumns(out, this.size, this.rss, this.dirty);
      out.byte(10);
    } else {
      const writeable = this.size;
      out.text('mapped: ');
      out.text(dec((this.shared + writeable + this.readonly_) >> 10n));
      out.text('K    writeable/private: ');
      out.text(dec(writeable >> 10n));
      out.text('K    shared: ');
      out.text(dec(this.shared >> 10n));
      out.text('K\n');
    }
    return out;
  }
}
