import fc from 'fast-check';
import { OrderAccumulator, compareReversedOrders, sortByReversedOrders } from './order';
import { PhysicalBins, isFileBackedName, sizeKey } from './histogram';

/** Brute force from the definition: aligned all-present blocks, then the buddy decomposition. */
function bruteOrders(
  present: boolean[],
  vmaStart: number,
  maxOrder: number,
  skipStart: boolean,
): bigint[] {
  const end = vmaStart + present.length;
  const c: number[] = [];
  for (let n = 0; n <= maxOrder; n++) {
    const size = 2 ** n;
    let k = 0;
    for (let b = Math.ceil(vmaStart / size) * size; b + size <= end; b += size) {
      if (skipStart && b === vmaStart) continue;
      let all = true;
      for (let p = b; p < b + size; p++) if (!present[p - vmaStart]) all = false;
      if (all) k++;
    }
    c.push(k);
  }
  return c.map((x, n) => BigInt(n === maxOrder ? x : x - 2 * c[n + 1]));
}

/** mem_hist.py's loop, transcribed from its description (first block = (start & ~m) + 2^n). */
function memhistLoop(present: boolean[], s: number, maxOrder: number): bigint[] {
  const e = s + present.length;
  const hist = new Array<number>(maxOrder + 1).fill(0);
  for (let order = 0; order <= maxOrder; order++) {
    if (order > 0 && hist[order - 1] < 2) break;
    const size = 2 ** order;
    const first = Math.floor(s / size) * size + size;
    const last = Math.floor(e / size) * size;
    for (let b = first; b < last; b += size) {
      let all = true;
      for (let p = b; p < b + size; p++) if (!present[p - s]) all = false;
      if (all) {
        hist[order]++;
        if (order > 0) hist[order - 1] -= 2;
      }
    }
  }
  return hist.map(BigInt);
}

function viaRuns(
  present: boolean[],
  s: number,
  maxOrder: number,
  compat: boolean,
  split: boolean,
): OrderAccumulator {
  const acc = new OrderAccumulator(maxOrder, s, compat);
  let i = 0;
  while (i < present.length) {
    if (!present[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < present.length && present[j]) j++;
    // PAGEMAP_SCAN may split a run (categories, full vec): feed it in two touching pieces.
    if (split && j - i > 1) {
      const m = i + Math.floor((j - i) / 2);
      acc.add(s + i, s + m);
      acc.add(s + m, s + j);
    } else acc.add(s + i, s + j);
    i = j;
  }
  return acc;
}

describe('OrderAccumulator', () => {
  it('a fully present 2 MiB-aligned 1024-page VMA is two order-9 blocks; memhist says one of each', () => {
    const present = new Array<boolean>(1024).fill(true);
    const ok = viaRuns(present, 512 * 7, 9, false, false);
    expect(ok.orders()).toEqual([0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 2n]);
    expect(ok.presentPages()).toBe(1024);
    const mh = viaRuns(present, 512 * 7, 9, true, false);
    expect(mh.orders()).toEqual(new Array(10).fill(1n));
  });

  it('matches the brute-force definition and the memhist loop on random layouts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 9 }),
        fc.boolean(),
        (present, s, maxOrder, split) => {
          expect(viaRuns(present, s, maxOrder, false, split).orders()).toEqual(
            bruteOrders(present, s, maxOrder, false),
          );
          expect(viaRuns(present, s, maxOrder, true, split).orders()).toEqual(
            memhistLoop(present, s, maxOrder),
          );
          expect(bruteOrders(present, s, maxOrder, true)).toEqual(
            memhistLoop(present, s, maxOrder),
          );
          const n = present.filter(Boolean).length;
          const orders = viaRuns(present, s, maxOrder, false, split).orders();
          // Correct counting accounts for every present page exactly once.
          expect(orders.reduce((t, x, i) => t + x * 2n ** BigInt(i), 0n)).toBe(BigInt(n));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sorts by reversed histogram, stably', () => {
    const a = { id: 'a', orders: [5n, 0n, 1n] };
    const b = { id: 'b', orders: [0n, 3n, 0n] };
    const c = { id: 'c', orders: [9n, 0n, 0n] };
    const d = { id: 'd', orders: [0n, 3n, 0n] };
    expect(sortByReversedOrders([a, b, c, d]).map((x) => x.id)).toEqual(['c', 'b', 'd', 'a']);
    expect(compareReversedOrders([1n, 0n], [0n, 1n])).toBe(-1);
  });
});

describe('PhysicalBins', () => {
  it('bins a run by PMD blocks, then the remainder by its binary digits', () => {
    const b = new PhysicalBins(4096);
    b.add(512 * 2 + 5, false); // 2 x 2M + 4 pages + 1 page
    b.add(3, true); // 8K + 4K
    const byKey = new Map(b.bins().map((x) => [x.key, x]));
    expect(byKey.get('AnonCont2M')!.count).toBe(2n);
    expect(byKey.get('AnonCont16K')!.count).toBe(1n);
    expect(byKey.get('AnonCont4K')!.count).toBe(1n);
    expect(byKey.get('AnonCont8K')!.count).toBe(0n);
    expect(byKey.get('FileCont8K')!.bytes).toBe(8192n);
    expect(byKey.get('FileCont4K')!.count).toBe(1n);
    expect(b.bins()).toHaveLength(20);
    const total = b.bins().reduce((t, x) => t + x.bytes, 0n);
    expect(total).toBe(BigInt((1029 + 3) * 4096));
  });
});

describe('helpers', () => {
  it('sizeKey', () => {
    expect([4096n, 65536n, 2n << 20n, 1n << 30n, 12288n].map(sizeKey)).toEqual([
      '4K',
      '64K',
      '2M',
      '1G',
      '12K',
    ]);
  });
  it('isFileBackedName follows mem_hist.py (memfds are anonymous)', () => {
    expect(isFileBackedName('/usr/lib/libc.so.6')).toBe(true);
    expect(isFileBackedName('/tmp/x (deleted)')).toBe(true);
    expect(isFileBackedName('/memfd:crosvm (deleted)')).toBe(false);
    expect(isFileBackedName('[heap]')).toBe(false);
    expect(isFileBackedName('')).toBe(false);
    expect(isFileBackedName('/')).toBe(false);
  });
});
