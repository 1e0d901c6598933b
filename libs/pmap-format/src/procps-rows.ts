import {
  vmaOverlaps,
  type AddressRange,
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
