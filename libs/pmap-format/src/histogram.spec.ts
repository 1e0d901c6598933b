import { spawnSync } from 'node:child_process';
import {
  type ProcessHeader,
  type HistogramBin,
  type HistogramTotals,
  type VmaHistogram,
} from '@app/domain';
import { renderHistogram, renderMemHist, type HistogramTextInput } from '@app/pmap-format';

const header: ProcessHeader = {
  pid: 4242,
  cmdline: './layouts --x',
  comm: 'layouts',
  startStack: 0x7ffd0001f000n,
  kernelThread: false,
  uid: 0,
};

function vh(p: Partial<VmaHistogram> & Pick<VmaHistogram, 'start' | 'end'>): VmaHistogram {
  return {
    perms: 'rw-p',
    name: '',
    kind: 'anon',
    orders: [],
    bins: [],
    runs: [],
    presentPages: 0n,
    fileBacked: false,
    ...p,
  };
}

const orders = (...n: number[]): bigint[] => n.map(BigInt);

describe('renderMemHist (order)', () => {
  const input: HistogramTextInput = {
    kind: 'order',
    header,
    vmas: [
      vh({ start: 0x7f0000000000n, end: 0x7f0000004000n, orders: orders(0, 2, 0, 0) }),
      vh({
        start: 0x55d0c0a00000n,
        end: 0x55d0c0e00000n,
        perms: 'r--p',
        name: '/usr/lib/x86_64-linux-gnu/libc.so.6',
        orders: orders(1, 1, 1, 12),
        fileBacked: true,
      }),
    ],
    totals: { orders: orders(1, 3, 1, 12), bins: [], presentPages: 100n, vmas: 3 },
  };

  it("prints the script's lines with its Python format widths", () => {
    const text = renderMemHist(input);
    const lines = text.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe(
      'process ' +
        '4242'.padEnd(18) +
        ' ' +
        'layouts'.padEnd(25) +
        ' ' +
        '[1, 3, 1, 12]'.padEnd(50),
    );
    expect(lines[1]).toBe(
      '  00007f0000000000-00007f0000004000 16k      rw-p ' +
        '[0, 2, 0, 0]'.padEnd(50) +
        ' ' +
        ''.padEnd(40),
    );
    expect(
      lines[2].startsWith('  000055d0c0a00000-000055d0c0e00000 4096k    r--p [1, 1, 1, 12]'),
    ).toBe(true);
    expect(lines[2].endsWith(' /usr/lib/x86_64-linux-gnu/libc.so.6     ')).toBe(true);
    expect(lines[3]).toBe('');
    expect(renderHistogram(input, { quiet: true })).toBe(lines.slice(1).join('\n'));
  });

  const python = spawnSync('python3', ['--version']).status === 0;
  (python ? it : it.skip)(
    'is byte-identical to the format strings of mem_hist.py run by Python',
    () => {
      // The two format strings and the print(" ", vma) of the script, fed with the same data.
      const script = `
import sys
hist = [1, 3, 1, 12]
print("process {pid:<18} {name:<25} {hist:<50}".format(pid=4242, name="layouts", hist=str(hist)))
for s, e, p, h, f in [(0x7f0000000000, 0x7f0000004000, "rw-p", [0, 2, 0, 0], ""),
                      (0x55d0c0a00000, 0x55d0c0e00000, "r--p", [1, 1, 1, 12], "/usr/lib/x86_64-linux-gnu/libc.so.6")]:
    line = ("{start:016x}-{end:016x} {size:<8} {perms:<4} {hist:<50} "
            "{mapped_file:<40}").format(start=s, end=e, size="%dk" % ((e - s) // 1024),
                                        perms=p, hist=str(h), mapped_file=str(f))
    print(" ", line)
`;
      const r = spawnSync('python3', ['-c', script], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(renderMemHist(input)).toBe(r.stdout);
    },
  );

  it('names the process by the first word of comm, as the script does', () => {
    const text = renderMemHist({ ...input, header: { ...header, comm: 'Web Content' } });
    expect(text.split('\n')[0]).toContain(' Web                       [');
  });
});

function physBins(anon: number[], file: number[]): HistogramBin[] {
  const out: HistogramBin[] = [];
  for (const [cat, prefix, arr] of [
    ['anon', 'AnonCont', anon],
    ['file', 'FileCont', file],
  ] as const) {
    arr.forEach((n, i) => {
      const size = 4096n << BigInt(i);
      const label = size >= 1n << 20n ? `${size >> 20n}M` : `${size >> 10n}K`;
      out.push({
        key: prefix + label,
        pageSize: size,
        category: cat,
        count: BigInt(n),
        bytes: BigInt(n) * size,
      });
    });
  }
  return out;
}

describe('physical table', () => {
  it('one row per VMA and category, block counts per bin, totals per category', () => {
    const z = new Array<number>(10).fill(0);
    const a = [...z];
    a[0] = 2;
    a[9] = 1;
    const f = [...z];
    f[3] = 1;
    const totals: HistogramTotals = {
      orders: [],
      bins: physBins(a, f),
      presentPages: 522n,
      vmas: 2,
    };
    const text = renderHistogram({
      kind: 'physical',
      header,
      vmas: [
        vh({ start: 0x10000n, end: 0x212000n, bins: physBins(a, z) }),
        vh({ start: 0x300000n, end: 0x308000n, name: '/memfd:x (deleted)', bins: physBins(z, f) }),
        vh({
          start: 0x400000n,
          end: 0x401000n,
          name: '[heap]',
          kind: 'heap',
          bins: physBins(z, z),
        }),
      ],
      totals,
    });
    const lines = text.split('\n');
    expect(lines[0]).toBe('4242:\t./layouts --x');
    expect(lines[1]).toBe(
      '         Address     Kbytes Cat       4K      8K     16K     32K     64K    128K    256K    512K      1M      2M Mapped File',
    );
    expect(lines[2]).toBe(
      '0000000000010000       2056 anon       2       -       -       -       -       -       -       -       -       1 [ anon ]',
    );
    expect(lines[3]).toMatch(
      /^0000000000300000 {9}32 file {7}- {7}- {7}- {7}1 .* \/memfd:x \(deleted\)$/,
    );
    expect(lines[4]).toMatch(/^0000000000400000 {10}4 - {3}( {7}-){10} \[ heap \]$/);
    expect(lines[5]).toMatch(/^ {11}total {12}anon {7}2( {7}-){8} {7}1$/);
    expect(lines[6]).toMatch(/^ {11}total {12}file( {7}-){3} {7}1( {7}-){6}$/);
  });
});

describe('pagesize and numa', () => {
  const thp = vh({
    start: 0x7f0000000000n,
    end: 0x7f0000600000n,
    bins: [
      { key: '4K', pageSize: 4096n, category: '', count: 4n, bytes: 16384n },
      { key: '2M', pageSize: 2n << 20n, category: '', count: 2n, bytes: 4n << 20n },
    ],
    runs: [
      { start: 0x7f0000000000n, end: 0x7f0000400000n, pageSize: 2n << 20n, present: true },
      { start: 0x7f0000400000n, end: 0x7f0000404000n, pageSize: 4096n, present: true },
      { start: 0x7f0000404000n, end: 0x7f0000600000n, pageSize: 4096n, present: false },
    ],
  });
  const totals: HistogramTotals = { orders: [], bins: thp.bins, presentPages: 1028n, vmas: 1 };

  it('pagesize with runs: illumos pmap -s rows', () => {
    const text = renderHistogram({ kind: 'pagesize', header, vmas: [thp], totals }, { runs: true });
    expect(text).toBe(
      [
        '4242:\t./layouts --x',
        '         Address     Kbytes Pgsz Mode   Mapped File',
        '00007F0000000000       4096   2M rw---  [ anon ]',
        '00007F0000400000         16   4K rw---  [ anon ]',
        '00007F0000404000       2032    - rw---  [ anon ]',
        '---------------- ----------',
        '        total Kb       6144',
        '',
      ].join('\n'),
    );
  });

  it('pagesize without runs: KiB per page size per VMA', () => {
    const text = renderHistogram({ kind: 'pagesize', header, vmas: [thp], totals });
    expect(text.split('\n').slice(1, 4)).toEqual([
      '         Address     Kbytes         4K         2M Mode   Mapped File',
      '00007F0000000000       6144         16       4096 rw---  [ anon ]',
      '        total Kb       6144         16       4096',
    ]);
  });

  it('numa with runs: illumos pmap -L rows (Lgrp = node, - when not present)', () => {
    const v = vh({
      start: 0x1000n,
      end: 0x5000n,
      perms: 'r-xp',
      name: '/usr/bin/cat',
      kind: 'file',
      bins: [{ key: 'N0', pageSize: 4096n, numaNode: 0, category: '', count: 2n, bytes: 8192n }],
      runs: [
        { start: 0x1000n, end: 0x2000n, pageSize: 4096n, numaNode: 0, present: true },
        { start: 0x2000n, end: 0x3000n, pageSize: 4096n, numaNode: 1, present: true },
        { start: 0x3000n, end: 0x5000n, pageSize: 4096n, present: false },
      ],
    });
    const text = renderHistogram(
      { kind: 'numa', header, vmas: [v], totals: { ...totals, bins: v.bins } },
      { runs: true, quiet: true },
    );
    expect(text).toBe(
      [
        '0000000000001000          4    0 r-x--  /usr/bin/cat',
        '0000000000002000          4    1 r-x--  /usr/bin/cat',
        '0000000000003000          8    - r-x--  /usr/bin/cat',
        '',
      ].join('\n'),
    );
    const bins = renderHistogram({
      kind: 'numa',
      header,
      vmas: [v],
      totals: { ...totals, bins: v.bins },
    });
    expect(bins.split('\n')[1]).toBe('         Address     Kbytes         N0 Mode   Mapped File');
    expect(bins.split('\n')[2]).toBe('0000000000001000         16          8 r-x--  /usr/bin/cat');
  });
});
