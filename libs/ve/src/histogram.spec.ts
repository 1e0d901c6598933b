import { PmapError, type Vma } from '@app/domain';
import { residentBytes, veHistogram, type VeHistogramOptions } from './histogram';

const M2 = 2n * 1024n * 1024n;
const M64 = 64n * 1024n * 1024n;

/** A VE VMA of `pages` 2 MiB pages at page `at`, with Rss (kB) and KernelPageSize (kB). */
function veVma(at: bigint, pages: bigint, rssPages: bigint, name = '', kps = 2048n): Vma {
  const size = pages * M2;
  return {
    start: at * M2,
    end: at * M2 + size,
    perms: 'rw-p',
    offset: 0n,
    devMajor: 0,
    devMinor: 0,
    inode: 0n,
    name,
    kind: name.startsWith('/') ? 'file' : 'anon',
    fields: [
      { name: 'Size', value: size / 1024n, kb: true },
      { name: 'Rss', value: (rssPages * M2) / 1024n, kb: true },
      { name: 'KernelPageSize', value: kps, kb: true },
    ],
  };
}

const base: VeHistogramOptions = {
  kind: 'order',
  omitFileBacked: false,
  omitUnfaulted: false,
  maxOrder: 9,
  compat: false,
  runs: false,
};

describe('VE histograms from the VE map', () => {
  test('order: a wholly resident VMA counts its aligned blocks; an unfaulted one nothing', () => {
    // 4 pages at page 4 (aligned to 4): one order-2 block; 3 pages at page 16, none resident
    const { vmas, totals } = veHistogram([veVma(4n, 4n, 4n), veVma(16n, 3n, 0n)], base);
    expect(totals.orders[2]).toBe(1n);
    expect(totals.orders.reduce((a, b) => a + b, 0n)).toBe(1n);
    expect(totals.presentPages).toBe(4n);
    expect(totals.vmas).toBe(2);
    expect(vmas).toHaveLength(2);
    expect(veHistogram([veVma(16n, 3n, 0n)], { ...base, omitUnfaulted: true }).vmas).toEqual([]);
  });

  test('pagesize: one bin per VMA of its page size; totals always carry 2M and 64M', () => {
    const big = veVma(32n, 64n, 64n, '', 65536n);
    const { vmas, totals } = veHistogram([veVma(4n, 4n, 2n), big], { ...base, kind: 'pagesize' });
    expect(vmas[0].bins).toEqual([
      expect.objectContaining({ pageSize: M2, count: 2n, bytes: 2n * M2 }),
    ]);
    expect(vmas[1].bins).toEqual([expect.objectContaining({ pageSize: M64, count: 2n })]);
    expect(totals.bins.map((b) => [b.pageSize, b.count])).toEqual([
      [M2, 2n],
      [M64, 2n],
    ]);
  });

  test('a partially resident VMA is UNSUPPORTED where placement matters, never guessed', () => {
    const partial = veVma(4n, 4n, 2n);
    expect(() => veHistogram([partial], base)).toThrow(/partially resident/);
    expect(() => residentBytes(partial, true)).toThrow(PmapError);
    expect(residentBytes(partial, false)).toBe(2n * M2);
    expect(() => veHistogram([partial], { ...base, kind: 'physical' })).toThrow(/not supported/);
    expect(() => veHistogram([partial], { ...base, kind: 'numa' })).toThrow(/not supported/);
  });

  test('omitFileBacked leaves file VMAs out of the list but not out of the totals', () => {
    const r = veHistogram([veVma(4n, 4n, 4n, '/lib/x.so'), veVma(8n, 4n, 4n)], {
      ...base,
      omitFileBacked: true,
    });
    expect(r.vmas.map((v) => v.name)).toEqual(['']);
    expect(r.totals.presentPages).toBe(8n);
  });
});
