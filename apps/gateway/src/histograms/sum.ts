/**
 * Sums of histogram totals (fleet aggregates): `orders` added index by index, `bins` added by key
 * (count and bytes), present pages and VMA counts added. Pure functions over bigints.
 */
import { type HistogramBin, type HistogramKind, type HistogramTotals } from '@app/domain';

export function emptyTotals(): HistogramTotals {
  return { orders: [], bins: [], presentPages: 0n, vmas: 0 };
}

function compareBins(kind: HistogramKind): ((a: HistogramBin, b: HistogramBin) => number) | null {
  const byPageSize = (a: HistogramBin, b: HistogramBin): number =>
    a.pageSize < b.pageSize ? -1 : a.pageSize > b.pageSize ? 1 : 0;
  if (kind === 'pagesize') return byPageSize;
  if (kind === 'numa') return (a, b) => (a.numaNode ?? 0) - (b.numaNode ?? 0) || byPageSize(a, b);
  return null; // physical: every answer has the same 20 bins in the same order; keep it
}

/**
 * The sum of `parts`. Bins keep the order in which their keys first appear, then pagesize bins
 * are sorted by page size and numa bins by node (as one process's totals are).
 */
export function sumTotals(kind: HistogramKind, parts: readonly HistogramTotals[]): HistogramTotals {
  const orders: bigint[] = [];
  const bins = new Map<string, HistogramBin>();
  let presentPages = 0n;
  let vmas = 0;
  for (const t of parts) {
    presentPages += t.presentPages;
    vmas += t.vmas;
    for (let i = 0; i < t.orders.length; i++) orders[i] = (orders[i] ?? 0n) + t.orders[i];
    for (const b of t.bins) {
      const have = bins.get(b.key);
      if (have) {
        have.count += b.count;
        have.bytes += b.bytes;
      } else {
        bins.set(b.key, { ...b });
      }
    }
  }
  const list = [...bins.values()];
  const cmp = compareBins(kind);
  if (cmp) list.sort(cmp);
  return { orders, bins: list, presentPages, vmas };
}
