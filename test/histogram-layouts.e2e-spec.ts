/**
 * Histograms of a real process with known layouts (test/fixtures/layouts.c). Expected values are
 * computed here from the layout definition or from raw pagemap reads, never by the library.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPmapError, type Vma } from '@app/domain';
import { computeHistogram, iterateHistogram, parseSmaps, type HistogramOptions } from '@app/procfs';
import {
  expectedPhysical,
  LAYOUT,
  ordersFromPresence as orders,
  PS,
  rawPagemapEntries,
  spawnLayouts,
  TOUCHED,
  type Region,
} from './helpers/layouts';

const ROOT = join(__dirname, '..');

let child: ChildProcess;
let pid: number;
let regions: Record<string, Region | null>;
let vmas: Vma[];

function vmaAt(start: bigint): Vma {
  const v = vmas.find((x) => x.start === start);
  if (!v) throw new Error(`no VMA at ${start.toString(16)}`);
  return v;
}

const rawEntries = (start: bigint, pages: number): bigint[] => rawPagemapEntries(pid, start, pages);

/** The order histogram by brute force, as the library's bigint counts. */
const ordersFromPresence = (
  present: boolean[],
  startPage: number,
  maxOrder: number,
  memhist: boolean,
): bigint[] => orders(present, startPage, maxOrder, memhist).map(BigInt);

function smapsKb(v: Vma, name: string): bigint {
  return v.fields?.find((f) => f.name === name)?.value ?? 0n;
}

beforeAll(async () => {
  const l = await spawnLayouts();
  child = l.child;
  pid = l.pid;
  regions = l.regions;
  vmas = parseSmaps(readFileSync(`/proc/${pid}/smaps`, 'utf8'));
});

afterAll(() => {
  child?.kill('SIGKILL');
});

describe('order histogram', () => {
  it('matches the layout definition for every region, correct and memhist', () => {
    const ok = computeHistogram(pid, vmas, { kind: 'order' });
    const mh = computeHistogram(pid, vmas, { kind: 'order', compat: 'memhist' });
    for (const name of LAYOUT) {
      const r = regions[name]!;
      if (name === 'reserve') {
        expect(ok.vmas.find((v) => v.start === r.start)!.orders).toEqual(new Array(10).fill(0n));
        continue;
      }
      const present = Array.from({ length: r.pages }, (_, i) => TOUCHED[name](i));
      const sp = Number(r.start / BigInt(PS));
      const got = ok.vmas.find((v) => v.start === r.start)!;
      expect({ name, orders: got.orders }).toEqual({
        name,
        orders: ordersFromPresence(present, sp, 9, false),
      });
      expect(got.presentPages).toBe(BigInt(present.filter(Boolean).length));
      const gotMh = mh.vmas.find((v) => v.start === r.start)!;
      expect({ name, orders: gotMh.orders }).toEqual({
        name,
        orders: ordersFromPresence(present, sp, 9, true),
      });
    }
    // Spot values from the definition, to make the defect visible.
    expect(ok.vmas.find((v) => v.start === regions.full!.start)!.orders).toEqual([
      0n,
      0n,
      1n,
      1n,
      0n,
      1n,
      0n,
      0n,
      1n,
      0n,
    ]);
    expect(mh.vmas.find((v) => v.start === regions.full!.start)!.orders).toEqual([
      1n,
      1n,
      2n,
      2n,
      1n,
      2n,
      1n,
      1n,
      0n,
      0n,
    ]);
    expect(ok.vmas.find((v) => v.start === regions.unaligned!.start)!.orders[0]).toBe(2n); // pages 3 and 42 mod 512
  });

  it('matches raw pagemap reads for every VMA of the process, and the pread fallback', () => {
    const scan = computeHistogram(pid, vmas, { kind: 'order', sort: 'address' });
    const pread = computeHistogram(pid, vmas, { kind: 'order', sort: 'address', useScan: false });
    expect(pread.vmas).toEqual(scan.vmas);
    for (const v of scan.vmas) {
      if (v.start >= 0x800000000000n || v.end - v.start > 1n << 30n) continue; // [vsyscall], reservations
      const pages = Number((v.end - v.start) / BigInt(PS));
      const present = rawEntries(v.start, pages).map((e) => e >> 63n === 1n);
      expect({ at: v.start.toString(16), orders: v.orders }).toEqual({
        at: v.start.toString(16),
        orders: ordersFromPresence(present, Number(v.start / BigInt(PS)), 9, false),
      });
    }
    expect(scan.totals.vmas).toBe(vmas.length);
  });

  it('sorts by reversed histogram, applies the omit options and keeps totals over all VMAs', () => {
    const all = computeHistogram(pid, vmas, { kind: 'order' });
    for (let i = 1; i < all.vmas.length; i++) {
      expect(all.vmas[i].orders).toHaveLength(10);
      // lexicographic on the reversed numbers
      const x = [...all.vmas[i - 1].orders].reverse();
      const y = [...all.vmas[i].orders].reverse();
      const k = x.findIndex((n, j) => n !== y[j]);
      if (k >= 0) expect(x[k] < y[k]).toBe(true);
    }
    const sum = new Array<bigint>(10).fill(0n);
    for (const v of all.vmas) v.orders.forEach((n, i) => (sum[i] += n));
    expect(all.totals.orders).toEqual(sum);

    const some = computeHistogram(pid, vmas, {
      kind: 'order',
      omitFileBacked: true,
      omitUnfaulted: true,
    });
    const starts = new Set(some.vmas.map((v) => v.start));
    expect(starts.has(regions.file!.start)).toBe(false);
    expect(starts.has(regions.memfd!.start)).toBe(true); // memfds count as anonymous
    expect(starts.has(regions.reserve!.start)).toBe(false);
    expect(starts.has(regions.full!.start)).toBe(true);
    expect(some.vmas.every((v) => !v.fileBacked && v.presentPages > 0n)).toBe(true);
    expect(some.totals).toEqual(all.totals);
  });

  it('skips a 64 GiB PROT_NONE reservation without walking its 16M pages', () => {
    const r = vmaAt(regions.reserve!.start);
    expect(r.end - r.start).toBeGreaterThanOrEqual(64n << 30n);
    // The scanner checks its signal once per VMA and once per chunk of pagemap work (a
    // PAGEMAP_SCAN call or a 256 KiB read): counting those checks counts the work. A scan that
    // walked the reservation page by page would need 512 chunks; speed itself is in bench/.
    const work = (useScan: boolean): { present: bigint; checks: number } => {
      let checks = 0;
      const signal = {
        get aborted(): boolean {
          checks++;
          return false;
        },
      } as AbortSignal;
      const res = computeHistogram(pid, [r], { kind: 'order', signal, useScan });
      return { present: res.vmas[0].presentPages, checks };
    };
    const [major, minor] = release().split('.').map(Number);
    if (major > 6 || (major === 6 && minor >= 7)) {
      const scan = work(true); // PAGEMAP_SCAN reports the whole reservation empty at once
      expect(scan.present).toBe(0n);
      expect(scan.checks).toBeLessThan(8);
    }
    // Positioned reads (kernels before 6.7) must read every entry: 16M entries in 256 KiB chunks.
    const reads = work(false);
    expect(reads.present).toBe(0n);
    expect(reads.checks).toBeGreaterThanOrEqual(512);
  });

  it('streams per VMA and honours an AbortSignal and a deadline', () => {
    const it = iterateHistogram(pid, vmas, { kind: 'order' });
    const first = it.next();
    expect(first.done).toBe(false);
    it.return(undefined as never);
    const ac = new AbortController();
    ac.abort(new Error('client went away'));
    expect(() => computeHistogram(pid, vmas, { kind: 'order', signal: ac.signal })).toThrow(
      'client went away',
    );
    let code = '';
    try {
      computeHistogram(pid, vmas, { kind: 'order', deadlineMs: Date.now() - 1 });
    } catch (e) {
      code = isPmapError(e) ? e.code : 'other';
    }
    expect(code).toBe('UNAVAILABLE');
  });

  it('reports a missing process as NOT_FOUND and bad options as INVALID_ARGUMENT', () => {
    const codes: string[] = [];
    for (const o of [
      { pid: 0x3fffffff, opts: { kind: 'order' } },
      { pid, opts: { kind: 'order', maxOrder: 99 } },
      { pid, opts: { kind: 'physical', compat: 'memhist' } },
    ] as { pid: number; opts: HistogramOptions }[]) {
      try {
        computeHistogram(o.pid, vmas, o.opts);
        codes.push('none');
      } catch (e) {
        codes.push(isPmapError(e) ? e.code : 'other');
      }
    }
    expect(codes).toEqual(['NOT_FOUND', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);
  });
});

describe('physical histogram', () => {
  it('bins physically contiguous runs as defined, per region', () => {
    const res = computeHistogram(pid, vmas, { kind: 'physical' });
    for (const name of LAYOUT) {
      const r = regions[name]!;
      const got = res.vmas.find((v) => v.start === r.start)!;
      if (name === 'reserve') {
        expect(got.bins.every((b) => b.count === 0n)).toBe(true);
        continue;
      }
      const want = expectedPhysical(rawEntries(r.start, r.pages));
      for (const b of got.bins)
        expect({ name, key: b.key, count: b.count }).toEqual({
          name,
          key: b.key,
          count: BigInt(want.get(b.key) ?? 0),
        });
      const bytes = got.bins.reduce((t, b) => t + b.bytes, 0n);
      expect(bytes).toBe(got.presentPages * BigInt(PS));
    }
    const memfd = res.vmas.find((v) => v.start === regions.memfd!.start)!;
    expect(memfd.bins.filter((b) => b.category === 'file').reduce((t, b) => t + b.bytes, 0n)).toBe(
      8n * 4096n,
    );
    const thp = vmaAt(regions.thp!.start);
    if (smapsKb(thp, 'AnonHugePages') === 4096n) {
      const h = res.vmas.find((v) => v.start === thp.start)!;
      expect(h.bins.find((b) => b.key === 'AnonCont2M')!.count).toBe(2n);
    }
  });

  it('without CAP_SYS_ADMIN fails with FAILED_PRECONDITION, never zeros', () => {
    const dir = mkdtempSync(join(tmpdir(), 'histo-'));
    const script = join(dir, 'child.js');
    writeFileSync(
      script,
      `
const ROOT = ${JSON.stringify(ROOT)};
const ts = require(ROOT + '/node_modules/typescript');
const Module = require('module');
const fs = require('fs');
const path = require('path');
const resolve0 = Module._resolveFilename;
Module._resolveFilename = function (req, ...rest) {
  const m = /^@app\\/([a-z-]+)$/.exec(req);
  return resolve0.call(this, m ? path.join(ROOT, 'libs', m[1], 'src', 'index.ts') : req, ...rest);
};
require.extensions['.ts'] = (mod, file) => {
  const out = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: file,
  }).outputText;
  mod._compile(out, file);
};
const { computeHistogram } = require(ROOT + '/libs/procfs/src/pagemap/index.ts');
const { parseMaps } = require(ROOT + '/libs/procfs/src/parse.ts');
const keep = Buffer.alloc(1 << 20, 1);
const vmas = parseMaps(fs.readFileSync('/proc/self/maps', 'utf8'));
const out = { uid: process.getuid() };
const attempt = (k, f) => { try { out[k] = f(); } catch (e) { out[k] = { code: e.code, message: e.message }; } };
attempt('physical', () => computeHistogram(process.pid, vmas, { kind: 'physical' }).totals.presentPages.toString());
attempt('order', () => computeHistogram(process.pid, vmas, { kind: 'order' }).totals.presentPages.toString());
attempt('other', () => computeHistogram(${pid}, [], { kind: 'order' }).totals.vmas);
if (keep.length > 0) console.log(JSON.stringify(out));
`,
    );
    chmodSync(dir, 0o755);
    chmodSync(script, 0o644);
    const r = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, script],
      {
        encoding: 'utf8',
        cwd: dir,
      },
    );
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.split('\n')[0]) as Record<
      string,
      { code?: string; message?: string } | string | number
    >;
    expect(out.uid).toBe(65534);
    expect(out.physical).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect((out.physical as { message: string }).message).toContain('CAP_SYS_ADMIN');
    expect(Number(out.order)).toBeGreaterThan(100); // presence needs no privilege
    expect(out.other).toMatchObject({ code: 'PERMISSION_DENIED' });
  });
});

describe('pagesize histogram', () => {
  it('reports 4K and PMD-mapped 2M bytes, agreeing with smaps, and -s runs', () => {
    const res = computeHistogram(pid, vmas, { kind: 'pagesize', runs: true });
    for (const name of ['full', 'alternate', 'blocks', 'unaligned', 'file', 'memfd']) {
      const r = regions[name]!;
      const got = res.vmas.find((v) => v.start === r.start)!;
      const n = Array.from({ length: r.pages }, (_, i) => TOUCHED[name](i)).filter(Boolean).length;
      expect({ name, bins: got.bins.map((b) => [b.key, b.bytes]) }).toEqual({
        name,
        bins: [
          ['4K', BigInt(n * PS)],
          ['2M', 0n],
        ],
      });
    }
    const alt = res.vmas.find((v) => v.start === regions.alternate!.start)!;
    expect(alt.runs).toHaveLength(64);
    expect(alt.runs.map((x) => x.present)).toEqual(
      Array.from({ length: 64 }, (_, i) => i % 2 === 0),
    );
    expect(alt.runs.every((x) => x.end - x.start === 4096n && x.pageSize === 4096n)).toBe(true);
    const reserve = res.vmas.find((v) => v.start === regions.reserve!.start)!;
    expect(reserve.runs).toEqual([
      { start: reserve.start, end: reserve.end, pageSize: 4096n, present: false },
    ]);

    const thpVma = vmaAt(regions.thp!.start);
    const thp = res.vmas.find((v) => v.start === thpVma.start)!;
    const hugeBytes = smapsKb(thpVma, 'AnonHugePages') * 1024n;
    expect(thp.bins.find((b) => b.key === '2M')!.bytes).toBe(hugeBytes);
    expect(thp.bins.find((b) => b.key === '4K')!.bytes).toBe(1024n * 4096n - hugeBytes);
    if (hugeBytes === 4n << 20n) {
      expect(thp.runs).toEqual([
        { start: thpVma.start, end: thpVma.end, pageSize: 2n << 20n, present: true },
      ]);
      expect(thp.bins.find((b) => b.key === '2M')!.count).toBe(2n);
    }
    // The 2 MiB hugetlb page (when the pool had one: test/global-setup.ts reserves pages as root)
    if (regions.hugetlb) {
      const h = res.vmas.find((v) => v.start === regions.hugetlb!.start)!;
      expect(h.bins).toEqual([
        { key: '2M', pageSize: 2n << 20n, category: '', count: 1n, bytes: 2n << 20n },
      ]);
    }
    // Whole process: 2M bytes equal smaps' AnonHugePages + ShmemPmdMapped + FilePmdMapped (THP
    // mapped by a PMD) + Private_Hugetlb + Shared_Hugetlb (2 MiB hugetlb pages).
    let pmd = 0n;
    for (const v of vmas)
      pmd +=
        (smapsKb(v, 'AnonHugePages') +
          smapsKb(v, 'ShmemPmdMapped') +
          smapsKb(v, 'FilePmdMapped') +
          smapsKb(v, 'Private_Hugetlb') +
          smapsKb(v, 'Shared_Hugetlb')) *
        1024n;
    expect(res.totals.bins.find((b) => b.key === '2M')?.bytes ?? 0n).toBe(pmd);
  });
});

describe('numa histogram', () => {
  it('pages per node from numa_maps and -L runs from move_pages', () => {
    const nodes = readFileSync('/sys/devices/system/node/online', 'utf8').trim();
    const res = computeHistogram(pid, vmas, { kind: 'numa', runs: true });
    for (const name of ['full', 'alternate', 'sparse', 'blocks', 'unaligned', 'memfd']) {
      const r = regions[name]!;
      const got = res.vmas.find((v) => v.start === r.start)!;
      const n = BigInt(
        Array.from({ length: r.pages }, (_, i) => TOUCHED[name](i)).filter(Boolean).length,
      );
      expect(got.bins.reduce((t, b) => t + b.count, 0n)).toBe(n);
      expect(got.presentPages).toBe(n);
      const presentRuns = got.runs.filter((x) => x.present);
      expect(presentRuns.reduce((t, x) => t + (x.end - x.start), 0n)).toBe(n * 4096n);
      if (nodes === '0') expect(presentRuns.every((x) => x.numaNode === 0)).toBe(true);
      // Runs tile the VMA.
      expect(got.runs[0].start).toBe(got.start);
      expect(got.runs[got.runs.length - 1].end).toBe(got.end);
      for (let i = 1; i < got.runs.length; i++) expect(got.runs[i].start).toBe(got.runs[i - 1].end);
    }
    const alt = res.vmas.find((v) => v.start === regions.alternate!.start)!;
    expect(alt.runs).toHaveLength(64);
    if (nodes === '0')
      expect(res.vmas.find((v) => v.start === regions.full!.start)!.runs).toEqual([
        {
          start: regions.full!.start,
          end: regions.full!.start + 300n * 4096n,
          pageSize: 4096n,
          numaNode: 0,
          present: true,
        },
      ]);
  });
});
