/**
 * Per-VMA histograms of one process: order (virtual contiguity), physical (physically contiguous
 * runs), pagesize (mapped page sizes) and numa (pages per node). One HistogramScanner per
 * request opens /proc/PID/pagemap once; scanVma() can be called VMA by VMA for streaming.
 */
import { readFileSync } from 'node:fs';
import {
  PmapError,
  sizeKey,
  type Vma,
  type HistogramBin,
  type HistogramKind,
  type HistogramResult,
  type HistogramRun,
  type HistogramTotals,
  type VmaHistogram,
} from '@app/domain';
import type { NumaMapsEntry } from '../types';
import { procError } from '../errors';
import { parseNumaMaps } from '../parse';
import { libc, PAGE_IS_HUGE } from './native';
import { OrderAccumulator, sortByReversedOrders } from './order';
import {
  drain,
  pageIndexOf,
  PagemapReader,
  PM_HI_FILE,
  PM_HI_PFN_MASK,
  PM_HI_PRESENT,
  type Steps,
} from './reader';
import type { HistogramOptions } from './types';

const TWO32 = 4294967296;
const KINDS: readonly HistogramKind[] = ['order', 'physical', 'pagesize', 'numa'];

/** The bin key of a page size (one helper for every histogram: @app/domain). */
export { sizeKey };

/** mem_hist.py's file-backed test: the name is a path "/x…" and not a memfd. */
export function isFileBackedName(name: string): boolean {
  return (
    name.length > 1 &&
    name.charCodeAt(0) === 47 &&
    name.charCodeAt(1) !== 47 &&
    !name.startsWith('/memfd:')
  );
}

/** Whether the VMA is hugetlbfs-backed (smaps VmFlags "ht", or the MAP_HUGETLB anon name). */
export function isHugetlbVma(vma: Vma): boolean {
  if (vma.vmFlags !== undefined && (' ' + vma.vmFlags + ' ').includes(' ht ')) return true;
  return vma.name.startsWith('/anon_hugepage');
}

function smapsField(vma: Vma, name: string): bigint | undefined {
  if (!vma.fields) return undefined;
  for (const f of vma.fields) if (f.name === name) return f.kb ? f.value * 1024n : f.value;
  return undefined;
}

/**
 * Physically contiguous runs into power-of-two bins from one page to the PMD size. A run of L
 * pages adds floor(L / P) blocks to the PMD bin (P = pages per PMD), and the remainder
 * r = L mod P is split by its binary digits: one block in the 2^i-page bin for every bit i set.
 * So every page lands in exactly one block and bytes = count x bin size.
 */
export class PhysicalBins {
  readonly anon: number[];
  readonly file: number[];
  readonly pmdOrder: number;
  private readonly pmdPages: number;

  constructor(readonly pageSize: number) {
    this.pmdPages = pageSize / 8; // one page of 8-byte PTEs maps one PMD
    this.pmdOrder = Math.round(Math.log2(this.pmdPages));
    this.anon = new Array<number>(this.pmdOrder + 1).fill(0);
    this.file = new Array<number>(this.pmdOrder + 1).fill(0);
  }

  add(pages: number, file: boolean): void {
    const bins = file ? this.file : this.anon;
    const k = Math.floor(pages / this.pmdPages);
    bins[this.pmdOrder] += k;
    let r = pages - k * this.pmdPages;
    for (let i = 0; r > 0; i++, r = Math.floor(r / 2)) if (r % 2 === 1) bins[i]++;
  }

  bins(): HistogramBin[] {
    const out: HistogramBin[] = [];
    for (const [cat, prefix, arr] of [
      ['anon', 'AnonCont', this.anon],
      ['file', 'FileCont', this.file],
    ] as const) {
      for (let i = 0; i <= this.pmdOrder; i++) {
        const size = BigInt(this.pageSize) << BigInt(i);
        out.push({
          key: prefix + sizeKey(size),
          pageSize: size,
          category: cat,
          count: BigInt(arr[i]),
          bytes: BigInt(arr[i]) * size,
        });
      }
    }
    return out;
  }
}

/** Adds bins into an accumulator keyed by bin key (first-seen order kept). */
function mergeBins(into: Map<string, HistogramBin>, bins: readonly HistogramBin[]): void {
  for (const b of bins) {
    const t = into.get(b.key);
    if (t) {
      t.count += b.count;
      t.bytes += b.bytes;
    } else into.set(b.key, { ...b });
  }
}

function pushRun(
  runs: HistogramRun[],
  start: bigint,
  end: bigint,
  pageSize: bigint,
  present: boolean,
  node?: number,
): void {
  if (end <= start) return;
  const last = runs[runs.length - 1];
  if (
    last &&
    last.end === start &&
    last.present === present &&
    last.pageSize === pageSize &&
    last.numaNode === node
  ) {
    last.end = end;
    return;
  }
  const run: HistogramRun = { start, end, pageSize, present };
  if (node !== undefined) run.numaNode = node;
  runs.push(run);
}

export class HistogramScanner {
  readonly kind: HistogramKind;
  private readonly reader: PagemapReader;
  private readonly opts: HistogramOptions;
  private readonly ps: number;
  private readonly maxOrder: number;
  private readonly totalOrders: bigint[];
  private readonly totalBins = new Map<string, HistogramBin>();
  private totalPresent = 0n;
  private scanned = 0;
  private numa: Map<bigint, NumaMapsEntry> | undefined;

  constructor(
    readonly pid: number,
    opts: HistogramOptions,
  ) {
    if (!KINDS.includes(opts.kind))
      throw new PmapError(
        'INVALID_ARGUMENT',
        `unknown histogram kind "${String(opts.kind)}"`,
        'kind',
      );
    const maxOrder = opts.maxOrder ?? 9;
    if (!Number.isInteger(maxOrder) || maxOrder < 0 || maxOrder > 30) {
      throw new PmapError(
        'INVALID_ARGUMENT',
        `max order must be an integer in 0..30, got ${maxOrder}`,
        'max_order',
      );
    }
    if (opts.compat !== undefined && opts.compat !== 'memhist') {
      throw new PmapError('INVALID_ARGUMENT', `unknown compat "${String(opts.compat)}"`, 'compat');
    }
    if (opts.compat === 'memhist' && opts.kind !== 'order') {
      throw new PmapError(
        'INVALID_ARGUMENT',
        'compat "memhist" applies to the order histogram only',
        'compat',
      );
    }
    this.kind = opts.kind;
    this.opts = opts;
    this.ps = opts.pageSize ?? 4096;
    this.maxOrder = maxOrder;
    this.totalOrders = opts.kind === 'order' ? new Array<bigint>(maxOrder + 1).fill(0n) : [];
    this.checkStop();
    this.reader = new PagemapReader(pid, {
      procRoot: opts.procRoot,
      pageSize: this.ps,
      useScan: opts.useScan,
      check: () => this.checkStop(),
    });
  }

  /** Throws when the signal was aborted or the deadline passed. */
  checkStop(): void {
    const s = this.opts.signal;
    if (s?.aborted) {
      throw s.reason instanceof Error
        ? s.reason
        : new PmapError('UNAVAILABLE', 'histogram scan aborted');
    }
    if (this.opts.deadlineMs !== undefined && Date.now() > this.opts.deadlineMs) {
      throw new PmapError('UNAVAILABLE', 'histogram scan deadline exceeded');
    }
  }

  /** PAGEMAP_SCAN is in use (else positioned reads). */
  get usesScan(): boolean {
    return this.reader.scanAvailable;
  }

  close(): void {
    this.reader.close();
  }

  /**
   * One VMA's histogram, added to the totals. Returns null when the omit options leave it out
   * (it still counts in the totals, as mem_hist.py's process line does).
   */
  scanVma(vma: Vma): VmaHistogram | null {
    return drain(this.scanVmaSteps(vma));
  }

  /**
   * scanVma, yielding after each chunk of pagemap (a read or a PAGEMAP_SCAN call): an
   * asynchronous caller gives the event loop a turn there (a cancel can come in), and calls
   * `return()` on it to stop early.
   */
  *scanVmaSteps(vma: Vma): Steps<VmaHistogram | null> {
    this.checkStop();
    const h: VmaHistogram = {
      start: vma.start,
      end: vma.end,
      perms: vma.perms,
      name: vma.name,
      kind: vma.kind,
      orders: [],
      bins: [],
      runs: [],
      presentPages: 0n,
      fileBacked: isFileBackedName(vma.name),
    };
    switch (this.kind) {
      case 'order':
        yield* this.order(vma, h);
        break;
      case 'physical':
        yield* this.physical(vma, h);
        break;
      case 'pagesize':
        yield* this.pagesize(vma, h);
        break;
      case 'numa':
        yield* this.numaOf(vma, h);
        break;
    }
    this.scanned++;
    this.totalPresent += h.presentPages;
    for (let i = 0; i < h.orders.length; i++) this.totalOrders[i] += h.orders[i];
    mergeBins(this.totalBins, h.bins);
    if (this.opts.omitFileBacked && h.fileBacked) return null;
    if (this.opts.omitUnfaulted) {
      const empty = this.kind === 'order' ? h.orders.every((x) => x === 0n) : h.presentPages === 0n;
      if (empty) return null;
    }
    return h;
  }

  totals(): HistogramTotals {
    const bins = [...this.totalBins.values()].map((b) => ({ ...b }));
    if (this.kind === 'pagesize' || this.kind === 'numa') {
      bins.sort((a, b) =>
        this.kind === 'numa'
          ? (a.numaNode ?? 0) - (b.numaNode ?? 0) ||
            (a.pageSize < b.pageSize ? -1 : a.pageSize > b.pageSize ? 1 : 0)
          : a.pageSize < b.pageSize
            ? -1
            : a.pageSize > b.pageSize
              ? 1
              : 0,
      );
    }
    return {
      orders: [...this.totalOrders],
      bins,
      presentPages: this.totalPresent,
      vmas: this.scanned,
    };
  }

  // ---- kinds

  private pages(vma: Vma): [number, number] {
    return [pageIndexOf(vma.start, this.ps), pageIndexOf(vma.end, this.ps)];
  }

  /**
   * PAGEMAP_SCAN skips VM_PFNMAP/VM_IO mappings ([vvar]) that pagemap reads do show: read those.
   */
  private needsRead(vma: Vma): boolean {
    if (vma.kind === 'vvar' || vma.name.startsWith('[vvar')) return true;
    const f = vma.vmFlags;
    return f !== undefined && /(^| )(pf|io)( |$)/.test(f);
  }

  private *presentRuns(vma: Vma, visit: (s: number, e: number, cats: number) => void): Steps {
    const [s, e] = this.pages(vma);
    if (this.needsRead(vma) && this.reader.scanAvailable) {
      const plain = new PagemapReader(this.pid, {
        procRoot: this.opts.procRoot,
        pageSize: this.ps,
        useScan: false,
        check: () => this.checkStop(),
      });
      try {
        yield* plain.presentRunsSteps(s, e, visit);
      } finally {
        plain.close();
      }
      return;
    }
    yield* this.reader.presentRunsSteps(s, e, visit);
  }

  private *order(vma: Vma, h: VmaHistogram): Steps {
    const [s] = this.pages(vma);
    const acc = new OrderAccumulator(this.maxOrder, s, this.opts.compat === 'memhist');
    yield* this.presentRuns(vma, (a, b) => acc.add(a, b));
    h.orders = acc.orders();
    h.presentPages = BigInt(acc.presentPages());
  }

  private *physical(vma: Vma, h: VmaHistogram): Steps {
    const bins = new PhysicalBins(this.ps);
    const runs: number[] = [];
    yield* this.presentRuns(vma, (a, b) => {
      const n = runs.length;
      if (n > 0 && runs[n - 1] === a) runs[n - 1] = b;
      else runs.push(a, b);
    });
    let present = 0;
    let runLen = 0;
    let runFile = false;
    let prevPage = -2;
    let prevPfn = -2;
    const pid = this.pid;
    for (let r = 0; r < runs.length; r += 2) {
      yield* this.reader.readEntriesSteps(runs[r], runs[r + 1], (w, n, first) => {
        for (let i = 0; i < n; i++) {
          const hi = w[2 * i + 1];
          if ((hi & PM_HI_PRESENT) === 0) continue; // changed since the scan
          const pfn = (hi & PM_HI_PFN_MASK) * TWO32 + w[2 * i];
          if (pfn === 0) {
            throw new PmapError(
              'FAILED_PRECONDITION',
              `physical histograms need page frame numbers, which /proc/${pid}/pagemap shows only to a reader with CAP_SYS_ADMIN`,
            );
          }
          const page = first + i;
          const file = (hi & PM_HI_FILE) !== 0;
          present++;
          if (page === prevPage + 1 && pfn === prevPfn + 1 && file === runFile) runLen++;
          else {
            if (runLen > 0) bins.add(runLen, runFile);
            runLen = 1;
            runFile = file;
          }
          prevPage = page;
          prevPfn = pfn;
        }
      });
    }
    if (runLen > 0) bins.add(runLen, runFile);
    h.bins = bins.bins();
    h.presentPages = BigInt(present);
  }

  private hugetlbSize(vma: Vma): bigint {
    const k = smapsField(vma, 'KernelPageSize');
    if (k !== undefined && k > BigInt(this.ps)) return k;
    return this.opts.hugetlbPageSize ?? BigInt(this.ps) * BigInt(this.ps / 8);
  }

  private *pagesize(vma: Vma, h: VmaHistogram): Steps {
    const base = BigInt(this.ps);
    const hugetlb = isHugetlbVma(vma);
    const huge = hugetlb ? this.hugetlbSize(vma) : base * BigInt(this.ps / 8);
    const gapSize = hugetlb ? huge : base;
    const psBig = BigInt(this.ps);
    let basePages = 0;
    let hugeBasePages = 0;
    const runs: HistogramRun[] = [];
    const wantRuns = this.opts.runs === true;
    let cursor = vma.start;
    if (!this.reader.scanAvailable && !hugetlb) {
      throw new PmapError(
        'UNSUPPORTED',
        'page size histograms need the PAGEMAP_SCAN ioctl (Linux 6.7+)',
      );
    }
    yield* this.presentRuns(vma, (a, b, cats) => {
      const isHuge = hugetlb || (cats & PAGE_IS_HUGE) !== 0;
      if (isHuge) hugeBasePages += b - a;
      else basePages += b - a;
      if (wantRuns) {
        const s = BigInt(a) * psBig;
        const e = BigInt(b) * psBig;
        pushRun(runs, cursor, s, gapSize, false);
        pushRun(runs, s, e, isHuge ? huge : base, true);
        cursor = e;
      }
    });
    if (wantRuns) pushRun(runs, cursor, vma.end, gapSize, false);
    const bins: HistogramBin[] = [];
    if (basePages > 0 || !hugetlb) {
      bins.push({
        key: sizeKey(base),
        pageSize: base,
        category: '',
        count: BigInt(basePages),
        bytes: BigInt(basePages) * base,
      });
    }
    {
      // Non-hugetlb VMAs always show both the base and the PMD bin; hugetlb ones their size.
      const bytes = BigInt(hugeBasePages) * base;
      bins.push({
        key: sizeKey(huge),
        pageSize: huge,
        category: '',
        count: (bytes + huge - 1n) / huge,
        bytes,
      });
    }
    h.bins = bins;
    h.runs = runs;
    h.presentPages = BigInt(basePages + hugeBasePages);
  }

  private numaEntries(): Map<bigint, NumaMapsEntry> {
    if (!this.numa) {
      let text = this.opts.numaMapsText;
      if (text === undefined) {
        const path = `${this.opts.procRoot ?? '/proc'}/${this.pid}/numa_maps`;
        try {
          text = readFileSync(path, 'utf8');
        } catch (e) {
          if ((e as { code?: string }).code === 'ENOENT' && this.reader) {
            // /proc/PID exists (pagemap opened) but no numa_maps: kernel without CONFIG_NUMA.
            throw new PmapError(
              'UNSUPPORTED',
              'this kernel has no /proc/PID/numa_maps (CONFIG_NUMA off)',
            );
          }
          throw procError(e, this.pid, 'numa_maps', true);
        }
      }
      this.numa = new Map(parseNumaMaps(text).map((e) => [e.start, e]));
    }
    return this.numa;
  }

  private *numaOf(vma: Vma, h: VmaHistogram): Steps {
    const entry = this.numaEntries().get(vma.start);
    const hugetlb = isHugetlbVma(vma);
    const kps =
      entry?.kernelPageSizeKb !== undefined
        ? entry.kernelPageSizeKb * 1024n
        : hugetlb
          ? this.hugetlbSize(vma)
          : BigInt(this.ps);
    const nodes = entry ? [...entry.nodes.entries()].sort((a, b) => a[0] - b[0]) : [];
    h.bins = nodes.map(([node, pages]) => ({
      key: `N${node}`,
      pageSize: kps,
      numaNode: node,
      category: '',
      count: pages,
      bytes: pages * kps,
    }));
    const present: number[] = [];
    let presentPages = 0;
    yield* this.presentRuns(vma, (a, b) => {
      presentPages += b - a;
      const n = present.length;
      if (n > 0 && present[n - 1] === a) present[n - 1] = b;
      else present.push(a, b);
    });
    h.presentPages = BigInt(presentPages);
    if (this.opts.runs === true) h.runs = yield* this.numaRuns(vma, present, kps);
  }

  /** Runs of pages on one node via move_pages(2) in query mode, batch by batch. */
  private *numaRuns(vma: Vma, present: number[], kps: bigint): Steps<HistogramRun[]> {
    const c = libc();
    if (!c)
      throw new PmapError(
        'UNSUPPORTED',
        'NUMA runs need move_pages(2) through libc (koffi could not load it)',
      );
    const batch = Math.max(1, this.opts.movePagesBatch ?? 16384);
    const pagesBuf = Buffer.alloc(batch * 8);
    const statusBuf = Buffer.alloc(batch * 4);
    const pw = new Uint32Array(pagesBuf.buffer, pagesBuf.byteOffset, batch * 2);
    const st = new Int32Array(statusBuf.buffer, statusBuf.byteOffset, batch);
    const ps = this.ps;
    const psBig = BigInt(ps);
    const runs: HistogramRun[] = [];
    let cursor = vma.start;
    // A run in progress, as page indices.
    let rs = -1;
    let re = -1;
    let rnode = -1;
    const flush = (): void => {
      if (rs < 0) return;
      const s = BigInt(rs) * psBig;
      pushRun(runs, cursor, s, kps, false);
      const e = BigInt(re) * psBig;
      pushRun(runs, s, e, kps, rnode >= 0, rnode >= 0 ? rnode : undefined);
      cursor = e;
      rs = -1;
    };
    for (let r = 0; r < present.length; r += 2) {
      for (let p = present[r]; p < present[r + 1];) {
        this.checkStop();
        const n = Math.min(batch, present[r + 1] - p);
        for (let i = 0; i < n; i++) {
          const addr = (p + i) * ps;
          pw[2 * i] = addr % TWO32;
          pw[2 * i + 1] = Math.floor(addr / TWO32);
        }
        if (c.movePages(this.pid, n, pagesBuf, statusBuf) < 0) {
          const errno = c.errno();
          if (errno === 3)
            throw new PmapError('EXITED', `process ${this.pid} exited during the read`);
          if (errno === 1 || errno === 13)
            throw new PmapError(
              'PERMISSION_DENIED',
              `move_pages on process ${this.pid}: permission denied`,
            );
          if (errno === 38)
            throw new PmapError(
              'UNSUPPORTED',
              'move_pages(2) is not available (kernel without NUMA)',
            );
          throw new PmapError(
            'UNAVAILABLE',
            `move_pages on process ${this.pid} failed: errno ${errno}`,
          );
        }
        for (let i = 0; i < n; i++) {
          const node = st[i] >= 0 ? st[i] : -1; // -ENOENT: not present
          const page = p + i;
          if (rs >= 0 && re === page && node === rnode) re++;
          else {
            flush();
            rs = page;
            re = page + 1;
            rnode = node;
          }
        }
        p += n;
        yield;
      }
    }
    flush();
    pushRun(runs, cursor, vma.end, kps, false);
    return runs;
  }
}

/** The histogram of every VMA (address order), one at a time, for streaming; returns the totals. */
export function* iterateHistogram(
  pid: number,
  vmas: readonly Vma[],
  opts: HistogramOptions,
): Generator<VmaHistogram, HistogramTotals, undefined> {
  const scanner = new HistogramScanner(pid, opts);
  try {
    for (const vma of vmas) {
      const h = scanner.scanVma(vma);
      if (h) yield h;
    }
    return scanner.totals();
  } finally {
    scanner.close();
  }
}

/** The histogram of a process: per-VMA results (omit filters applied, sorted) and totals. */
export function computeHistogram(
  pid: number,
  vmas: readonly Vma[],
  opts: HistogramOptions,
): HistogramResult {
  const out: VmaHistogram[] = [];
  const it = iterateHistogram(pid, vmas, opts);
  let r = it.next();
  while (!r.done) {
    out.push(r.value);
    r = it.next();
  }
  const sort = opts.sort ?? (opts.kind === 'order' ? 'memhist' : 'address');
  return {
    kind: opts.kind,
    vmas: sort === 'memhist' && opts.kind === 'order' ? sortByReversedOrders(out) : out,
    totals: r.value,
  };
}
