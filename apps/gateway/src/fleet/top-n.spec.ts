import { TopN } from './top-n';

describe('TopN', () => {
  const byDesc = (a: number, b: number): number => b - a;

  it('keeps the best n of any order of candidates, best first (the same as sorting all)', () => {
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % 1000;
    for (const n of [0, 1, 3, 20, 50]) {
      const all = Array.from({ length: 200 }, rnd);
      const t = new TopN(n, byDesc);
      for (const x of all) t.offer(x);
      expect(t.sorted()).toEqual([...all].sort(byDesc).slice(0, n));
      expect(t.size).toBe(Math.min(n, all.length));
    }
  });

  it('keeps the first of equal candidates by the order (ties decided by the comparator)', () => {
    type C = { v: number; id: number };
    const order = (a: C, b: C): number => b.v - a.v || a.id - b.id;
    const t = new TopN<C>(2, order);
    for (const id of [5, 3, 9, 1]) t.offer({ v: 10, id });
    expect(t.sorted().map((c) => c.id)).toEqual([1, 3]);
  });
});
