/**
 * Histograms of a VE process from its VE map alone (VEOS exposes no page tables, no PFNs and no
 * NUMA placement of VE memory):
 *
 * - pagesize: per VMA one bin of its VE page size (KernelPageSize: 2M or 64M), count = resident
 *   pages of that size (Rss / page size), bytes = Rss; totals always carry 2M and 64M.
 * - order: virtual contiguity at VE page granularity (2 MiB pages, page index = address / 2M).
 *   VEOS reports only a per-VMA Rss, not which pages are present, so this is exact only for
 *   VMAs that are wholly resident (Rss = Size) or not at all (Rss = 0). A partially resident
 *   VMA is UNSUPPORTED, naming the VMA — never a guessed histogram.
 * - physical, numa: UNSUPPORTED "not supported on VE".
 *
 * presentPages counts 2 MiB VE pages. Totals cover every VMA given (omitted ones included), as on
 * the host.
 */
import {
  PmapError,
  sizeKey,
  type AddressRange,
  type HistogramBin,
  type HistogramKind,
  type HistogramRun,
  type HistogramTotals,
  type Vma,
  type VmaHistogram,
} from '@app/domain';
import { OrderAccumulator, sortByReversedOrders } from '@app/procfs';
import { veField } from './mapinfo';
import { VE_PAGE_SIZE } from './source';

/** Histogram options the VE side understands (validated by the caller). */
export interface VeHistogramOptions {
  kind: HistogramKind;
  range?: AddressRange;
  omitFileBacked: boolean;
  omitUnfaulted: boolean;
  maxOrder: number;
  compat: boolean;
  runs: boolean;
}

const LARGE_PAGE = 64n * 1024n * 1024n;

function hex(n: bigint): string {
  return '0x' + n.toString(16);
}

/** Throws UNSUPPORTED for the kinds a VE process cannot have (before anything is read). */
export function assertVeHistogramKind(kind: HistogramKind): void {
  if (kind === 'physical') {
    throw new PmapError(
      'UNSUPPORTED',
      'physical histograms are not supported on VE: VEOS exposes no VE page frame numbers',
    );
  }
  if (kind === 'numa') {
    throw new PmapError(
      'UNSUPPORTED',
      'numa histograms are not supported on VE: VE memory is the card HBM, not a host NUMA node',
    );
  }
}

/**
 * Resident bytes of a VE VMA within [start, end). A wholly resident VMA (Rss = Size) or one with
 * Rss 0 is exact also when clipped by a range; a partially resident one is exact only unclipped
 * and when where its pages lie does not matter (`needPlacement` false).
 */
export function residentBytes(v: Vma, needPlacement: boolean): bigint {
  const size = veField(v, 'Size') * 1024n;
  const rss = veField(v, 'Rss') * 1024n;
  const len = v.end - v.start;
  if (rss === 0n) return 0n;
  if (rss >= size) return len;
  if (!needPlacement && len === size) return rss;
  throw new PmapError(
    'UNSUPPORTED',
    `not supported on VE: VMA ${hex(v.start)}-${hex(v.end)} is partially resident (Rss ${rss / 1024n} of ${size / 1024n} kB) and VEOS reports only a per-VMA Rss, not which pages are present`,
  );
}

/** The histogram of a VE map's VMAs (already range-filtered): per-VMA results and totals. */
export function veHistogram(
  vmas: readonly Vma[],
  opts: VeHistogramOptions,
): { vmas: VmaHistogram[]; totals: HistogramTotals } {
  assertVeHistogramKind(opts.kind);
  const out: VmaHistogram[] = [];
  const totalOrders = new Array<bigint>(opts.maxOrder + 1).fill(0n);
  const totalBins = new Map<string, HistogramBin>();
  if (opts.kind === 'pagesize') {
    for (const ps of [VE_PAGE_SIZE, LARGE_PAGE]) {
      const key = sizeKey(ps);
      totalBins.set(key, { key, pageSize: ps, category: '', count: 0n, bytes: 0n });
    }
  }
  let present = 0n;
  for (const v of vmas) {
    const resident = residentBytes(v, opts.kind === 'order' || opts.runs);
    const pageSize = veField(v, 'KernelPageSize') * 1024n || VE_PAGE_SIZE;
    const presentPages = resident / VE_PAGE_SIZE;
    present += presentPages;
    const h: VmaHistogram = {
      start: v.start,
      end: v.end,
      perms: v.perms,
      name: v.name,
      kind: v.kind,
      orders: [],
      bins: [],
      runs: [],
      presentPages,
      fileBacked: v.name.startsWith('/'),
    };
    if (opts.kind === 'order') {
      const first = Number(v.start / VE_PAGE_SIZE);
      const acc = new OrderAccumulator(opts.maxOrder, first, opts.compat);
      if (resident > 0n) acc.add(first, Number(v.end / VE_PAGE_SIZE));
      h.orders = acc.orders();
      h.orders.forEach((c, i) => (totalOrders[i] += c));
    } else {
      const key = sizeKey(pageSize);
      const bin: HistogramBin = {
        key,
        pageSize,
        category: '',
        count: resident / pageSize,
        bytes: resident,
      };
      h.bins = [bin];
      const t = totalBins.get(key) ?? { key, pageSize, category: '', count: 0n, bytes: 0n };
      t.count += bin.count;
      t.bytes += bin.bytes;
      totalBins.set(key, t);
      if (opts.runs) {
        const run: HistogramRun = { start: v.start, end: v.end, pageSize, present: resident > 0n };
        h.runs = [run];
      }
    }
    if (opts.omitFileBacked && h.fileBacked) continue;
    if (opts.omitUnfaulted && presentPages === 0n) continue;
    out.push(h);
  }
  const totals: HistogramTotals = {
    orders: opts.kind === 'order' ? totalOrders : [],
    bins: [...totalBins.values()].sort((a, b) => (a.pageSize < b.pageSize ? -1 : 1)),
    presentPages: present,
    vmas: vmas.length,
  };
  return { vmas: opts.kind === 'order' ? sortByReversedOrders(out) : out, totals };
}
