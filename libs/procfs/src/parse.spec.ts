import * as fs from 'fs';
import fc from 'fast-check';
import type { Vma } from '@app/domain';
import {
  classifyVmas,
  parseCgroup,
  parseCmdline,
  parseMaps,
  parseNumaMaps,
  parseSmaps,
  parseSmapsRollup,
  parseStat,
  parseStatus,
  rollupOfVmas,
} from '@app/procfs';
import { fixturePath } from '../../../test/fixtures/paths';

const fx = (name: string): string => fs.readFileSync(fixturePath('procps-4.0.2', name), 'utf8');

const MAPS = fx('target_proc_maps.txt');
const SMAPS = fx('target_proc_smaps.txt');
const STAT = fx('target_proc_stat.txt');

function field(v: Vma, name: string): bigint {
  const f = v.fields?.find((x) => x.name === name);
  if (!f) throw new Error(`no field ${name}`);
  return f.value;
}

/** A cheap exact signature of a VMA (deep toEqual on hundreds of VMAs is slow). */
function sig(v: Vma): string {
  const f = v.fields
    ? v.fields.map((x) => `${x.name}=${x.value}${x.kb ? 'k' : ''}`).join(',')
    : '-';
  return `${v.start}-${v.end} ${v.perms} ${v.offset} ${v.devMajor}:${v.devMinor} ${v.inode} ${v.kind} ${v.name}|${f}|${v.vmFlags}`;
}

function assertOrdered(vmas: Vma[]): void {
  for (let i = 1; i < vmas.length; i++) {
    expect(vmas[i].start).toBeGreaterThanOrEqual(vmas[i - 1].end);
  }
  for (const v of vmas) expect(v.end).toBeGreaterThanOrEqual(v.start);
}

describe('parseMaps on the procps-4.0.2 fixture', () => {
  const vmas = parseMaps(MAPS);
  const plain = fx('t_plain.txt').trimEnd().split('\n');

  it('finds every VMA pmap printed, with the same start, size and name', () => {
    const rows = plain.slice(1, -1);
    expect(vmas).toHaveLength(rows.length);
    expect(vmas).toHaveLength(128);
    rows.forEach((row, i) => {
      const [addr, size] = row.split(/\s+/);
      expect(vmas[i].start).toBe(BigInt('0x' + addr));
      expect((vmas[i].end - vmas[i].start) / 1024n).toBe(BigInt(size.replace('K', '')));
    });
    const total = (vmas.reduce((a, v) => a + (v.end - v.start), 0n) / 1024n).toString();
    expect(plain[plain.length - 1]).toBe(` total ${total.padStart(16)}K`);
  });

  it('keeps names exactly: the space, " (deleted)", memfd, SysV shm with its id', () => {
    const byName = (n: string): Vma => vmas.find((v) => v.name === n)!;
    expect(byName('/srv/zoo/data file.bin').kind).toBe('file');
    expect(byName('/srv/zoo/deleted.bin (deleted)').kind).toBe('deleted_file');
    expect(byName('/memfd:my_memfd (deleted)').kind).toBe('memfd');
    const shm = byName('/SYSV00000000 (deleted)');
    expect(shm.kind).toBe('sysv_shm');
    expect(shm.shmId).toBe(0xfn);
    expect(shm.devMajor).toBe(0);
    expect(shm.devMinor).toBe(1);
    expect(shm.perms).toBe('rw-s');
    expect(byName('[heap]').kind).toBe('heap');
    expect(byName('[stack]').kind).toBe('stack');
    expect(byName('[vdso]').kind).toBe('vdso');
    expect(byName('[vvar]').kind).toBe('vvar');
    expect(byName('[vvar_vclock]').kind).toBe('vvar');
    expect(byName('[vsyscall]').kind).toBe('vsyscall');
    expect(byName('[vsyscall]').start).toBe(0xffffffffff600000n);
    const lib = byName('/opt/python/lib/libpython3.11.so.1.0');
    expect(lib.offset).toBe(0n);
    expect(lib.devMajor).toBe(0xfe);
    expect(lib.inode).toBe(26933n);
    expect(vmas.filter((v) => v.name === '' && v.kind === 'anon').length).toBeGreaterThan(5);
  });

  it('agrees with parseSmaps on every header', () => {
    const s = parseSmaps(SMAPS);
    expect(s.map(({ fields: _f, vmFlags: _v, ...rest }) => rest)).toEqual(vmas);
  });

  it('keeps a name that starts with spaces after the kernel padding', () => {
    const line =
      '7f0000000000-7f0000001000 r--p 00000000 fe:00 12                         ' + '  odd name';
    const prefix = '7f0000000000-7f0000001000 r--p 00000000 fe:00 12 ';
    const padded = prefix.padEnd(72) + ' ' + '  odd name\n';
    expect(parseMaps(padded)[0].name).toBe('  odd name');
    // hand-written input with a single space still parses
    expect(parseMaps(prefix + '/x\n')[0].name).toBe('/x');
    expect(line.length).toBeGreaterThan(0);
  });

  it('is not fooled by a name that looks like a header or a field', () => {
    const text =
      '1000-2000 rw-p 00000000 00:00 0                          /tmp/3000-4000 rw-p 0 0:0 0\n' +
      'Rss:                   4 kB\n' +
      '5000-6000 r--p 00000000 fe:00 7                          /tmp/Rss: 5 kB\n' +
      'Size:                  4 kB\n';
    const v = parseSmaps(text);
    expect(v.map((x) => x.name)).toEqual(['/tmp/3000-4000 rw-p 0 0:0 0', '/tmp/Rss: 5 kB']);
    expect(v[0].fields).toEqual([{ name: 'Rss', value: 4n, kb: true }]);
    expect(v[1].fields).toEqual([{ name: 'Size', value: 4n, kb: true }]);
  });
});

describe('parseSmaps on the procps-4.0.2 fixture', () => {
  const vmas = parseSmaps(SMAPS);

  it('matches pmap -x rows and totals (Kbytes, RSS, Dirty = Shared_Dirty + Private_Dirty)', () => {
    const lines = fx('t_x.txt').trimEnd().split('\n');
    const rows = lines.slice(2, -2);
    expect(vmas).toHaveLength(rows.length);
    rows.forEach((row, i) => {
      const [addr, kbytes, rss, dirty] = row.split(/\s+/);
      const v = vmas[i];
      expect(v.start).toBe(BigInt('0x' + addr));
      expect(field(v, 'Size')).toBe(BigInt(kbytes));
      expect(field(v, 'Rss')).toBe(BigInt(rss));
      expect(field(v, 'Shared_Dirty') + field(v, 'Private_Dirty')).toBe(BigInt(dirty));
    });
    const sum = (f: (v: Vma) => bigint): bigint => vmas.reduce((a, v) => a + f(v), 0n);
    const [, , kb, rss, dirty] = lines[lines.length - 1].split(/\s+/);
    expect(sum((v) => field(v, 'Size')).toString()).toBe(kb);
    expect(sum((v) => field(v, 'Rss')).toString()).toBe(rss);
    expect(sum((v) => field(v, 'Shared_Dirty') + field(v, 'Private_Dirty')).toString()).toBe(dirty);
    expect(kb).toBe('97452');
  });

  it('yields the -XX columns in kernel order, THPeligible/ProtectionKey as kb=false fields', () => {
    const lines = fx('t_XX.txt').trimEnd().split('\n');
    const cols = lines[1].trim().split(/\s+/);
    const fieldCols = cols.slice(5, cols.indexOf('VmFlags'));
    for (const v of vmas) expect(v.fields!.map((f) => f.name)).toEqual(fieldCols);
    const thp = vmas[0].fields!.find((f) => f.name === 'THPeligible')!;
    expect(thp.kb).toBe(false);
    expect(vmas[0].fields!.find((f) => f.name === 'ProtectionKey')!.kb).toBe(false);
    expect(vmas[0].fields!.find((f) => f.name === 'Rss')!.kb).toBe(true);
    // totals row: stable columns must equal the sums (Pss and the Clean columns of shared
    // libraries drift between reads, see the fixture README)
    const totals = lines[lines.length - 1].trim().split(/\s+/);
    const drifting = new Set(['Pss', 'Shared_Clean', 'Private_Clean']);
    fieldCols.forEach((name, k) => {
      if (drifting.has(name)) return;
      const sum = vmas.reduce((a, v) => a + v.fields![k].value, 0n);
      expect(`${name}=${sum}`).toBe(`${name}=${totals[k]}`);
    });
  });

  it('matches the -XX rows: VmFlags and the per-VMA fields', () => {
    const lines = fx('t_XX.txt').trimEnd().split('\n');
    const cols = lines[1].trim().split(/\s+/);
    const fieldCols = cols.slice(5, cols.indexOf('VmFlags'));
    const rows = lines.slice(2, -2);
    expect(rows).toHaveLength(vmas.length);
    const heap = vmas.findIndex((v) => v.name === '[heap]');
    const row = rows[heap].trim().split(/\s+/);
    expect(row[0]).toBe(vmas[heap].start.toString(16));
    fieldCols.forEach((name, k) => {
      if (name === 'Pss' || name.endsWith('_Clean')) return;
      expect(`${name}=${vmas[heap].fields![k].value}`).toBe(`${name}=${row[5 + k]}`);
    });
    const flags = row.slice(5 + fieldCols.length, -1).join(' ');
    expect(vmas[heap].vmFlags).toBe(flags);
    expect(vmas[heap].vmFlags).toBe('rd wr mr mw me ac');
    const thpRegion = vmas.find((v) => field(v, 'AnonHugePages') === 8192n);
    expect(thpRegion?.start).toBe(0x7f87ae000000n);
  });

  it('parses the bytes (Buffer or Uint8Array) exactly as the text, UTF-8 names included', () => {
    const sig = (v: Vma[]): string =>
      JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
    expect(sig(parseSmaps(Buffer.from(SMAPS)))).toBe(sig(vmas));
    expect(sig(parseMaps(new Uint8Array(Buffer.from(MAPS))))).toBe(sig(parseMaps(MAPS)));
    const pad = ' '.repeat(26);
    const text =
      `1000-2000 rw-p 00000000 08:01 42${pad}/tmp/smörgås ☃ (deleted)\nRss: 4 kB\nVmFlags: rd wr \n` +
      `2000-3000 rw-p 00000000 08:01 42${pad}/tmp/smörgås ☃ (deleted)\nRss: 8 kB\nVmFlags: rd wr \n` +
      `3000-4000 rw-p 00000000 08:01 43${pad}/tmp/smörgås ☄\nRßs: 8 kB\nVmFlags: rd ex\n`;
    const got = parseSmaps(Buffer.from(text, 'utf8'));
    expect(got.map((v) => [v.name, v.kind, v.fields, v.vmFlags])).toEqual([
      ['/tmp/smörgås ☃ (deleted)', 'deleted_file', [{ name: 'Rss', value: 4n, kb: true }], 'rd wr'],
      ['/tmp/smörgås ☃ (deleted)', 'deleted_file', [{ name: 'Rss', value: 8n, kb: true }], 'rd wr'],
      ['/tmp/smörgås ☄', 'file', [{ name: 'Rßs', value: 8n, kb: true }], 'rd ex'],
    ]);
    expect(sig(parseSmaps(text))).toBe(sig(got));
  });

  it('shares a field object with the previous VMA only when name, value and unit are equal', () => {
    const h = (a: number): string =>
      `${(a * 0x1000).toString(16)}-${((a + 1) * 0x1000).toString(16)} rw-p 00000000 00:00 0\n`;
    const got = parseSmaps(
      h(1) +
        'Size: 4 kB\nSwap: 0 kB\nX: 7\n' +
        h(2) +
        'Size: 4 kB\nSwap: 1 kB\nX: 7 kB\n' +
        h(3) +
        'Size: 4 kB\nSwap: 1 kB\nY: 7 kB\n' +
        h(4) +
        `Size: 4 kB\nSwap: ${'9'.repeat(17)} kB\nY: 7 kB\n` +
        h(5) +
        `Size: 4 kB\nSwap: ${'9'.repeat(17)} kB\nY: 7 kB\n`,
    );
    const f = got.map((v) => v.fields!);
    expect(f.map((x) => x.map((y) => `${y.name}=${y.value}${y.kb ? 'k' : ''}`).join(' '))).toEqual([
      'Size=4k Swap=0k X=7',
      'Size=4k Swap=1k X=7k',
      'Size=4k Swap=1k Y=7k',
      `Size=4k Swap=${'9'.repeat(17)}k Y=7k`,
      `Size=4k Swap=${'9'.repeat(17)}k Y=7k`,
    ]);
    expect(f[1][0]).toBe(f[0][0]);
    expect(f[1][1]).not.toBe(f[0][1]);
    expect(f[1][2]).not.toBe(f[0][2]);
    expect(f[2][1]).toBe(f[1][1]);
    expect(f[2][2]).not.toBe(f[1][2]);
    expect(f[4][1]).not.toBe(f[3][1]);
    expect(f[4][2]).toBe(f[3][2]);
  });

  it('classifies the stack from stat startstack', () => {
    const stat = parseStat(STAT);
    const copy = parseMaps(MAPS).map((v) => (v.name === '[stack]' ? { ...v, name: '' } : v));
    classifyVmas(copy, stat.startStack);
    const stack = copy.find((v) => v.kind === 'stack')!;
    expect(stack.start).toBe(0x7fffb9d04000n);
  });
});

describe('small parsers', () => {
  it('parseSmapsRollup gives bytes', () => {
    const r = parseSmapsRollup(fx('target_proc_smaps_rollup.txt'));
    expect(r.rss).toBe(56636n * 1024n);
    expect(r.pss).toBe(55207n * 1024n);
    expect(r.pssAnon).toBe(49568n * 1024n);
    expect(r.anonHugePages).toBe(8192n * 1024n);
    expect(r.locked).toBe(1024n * 1024n);
    expect(r.swap).toBe(0n);
    expect(parseSmapsRollup('').rss).toBe(0n);
  });

  it('rollupOfVmas sums the smaps of a process to its smaps_rollup', () => {
    // The same stopped process: what the kernel sums exactly must agree exactly. Pss is summed
    // by the kernel before rounding to kB, so the per-VMA sum is within 1 kB per VMA of it.
    const vmas = parseSmaps(SMAPS);
    const sum = rollupOfVmas(vmas);
    const kernel = parseSmapsRollup(fx('target_proc_smaps_rollup.txt'));
    for (const k of [
      'rss',
      'anonymous',
      'anonHugePages',
      'locked',
      'swap',
      'privateDirty',
    ] as const) {
      expect({ k, v: sum[k] }).toEqual({ k, v: kernel[k] });
    }
    const drift = sum.pss - kernel.pss;
    expect(drift <= 0n ? -drift : drift).toBeLessThanOrEqual(BigInt(vmas.length) * 1024n);
    expect(rollupOfVmas([]).rss).toBe(0n);
    expect(rollupOfVmas([{ ...vmas[0], fields: undefined }]).rss).toBe(0n);
  });

  it('parseStat reads the fixture and a comm with spaces and parentheses', () => {
    const s = parseStat(STAT);
    expect(s).toMatchObject({ pid: 4541, comm: 'python3', state: 'T', ppid: 1, numThreads: 1 });
    expect(s.startTimeTicks).toBe(12062);
    expect(s.vsize).toBe(99786752n);
    expect(s.rssPages).toBe(14129n);
    expect(s.startStack).toBe(140736310948560n);
    expect(s.startStack >= 0x7fffb9d04000n && s.startStack < 0x7fffb9d25000n).toBe(true);
    const odd = STAT.replace('(python3)', '(a) b (c))');
    const t = parseStat(odd);
    expect(t.comm).toBe('a) b (c)');
    expect(t.ppid).toBe(1);
    expect(t.startStack).toBe(s.startStack);
    expect(() => parseStat('')).toThrow();
  });

  it('parseStatus reads uids, threads, CapEff, Kthread', () => {
    const st = parseStatus(
      'Name:\tmy prog\nState:\tS (sleeping)\nTgid:\t42\nPid:\t42\nPPid:\t1\n' +
        'Uid:\t1000\t1001\t1002\t1003\nGid:\t100\t101\t102\t103\nVmSize:\t  2048 kB\n' +
        'VmRSS:\t    12 kB\nThreads:\t3\nCapEff:\t0000000000080000\nKthread:\t0\n',
    );
    expect(st).toMatchObject({
      name: 'my prog',
      state: 'S',
      pid: 42,
      ppid: 1,
      uid: 1000,
      euid: 1001,
    });
    expect(st.gid).toBe(100);
    expect(st.threads).toBe(3);
    expect(st.vmRssKb).toBe(12n);
    expect(st.vmSizeKb).toBe(2048n);
    expect(st.capEff).toBe(1n << 19n);
    expect(st.kthread).toBe(false);
  });

  it('parseCgroup prefers the v2 line', () => {
    expect(parseCgroup('0::/system.slice/foo.service\n')).toBe('/system.slice/foo.service');
    expect(parseCgroup('12:memory:/a\n0::/b:c\n')).toBe('/b:c');
    expect(parseCgroup('12:memory:/a\n11:cpu:/x\n')).toBe('/a');
    expect(parseCgroup('')).toBe('');
  });

  it('parseNumaMaps reads policy, node pages and file names', () => {
    const e = parseNumaMaps(fx('target_proc_numa_maps.txt'));
    expect(e).toHaveLength(127);
    expect(e[0]).toMatchObject({ start: 0x55b75004e000n, policy: 'default', mapped: 1n });
    expect(e[0].nodes.get(0)).toBe(1n);
    expect(e[0].kernelPageSizeKb).toBe(4n);
    expect(e[0].file).toBe('/opt/python/bin/python3.11');
    const shm = e.find((x) => x.start === 0x7f87adf00000n)!;
    expect(shm.file).toBe('/SYSV00000000 (deleted)');
    expect(shm.dirty).toBe(3n);
    const heap = e.find((x) => x.heap)!;
    expect(heap.start).toBe(0x55b75fe14000n);
    expect(e.some((x) => x.stack)).toBe(true);
    const multi = parseNumaMaps('7f00 interleave:0-1 anon=5 N0=2 N1=3 kernelpagesize_kB=4\n');
    expect([...multi[0].nodes]).toEqual([
      [0, 2n],
      [1, 3n],
    ]);
  });

  it('parseCmdline joins NUL-separated args; empty -> [comm]', () => {
    expect(parseCmdline(Buffer.from('/bin/sleep\u00001000\u0000'), 'sleep')).toBe(
      '/bin/sleep 1000',
    );
    expect(parseCmdline(Buffer.from('a b\u0000c'), 'x')).toBe('a b c');
    expect(parseCmdline(Buffer.from('setproctitle style'), 'x')).toBe('setproctitle style');
    expect(parseCmdline(Buffer.alloc(0), 'kthreadd')).toBe('[kthreadd]');
    expect(fx('target_proc_cmdline.txt').trim()).toBe(
      fx('t_plain.txt')
        .split('\n')[0]
        .replace(/^4541: {3}/, ''),
    );
  });
});

describe('classifyVmas', () => {
  const mk = (start: bigint, end: bigint, name: string, devMajor = 0, inode = 0n): Vma => ({
    start,
    end,
    perms: 'rw-p',
    offset: 0n,
    devMajor,
    devMinor: 0,
    inode,
    name,
    kind: 'anon',
  });

  it('covers every kind', () => {
    const vmas = [
      mk(0x1000n, 0x2000n, '/usr/lib/libc.so.6', 8, 5n),
      mk(0x2000n, 0x3000n, '/usr/lib/gone.so (deleted)', 8, 5n),
      mk(0x3000n, 0x4000n, ''),
      mk(0x4000n, 0x5000n, '[anon:my region]'),
      mk(0x5000n, 0x6000n, '[heap]'),
      mk(0x6000n, 0x7000n, '/SYSV0000abcd (deleted)', 0, 32n),
      mk(0x7000n, 0x8000n, '/memfd:x (deleted)', 0, 9n),
      mk(0x8000n, 0x9000n, '[anon_shmem:shared]'),
      mk(0x9000n, 0xa000n, '[uprobes]'),
      mk(0xa000n, 0xb000n, ''), // thread stack
      mk(0xb000n, 0xc000n, ''), // main stack by startstack (no [stack] name)
      mk(0xc000n, 0xd000n, '[vdso]'),
      mk(0xd000n, 0xe000n, 'anon_inode:[perf_event]'),
      mk(0xe000n, 0xf000n, '/anon_hugepage (deleted)', 0, 496913n), // MAP_HUGETLB anonymous
      mk(0xf000n, 0x10000n, '/mnt/huge/buf', 0, 12n), // a file on a hugetlbfs mount
    ];
    classifyVmas(
      vmas,
      0xb800n,
      new Map([
        [77, 0xa800n],
        [1, 0x1800n],
        [78, 0xb900n],
      ]),
    );
    expect(vmas.map((v) => v.kind)).toEqual([
      'file',
      'deleted_file',
      'anon',
      'named_anon',
      'heap',
      'sysv_shm',
      'memfd',
      'named_shmem',
      'other',
      'thread_stack',
      'stack',
      'vdso',
      'other',
      'anon',
      'file',
    ]);
    expect(vmas[5].shmId).toBe(32n);
    expect(vmas[9].threadId).toBe(77);
    expect(vmas[0].threadId).toBeUndefined();
    expect(vmas[10].threadId).toBeUndefined();
  });
});

/* ----------------------------- property tests ----------------------------- */

const hexAddr = fc.bigInt({ min: 0n, max: (1n << 47n) - 1n }).map((n) => n & ~0xfffn);

const vmaArb = fc.record({
  gap: fc.bigInt({ min: 0n, max: 1n << 20n }).map((n) => n & ~0xfffn),
  size: fc.bigInt({ min: 1n, max: 1n << 24n }).map((n) => (n + 0xfffn) & ~0xfffn),
  perms: fc.constantFrom('r--p', 'rw-p', 'r-xp', 'rw-s', '---p'),
  name: fc.constantFrom(
    '',
    '[heap]',
    '/usr/lib/a b.so',
    '/x (deleted)',
    '/SYSV00000001 (deleted)',
    '[anon:foo]',
    '/memfd:m (deleted)',
    '/tmp/1000-2000 rw-p 00000000 00:00 0',
    '/tmp/Rss: 4 kB',
  ),
  rss: fc.nat(1 << 20),
  big: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
});

function renderSmaps(
  base: bigint,
  specs: { gap: bigint; size: bigint; perms: string; name: string; rss: number; big: bigint }[],
): { text: string; starts: bigint[] } {
  let at = base;
  let text = '';
  const starts: bigint[] = [];
  for (const s of specs) {
    const start = at + s.gap;
    const end = start + s.size;
    at = end;
    starts.push(start);
    const prefix = `${start.toString(16)}-${end.toString(16)} ${s.perms} 00000000 00:00 0 `;
    text += s.name ? prefix.padEnd(72) + ' ' + s.name + '\n' : prefix + '\n';
    text += `Size:           ${s.size / 1024n} kB\nRss:      ${s.rss} kB\nHuge:  ${s.big} kB\n`;
    text += `THPeligible:    0\nVmFlags: rd wr mr \n`;
  }
  return { text, starts };
}

describe('parser properties', () => {
  it('round-trips generated smaps', () => {
    fc.assert(
      fc.property(hexAddr, fc.array(vmaArb, { maxLength: 30 }), (base, specs) => {
        const { text, starts } = renderSmaps(base, specs);
        const vmas = parseSmaps(text);
        expect(vmas.map((v) => v.start)).toEqual(starts);
        vmas.forEach((v, i) => {
          expect(v.name).toBe(specs[i].name);
          expect(v.fields!.map((f) => f.value)).toEqual([
            specs[i].size / 1024n,
            BigInt(specs[i].rss),
            specs[i].big,
            0n,
          ]);
          expect(v.vmFlags).toBe('rd wr mr');
        });
        expect(parseMaps(text).map((v) => v.start)).toEqual(starts);
      }),
      { numRuns: 150 },
    );
  });

  it('never throws on mutated input and keeps address order', () => {
    const sample = SMAPS.slice(0, 20000);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(sample.length), fc.string({ maxLength: 8 }), fc.nat(8)), {
          maxLength: 12,
        }),
        (edits) => {
          let t = sample;
          for (const [at, ins, del] of edits) t = t.slice(0, at) + ins + t.slice(at + del);
          assertOrdered(parseSmaps(t));
          assertOrdered(parseMaps(t));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never throws on random text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (t) => {
        assertOrdered(parseSmaps(t));
        assertOrdered(parseMaps(t));
        parseSmapsRollup(t);
        parseNumaMaps(t);
        parseCgroup(t);
        parseStatus(t);
      }),
    );
  });

  it('tolerates input torn at any byte', () => {
    const full = parseSmaps(SMAPS).map(sig);
    fc.assert(
      fc.property(fc.nat(SMAPS.length), (cut) => {
        const torn = parseSmaps(SMAPS.slice(0, cut));
        assertOrdered(torn);
        // every complete VMA before the cut is there, identical
        expect(torn.length).toBeLessThanOrEqual(full.length);
        const got = torn.slice(0, -1).map(sig);
        expect(got).toEqual(full.slice(0, got.length));
        const m = parseMaps(MAPS.slice(0, cut % (MAPS.length + 1)));
        assertOrdered(m);
      }),
      { numRuns: 150 },
    );
  });

  it('tolerates duplicated and repeated VMAs (concurrent change), keeping the first reading', () => {
    const want = parseSmaps(SMAPS).map(sig).join('\n');
    const blocks = SMAPS.split(/(?=^[0-9a-f]+-[0-9a-f]+ )/m);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(blocks.length - 1), fc.nat(3)), { minLength: 1, maxLength: 10 }),
        (dups) => {
          const copy = blocks.slice();
          // re-emit an earlier VMA (or a run of them) after position p, like a re-read page
          for (const [p, back] of dups.sort((a, b) => b[0] - a[0])) {
            const from = Math.max(0, p - back);
            copy.splice(p + 1, 0, ...copy.slice(from, p + 1));
          }
          const vmas = parseSmaps(copy.join(''));
          assertOrdered(vmas);
          expect(vmas.map(sig).join('\n')).toBe(want);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('keeps a VMA header without its fields', () => {
    const text = SMAPS.split('\n').slice(0, 30).join('\n');
    const cut = text.lastIndexOf('\n55b');
    const lines = (
      text.slice(0, cut) +
      '\n' +
      MAPS.split('\n')[1] +
      '\n' +
      MAPS.split('\n')[2] +
      '\n'
    )
      .split('\n')
      .filter(Boolean);
    const vmas = parseSmaps(lines.join('\n'));
    expect(vmas).toHaveLength(3);
    expect(vmas[1].fields).toEqual([]);
    expect(vmas[1].vmFlags).toBe('');
  });
});
