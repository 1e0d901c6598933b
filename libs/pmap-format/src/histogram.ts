/**
 * Text renderers for per-VMA histograms (data in, text out; the data are the histogram types of
 * @app/procfs' pagemap module, type-only here):
 *
 * - order     mem_hist.py's lines: `process PID NAME [hist]`, then `  start-end size perms [hist]
 *             file` per VMA, with the script's exact padding (Python str.format widths).
 * - physical  a table per VMA and category (anon/file): blocks per power-of-two bin.
 * - pagesize  KiB per mapped page size per VMA; with runs the illumos `pmap -s` rows
 *             (Address Kbytes Pgsz Mode Mapped File), one per run of one page size.
 * - numa      KiB per node per VMA; with runs the illumos `pmap -L` rows
 *             (Address Kbytes Lgrp Mode Mapped File), one per run of pages on one node.
 *
 * In the tables a zero prints as `-` (as illumos pmap -x does); addresses are 16 upper-case hex
 * digits like the illumos views of renderIllumos.
 */
import {
  sizeKey,
  type ProcessHeader,
  type Vma,
  type HistogramBin,
  type HistogramKind,
  type HistogramTotals,
  type VmaHistogram,
} from '@app/domain';
import { illumosName } from './illumos';
import { pmapCommandLine } from './names';
import { dec, padLeft, padRight, zeroPad } from './text';

export interface HistogramTextInput {
  kind: HistogramKind;
  header: ProcessHeader;
  /** In the order to print (the agent sends order histograms sorted as mem_hist.py sorts). */
  vmas: readonly VmaHistogram[];
  totals: HistogramTotals;
}

export interface HistogramRenderOptions {
  /** pagesize / numa: print the illumos -s / -L run rows (the histograms must carry runs). */
  runs?: boolean;
  /** No header line and no totals (order: no process line). */
  quiet?: boolean;
}

/** Renders a histogram as text for its kind (see the module comment for the layouts). */
export function renderHistogram(h: HistogramTextInput, opts: HistogramRenderOptions = {}): string {
  switch (h.kind) {
    case 'order':
      return renderMemHist(h, opts);
    case 'physical':
      return renderPhysical(h, opts);
    case 'pagesize':
    case 'numa':
      return opts.runs ? renderRuns(h, opts) : renderBins(h, opts);
  }
}

// ---- order: mem_hist.py

/** Python's str() of a list of ints: "[1, 0, 2]". */
function pyList(values: readonly bigint[]): string {
  return '[' + values.map((v) => v.toString()).join(', ') + ']';
}

/** The process name as the script reads it: `grep Name: status | awk '{print $2}'`. */
function memHistName(h: ProcessHeader): string {
  const comm = h.comm.trim();
  const sp = comm.search(/\s/);
  return sp < 0 ? comm : comm.slice(0, sp);
}

/**
 * mem_hist.py's output for one process: `process {pid:<18} {name:<25} {hist:<50}` (the sum over
 * every VMA scanned, omitted ones included), then `"  " + "{start:016x}-{end:016x} {size:<8}
 * {perms:<4} {hist:<50} {file:<40}"` per VMA with size = "%dk" of the length in KiB.
 */
export function renderMemHist(h: HistogramTextInput, opts: HistogramRenderOptions = {}): string {
  const parts: string[] = [];
  if (!opts.quiet) {
    parts.push(
      'process ',
      padRight(String(h.header.pid), 18),
      ' ',
      padRight(memHistName(h.header), 25),
      ' ',
      padRight(pyList(h.totals.orders), 50),
      '\n',
    );
  }
  for (const v of h.vmas) {
    parts.push(
      '  ',
      zeroPad(v.start.toString(16), 16),
      '-',
      zeroPad(v.end.toString(16), 16),
      ' ',
      padRight(`${dec((v.end - v.start) / 1024n)}k`, 8),
      ' ',
      padRight(v.perms, 4),
      ' ',
      padRight(pyList(v.orders), 50),
      ' ',
      padRight(v.name, 40),
      '\n',
    );
  }
  return parts.join('');
}

// ---- shared table helpers

function headLine(h: ProcessHeader): string {
  const s = pmapCommandLine(h);
  return `${h.pid}:\t${s.length > 79 ? s.slice(0, 79) : s}\n`;
}

function asVma(v: VmaHistogram): Vma {
  return {
    start: v.start,
    end: v.end,
    perms: v.perms,
    offset: 0n,
    devMajor: 0,
    devMinor: 0,
    inode: 0n,
    name: v.name,
    kind: v.kind,
  };
}

/** illumos mode column: rwxs plus '-' (swap reservation is not known from a histogram). */
function mode(perms: string): string {
  return (
    (perms[0] === 'r' ? 'r' : '-') +
    (perms[1] === 'w' ? 'w' : '-') +
    (perms[2] === 'x' ? 'x' : '-') +
    (perms[3] === 's' ? 's' : '-') +
    '-'
  );
}

function addr16(a: bigint): string {
  return zeroPad(a.toString(16).toUpperCase(), 16);
}

function kib(bytes: bigint): bigint {
  return (bytes + 1023n) >> 10n;
}

/** A numeric cell; zero prints as '-'. */
function cell(v: bigint, width: number): string {
  return padLeft(v === 0n ? '-' : dec(v), width);
}

// ---- physical: blocks per bin, one row per VMA and category

const CATEGORIES = ['anon', 'file'] as const;

function renderPhysical(h: HistogramTextInput, opts: HistogramRenderOptions): string {
  // Bin sizes ascending (the same for both categories).
  const sizes: bigint[] = [];
  const seen = new Set<bigint>();
  const collect = (bins: readonly HistogramBin[]): void => {
    for (const b of bins) {
      if (!seen.has(b.pageSize)) {
        seen.add(b.pageSize);
        sizes.push(b.pageSize);
      }
    }
  };
  collect(h.totals.bins);
  for (const v of h.vmas) collect(v.bins);
  sizes.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const width = 7;
  const counts = (bins: readonly HistogramBin[], cat: string): bigint[] =>
    sizes.map((s) => {
      let n = 0n;
      for (const b of bins) if (b.category === cat && b.pageSize === s) n += b.count;
      return n;
    });
  const row = (
    parts: string[],
    start: string,
    kb: string,
    cat: string,
    values: bigint[],
    tail: string,
  ): void => {
    parts.push(start, ' ', kb, ' ', padRight(cat, 4));
    for (const n of values) parts.push(' ', cell(n, width));
    parts.push(tail, '\n');
  };
  const parts: string[] = [];
  if (!opts.quiet) {
    parts.push(headLine(h.header));
    parts.push('         Address     Kbytes Cat ');
    for (const s of sizes) parts.push(' ', padLeft(sizeKey(s), width));
    parts.push(' Mapped File\n');
  }
  for (const v of h.vmas) {
    const name = illumosName(asVma(v), h.header, false);
    let any = false;
    for (const cat of CATEGORIES) {
      const values = counts(v.bins, cat);
      if (values.every((n) => n === 0n)) continue;
      any = true;
      row(parts, addr16(v.start), cell(kib(v.end - v.start), 10), cat, values, ' ' + name);
    }
    if (!any) {
      row(
        parts,
        addr16(v.start),
        cell(kib(v.end - v.start), 10),
        '-',
        sizes.map(() => 0n),
        ' ' + name,
      );
    }
  }
  if (!opts.quiet) {
    for (const cat of CATEGORIES) {
      row(parts, '           total', padLeft('', 10), cat, counts(h.totals.bins, cat), '');
    }
  }
  return parts.join('');
}

// ---- pagesize / numa without runs: KiB per bin per VMA

function binLabel(b: HistogramBin, kind: HistogramKind): string {
  return kind === 'numa' ? `N${b.numaNode ?? b.key.replace(/^N/, '')}` : b.key;
}

function renderBins(h: HistogramTextInput, opts: HistogramRenderOptions): string {
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const b of h.totals.bins) {
    const k = binLabel(b, h.kind);
    if (!seen.has(k)) {
      seen.add(k);
      keys.push(k);
    }
  }
  for (const v of h.vmas) {
    for (const b of v.bins) {
      const k = binLabel(b, h.kind);
      if (!seen.has(k)) {
        seen.add(k);
        keys.push(k);
      }
    }
  }
  const width = Math.max(10, ...keys.map((k) => k.length));
  const kbOf = (bins: readonly HistogramBin[]): bigint[] =>
    keys.map((k) => {
      let bytes = 0n;
      for (const b of bins) if (binLabel(b, h.kind) === k) bytes += b.bytes;
      return kib(bytes);
    });
  const parts: string[] = [];
  if (!opts.quiet) {
    parts.push(headLine(h.header), '         Address     Kbytes');
    for (const k of keys) parts.push(' ', padLeft(k, width));
    parts.push(' Mode   Mapped File\n');
  }
  for (const v of h.vmas) {
    parts.push(addr16(v.start), ' ', cell(kib(v.end - v.start), 10));
    for (const n of kbOf(v.bins)) parts.push(' ', cell(n, width));
    parts.push(' ', padRight(mode(v.perms), 6), ' ', illumosName(asVma(v), h.header, false), '\n');
  }
  if (!opts.quiet) {
    let size = 0n;
    for (const v of h.vmas) size += kib(v.end - v.start);
    parts.push('        total Kb ', cell(size, 10));
    for (const n of kbOf(h.totals.bins)) parts.push(' ', cell(n, width));
    parts.push('\n');
  }
  return parts.join('');
}

// ---- pagesize / numa with runs: illumos -s / -L rows

function renderRuns(h: HistogramTextInput, opts: HistogramRenderOptions): string {
  const numa = h.kind === 'numa';
  const parts: string[] = [];
  if (!opts.quiet) {
    parts.push(
      headLine(h.header),
      numa
        ? '         Address     Kbytes Lgrp Mode   Mapped File\n'
        : '         Address     Kbytes Pgsz Mode   Mapped File\n',
    );
  }
  let total = 0n;
  for (const v of h.vmas) {
    const name = illumosName(asVma(v), h.header, false);
    const m = padRight(mode(v.perms), 6);
    const runs =
      v.runs.length > 0
        ? v.runs
        : [{ start: v.start, end: v.end, pageSize: 0n, present: false, numaNode: undefined }];
    for (const r of runs) {
      const kb = kib(r.end - r.start);
      total += kb;
      let col: string;
      if (!r.present) col = '-';
      else if (numa) col = r.numaNode !== undefined ? String(r.numaNode) : '-';
      else col = sizeKey(r.pageSize);
      parts.push(addr16(r.start), ' ', cell(kb, 10), ' ', padLeft(col, 4), ' ', m, ' ', name, '\n');
    }
  }
  if (!opts.quiet)
    parts.push('---------------- ----------\n', '        total Kb ', cell(total, 10), '\n');
  return parts.join('');
}
