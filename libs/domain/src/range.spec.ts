import fc from 'fast-check';
import { filterVmasByRange, parseAddressRange, PmapError, type Vma } from '@app/domain';
import { parseMaps, parseSmaps } from '@app/procfs';

import { readFixture } from '../../../test/fixtures/paths';

const fx = (name: string): string => readFixture('procps-4.0.2', name);
const VMAS = parseMaps(fx('target_proc_maps.txt'));

/** The `-A` argument of a fixture run, from commands.txt. */
function argOf(name: string): string {
  const line = fx('commands.txt')
    .split('\n')
    .find((l) => l.startsWith(name + ':'))!;
  return / -A (\S+) /.exec(line)![1];
}

/** Start addresses pmap printed in a default-mode output. */
function printedStarts(name: string): bigint[] {
  return fx(name)
    .trimEnd()
    .split('\n')
    .slice(1, -1)
    .map((row) => BigInt('0x' + row.split(' ')[0]));
}

describe('parseAddressRange + filterVmasByRange (procps semantics) against pmap 4.0.2 -A', () => {
  it.each([
    't_A_single.txt',
    't_A_mid.txt',
    't_A_low_only.txt',
    't_A_high_only.txt',
    't_A_lowhigh.txt',
    't_A_0x.txt',
  ])('%s selects the same VMAs as pmap', (name) => {
    const range = parseAddressRange(argOf(name));
    const got = filterVmasByRange(VMAS, range).map((v) => v.start);
    expect(got).toEqual(printedStarts(name));
    expect(got.length).toBeGreaterThan(0);
  });

  it('a single address at a VMA start selects only that VMA, not the one ending there', () => {
    const r = parseAddressRange('7f87adf00000');
    expect(r).toEqual({ low: 0x7f87adf00000n, high: 0x7f87adf00000n });
    const got = filterVmasByRange(VMAS, r);
    expect(got.map((v) => v.name)).toEqual(['/SYSV00000000 (deleted)']);
    expect(VMAS.some((v) => v.end === 0x7f87adf00000n)).toBe(true);
  });

  it('high only includes the VMA starting at high; low only runs to the top', () => {
    const hi = filterVmasByRange(VMAS, parseAddressRange(',55b750050000'));
    expect(hi[hi.length - 1].start).toBe(0x55b750050000n);
    expect(hi).toHaveLength(3);
    const lo = filterVmasByRange(VMAS, parseAddressRange('7f87b3916000,'));
    expect(lo.map((v) => v.name)).toEqual([
      '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
      '[stack]',
      '[vsyscall]',
    ]);
  });

  it('rejects what pmap rejects, naming the problem', () => {
    const err = (text: string): PmapError => {
      try {
        parseAddressRange(text);
      } catch (e) {
        expect(e).toBeInstanceOf(PmapError);
        return e as PmapError;
      }
      throw new Error(`accepted ${text}`);
    };
    expect(fx('t_A_bad.err')).toContain("'zz'");
    const bad = err('zz');
    expect(bad.code).toBe('INVALID_ARGUMENT');
    expect(bad.message).toContain("'zz'");
    expect(bad.message).toMatch(/hexadecimal/);
    expect(bad.field).toBe('range');
    const three = err('1,2,3');
    expect(three.code).toBe('INVALID_ARGUMENT');
    expect(three.message).toMatch(/one comma/);
    expect(err('2,1').message).toMatch(/above/);
    expect(err('1ffffffffffffffff').message).toMatch(/64 bits/);
    expect(err(',,').code).toBe('INVALID_ARGUMENT');
    expect(() => parseAddressRange('0x')).toThrow(PmapError);
    expect(parseAddressRange('ab', { field: 'addr' })).toEqual({ low: 0xabn, high: 0xabn });
    expect(err('g').message).toMatch(/^range: /);
  });

  it("a lone ',' is open for procps and a usage error for illumos", () => {
    expect(filterVmasByRange(VMAS, parseAddressRange(','))).toHaveLength(VMAS.length);
    expect(() => parseAddressRange(',', { illumos: true })).toThrow(/',' alone/);
  });

  it('overlap selection agrees with a brute-force definition', () => {
    const addr = fc.constantFrom(
      ...VMAS.flatMap((v) => [v.start, v.end - 1n, v.end, v.start + 0x123n]),
    );
    fc.assert(
      fc.property(addr, addr, (a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        const got = filterVmasByRange(VMAS, { low, high });
        const want = VMAS.filter((v) => v.start <= high && v.end > low);
        expect(got).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });
});

describe('filterVmasByRange with illumos clip semantics', () => {
  const SMAPS = parseSmaps(fx('target_proc_smaps.txt'));
  const clip = (text: string): Vma[] =>
    filterVmasByRange(SMAPS, parseAddressRange(text, { clip: true, illumos: true }));

  it('a single address equal to a segment start gives the whole segment, fields kept', () => {
    const got = clip('7f87adf00000');
    expect(got).toHaveLength(1);
    expect(got[0].start).toBe(0x7f87adf00000n);
    expect(got[0].end).toBe(0x7f87ae000000n);
    expect(got[0].fields).toBeDefined();
  });

  it('a mid address clips to its page; clipped rows drop fields and shift the offset', () => {
    const got = clip('7f87b2853100'); // inside "data file.bin" (offset 0)
    expect(got).toHaveLength(1);
    expect(got[0].start).toBe(0x7f87b2853000n);
    expect(got[0].end).toBe(0x7f87b2854000n);
    expect(got[0].fields).toBeUndefined();
    expect(got[0].vmFlags).toBeUndefined();
    const mid = clip('7f87b2855000,7f87b2856fff');
    expect(mid[0].offset).toBe(0x2000n);
    expect(mid[0].end - mid[0].start).toBe(0x2000n);
    // the source VMA is untouched
    expect(SMAPS.find((v) => v.start === 0x7f87b2853000n)!.fields).toBeDefined();
  });

  it('low rounds down, high rounds up to the end of its page; ranges across VMAs clip both ends', () => {
    const got = clip('7f87adc00fff,7f87add00001');
    expect(got.map((v) => [v.start, v.end])).toEqual([
      [0x7f87adc00000n, 0x7f87add00000n],
      [0x7f87add00000n, 0x7f87add01000n],
    ]);
    expect(got[0].fields).toBeDefined(); // whole first VMA: unchanged
    expect(got[1].fields).toBeUndefined();
    const open = clip('7fffb9d24000,');
    expect(open.map((v) => v.name)).toEqual(['[stack]', '[vsyscall]']);
    expect(open[0].start).toBe(0x7fffb9d24000n);
    const low = clip(',55b75004e7ff');
    expect(low.map((v) => [v.start, v.end])).toEqual([[0x55b75004e000n, 0x55b75004f000n]]);
  });

  it('without a range everything passes through (same array)', () => {
    expect(filterVmasByRange(SMAPS, undefined)).toBe(SMAPS);
    expect(filterVmasByRange(SMAPS, {})).toBe(SMAPS);
  });
});
