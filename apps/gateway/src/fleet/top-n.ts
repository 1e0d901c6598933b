/**
 * The best `n` of a stream of candidates by an order (first = best), in O(log n) per candidate
 * that makes it and O(1) per candidate that does not: a bounded binary heap whose root is the
 * worst kept. The fleet audit merges every node's top N into the fleet's with it instead of
 * sorting every node's candidates.
 */
export class TopN<T> {
  private readonly heap: T[] = [];

  /** @param order negative when `a` ranks before (is better than) `b` */
  constructor(
    readonly n: number,
    private readonly order: (a: T, b: T) => number,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** Considers a candidate: kept when fewer than n are, or when better than the worst kept. */
  offer(item: T): void {
    const h = this.heap;
    if (this.n <= 0) return;
    if (h.length < this.n) {
      h.push(item);
      this.up(h.length - 1);
      return;
    }
    if (this.order(item, h[0]) >= 0) return; // not better than the worst kept
    h[0] = item;
    this.down(0);
  }

  /** What was kept, best first. */
  sorted(): T[] {
    return [...this.heap].sort(this.order);
  }

  // max-heap on `order`: the parent is worse than (ranks after) its children
  private worse(i: number, j: number): boolean {
    return this.order(this.heap[i], this.heap[j]) > 0;
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.worse(i, parent)) return;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < h.length && this.worse(l, w)) w = l;
      if (r < h.length && this.worse(r, w)) w = r;
      if (w === i) return;
      [h[i], h[w]] = [h[w], h[i]];
      i = w;
    }
  }
}
