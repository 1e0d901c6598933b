/**
 * The present-page order histogram (mem_hist.py's measure of virtual contiguity), computed from
 * runs of present pages rather than page by page.
 *
 * c[n] = number of blocks of 2^n pages, aligned to 2^n pages, that lie inside the VMA and whose
 * pages are all present. Such a block lies inside one maximal run [a, b) of present pages, so
 * c[n] = sum over runs of max(0, floor(b / 2^n) - ceil(a / 2^n)). The histogram is the
 * buddy-style decomposition: h[max] = c[max], h[n] = c[n] - 2 c[n+1] (a block counted at order
 * n+1 removes its two halves from order n).
 *
 * compat 'memhist': mem_hist.py takes the first candidate block as
 * (start & ~(2^n - 1)) + 2^n, i.e. it only counts blocks that begin strictly after the VMA start;
 * at every order the block beginning at an aligned VMA start is skipped (at order 0 always). Its
 * early exit (stop when fewer than two blocks of the previous order) never changes a number.
 */

export class OrderAccumulator {
  private readonly counts: number[];
  private runStart = -1;
  private runEnd = -1;
  private present = 0;

  constructor(
    readonly maxOrder: number,
    /** First page of the VMA (page index). */
    private readonly vmaStartPage: number,
    private readonly compat: boolean,
  ) {
    this.counts = new Array<number>(maxOrder + 1).fill(0);
  }

  /** A run [startPage, endPage) of present pages; runs come in address order, may touch. */
  add(startPage: number, endPage: number): void {
    if (startPage === this.runEnd) {
      this.runEnd = endPage;
      return;
    }
    this.flush();
    this.runStart = startPage;
    this.runEnd = endPage;
  }

  private flush(): void {
    if (this.runStart < 0) return;
    const b = this.runEnd;
    let a = this.runStart;
    this.present += b - a;
    if (this.compat && a === this.vmaStartPage) a += 1;
    let size = 1;
    for (let n = 0; n <= this.maxOrder; n++, size *= 2) {
      const k = Math.floor(b / size) - Math.ceil(a / size);
      if (k <= 0) break; // no block of this order fits, so none of a higher one
      this.counts[n] += k;
    }
    this.runStart = -1;
    this.runEnd = -1;
  }

  presentPages(): number {
    this.flush();
    return this.present;
  }

  /** The decomposed histogram, index = order. */
  orders(): bigint[] {
    this.flush();
    const c = this.counts;
    const out = new Array<bigint>(c.length);
    for (let n = 0; n < c.length; n++) {
      out[n] = BigInt(n === c.length - 1 ? c[n] : c[n] - 2 * c[n + 1]);
    }
    return out;
  }
}

/** mem_hist.py's sort key comparison: histograms compared from the highest order down. */
export function compareReversedOrders(x: readonly bigint[], y: readonly bigint[]): number {
  const n = Math.max(x.length, y.length);
  for (let i = n - 1; i >= 0; i--) {
    const a = x[i] ?? 0n;
    const b = y[i] ?? 0n;
    if (a !== b) return a < b ? -1 : 1;
  }
  return 0;
}

/** Stable sort by reversed histogram (ascending: VMAs with more high-order blocks come last). */
export function sortByReversedOrders<T extends { orders: bigint[] }>(items: T[]): T[] {
  return items
    .map((v, i) => ({ v, i }))
    .sort((p, q) => compareReversedOrders(p.v.orders, q.v.orders) || p.i - q.i)
    .map((p) => p.v);
}
