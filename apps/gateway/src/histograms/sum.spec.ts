import { type HistogramBin, type HistogramTotals } from '@app/domain';
import { emptyTotals, sumTotals } from './sum';

const bin = (key: string, pageSize: bigint, count: bigint, numaNode?: number): HistogramBin => ({
  key,
  pageSize,
  category: '',
  count,
  bytes: count * pageSize,
  ...(numaNode !== undefined ? { numaNode } : {}),
});

describe('sumTotals', () => {
  it('adds orders index by index (different lengths too), pages and VMA counts', () => {
    const a: HistogramTotals = { orders: [1n, 2n, 3n], bins: [], presentPages: 17n, vmas: 4 };
    const b: HistogramTotals = { orders: [10n, 20n], bins: [], presentPages: 50n, vmas: 6 };
    expect(sumTotals('order', [a, b])).toEqual({
      orders: [11n, 22n, 3n],
      bins: [],
      presentPages: 67n,
      vmas: 10,
    });
    expect(a.orders).toEqual([1n, 2n, 3n]); // inputs untouched
  });

  it('adds bins by key and sorts pagesize bins by page size', () => {
    const a = { ...emptyTotals(), bins: [bin('4K', 4096n, 5n), bin('2M', 2097152n, 1n)] };
    const b = { ...emptyTotals(), bins: [bin('1G', 1n << 30n, 1n), bin('4K', 4096n, 7n)] };
    const s = sumTotals('pagesize', [a, b]);
    expect(s.bins.map((x) => [x.key, x.count, x.bytes])).toEqual([
      ['4K', 12n, 12n * 4096n],
      ['2M', 1n, 2097152n],
      ['1G', 1n, 1n << 30n],
    ]);
    expect(a.bins[0].count).toBe(5n); // not mutated through the sum
  });

  it('sorts numa bins by node; keeps physical bins in first-seen order', () => {
    const n = sumTotals('numa', [
      { ...emptyTotals(), bins: [bin('N1', 4096n, 2n, 1)] },
      { ...emptyTotals(), bins: [bin('N0', 4096n, 3n, 0), bin('N1', 4096n, 1n, 1)] },
    ]);
    expect(n.bins.map((x) => [x.key, x.count])).toEqual([
      ['N0', 3n],
      ['N1', 3n],
    ]);
    const p = sumTotals('physical', [
      { ...emptyTotals(), bins: [bin('AnonCont4K', 4096n, 1n), bin('FileCont4K', 4096n, 0n)] },
      { ...emptyTotals(), bins: [bin('AnonCont4K', 4096n, 2n), bin('FileCont4K', 4096n, 4n)] },
    ]);
    expect(p.bins.map((x) => [x.key, x.count])).toEqual([
      ['AnonCont4K', 3n],
      ['FileCont4K', 4n],
    ]);
  });

  it('of nothing is empty', () => {
    expect(sumTotals('order', [])).toEqual(emptyTotals());
  });
});
