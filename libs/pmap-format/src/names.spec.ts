import type { Vma } from '@app/domain';
import { parsePmapFlags, pmapCommandLine, pmapDisplayName, renderPmap } from '@app/pmap-format';

const base: Vma = {
  start: 0x7f0000000000n,
  end: 0x7f0000021000n,
  perms: 'rw-p',
  offset: 0n,
  devMajor: 0,
  devMinor: 0,
  inode: 0n,
  name: '',
  kind: 'anon',
};
const header = { startStack: 0x7ffd00010000n };

describe('pmapDisplayName (default, -x, -d mapping column)', () => {
  it('anonymous and kernel names are "  [ anon ]" without -k (procps < 4.0.6 and default)', () => {
    for (const name of ['', '[heap]', '[vdso]', '[anon:zoo_named]']) {
      expect(pmapDisplayName({ ...base, name }, header)).toBe('  [ anon ]');
    }
  });

  it('-k (procps >= 4.0.6): a name ending in "]" is printed from its "[" as the kernel gives it', () => {
    for (const name of ['[heap]', '[vdso]', '[vvar]', '[stack]', '[anon:zoo_named]']) {
      expect(pmapDisplayName({ ...base, name }, header, { kernelNames: true })).toBe(name);
    }
    expect(pmapDisplayName(base, header, { kernelNames: true })).toBe('  [ anon ]');
  });

  it('-k still prefers SysV shm and paths (a "/" wins over brackets)', () => {
    const shm = { ...base, name: '/SYSV00000000 (deleted)', kind: 'sysv_shm' as const, inode: 15n };
    expect(pmapDisplayName(shm, header, { kernelNames: true })).toBe('  [ shmid=0xf ]');
    const slash = { ...base, name: '[anon:a/b]' };
    expect(pmapDisplayName(slash, header, { kernelNames: true })).toBe('b]');
    expect(pmapDisplayName(slash, header, { showPath: true })).toBe('/b]');
  });

  it('[ stack ] when stat startstack lies in [start, end] inclusive', () => {
    const s = { ...base, start: 0x7ffd00000000n, end: 0x7ffd00010000n };
    expect(pmapDisplayName(s, header)).toBe('  [ stack ]');
    expect(pmapDisplayName({ ...s, end: 0x7ffd0000f000n }, header)).toBe('  [ anon ]');
  });

  it('basename, full path with -p, "/" for a trailing slash; deleted and spaces kept', () => {
    const f = { ...base, name: '/srv/zoo/with space.dat (deleted)', kind: 'file' as const };
    expect(pmapDisplayName(f, header)).toBe('with space.dat (deleted)');
    expect(pmapDisplayName(f, header, { showPath: true })).toBe(
      '/srv/zoo/with space.dat (deleted)',
    );
    expect(pmapDisplayName({ ...f, name: '/srv/' }, header)).toBe('/');
  });

  it('an invalid byte (U+FFFD after UTF-8 decoding) prints as "?"; valid UTF-8 is kept', () => {
    expect(pmapDisplayName({ ...base, name: '/tmp/a\ufffdb' }, header)).toBe('a?b');
    expect(pmapDisplayName({ ...base, name: '/tmp/é' }, header)).toBe('é');
  });
});

describe('renderPmap -k', () => {
  it('default mode with -k prints kernel names without the two-space indent', () => {
    const map = {
      header: { pid: 7, cmdline: 'x', comm: 'x', startStack: 0n, kernelThread: false, uid: 0 },
      vmas: [{ ...base, name: '[heap]', kind: 'heap' as const }],
    };
    expect(renderPmap(map, { mode: 'default', kernelNames: true, quiet: true })).toBe(
      '7:   x\n00007f0000000000    132K rw--- [heap]\n',
    );
  });
});

describe('pmapCommandLine', () => {
  const h = (cmdline: string) => ({
    pid: 1,
    cmdline,
    comm: 'c',
    startStack: 0n,
    kernelThread: false,
    uid: 0,
  });
  it('keeps printable text and UTF-8, turns newlines into spaces and controls into "?"', () => {
    expect(pmapCommandLine(h('sh -c echo héllo'))).toBe('sh -c echo héllo');
    expect(pmapCommandLine(h('a\nb\tc\x7f'))).toBe('a b?c?');
  });
  it('after an invalid byte only printable ASCII survives, one "?" per byte', () => {
    expect(pmapCommandLine(h('ok é \ufffd é z'))).toBe('ok é ? ?? z');
  });
});

describe('parsePmapFlags', () => {
  it('reads modes, -q -p -k and -A forms', () => {
    expect(parsePmapFlags(['-XX', '-q', '-A', '0x1000,2000', '42'])).toEqual({
      options: { mode: 'XX', quiet: true, range: { low: 0x1000n, high: 0x2000n } },
      pids: ['42'],
    });
    expect(parsePmapFlags(['-xpk', '--range=,ff', '1']).options).toEqual({
      mode: 'x',
      showPath: true,
      kernelNames: true,
      range: { high: 0xffn },
    });
  });
  it('rejects mutually exclusive modes and bad ranges', () => {
    expect(() => parsePmapFlags(['-x', '-d', '1'])).toThrow(/mutually exclusive/);
    expect(() => parsePmapFlags(['-A', 'zz', '1'])).toThrow();
  });
});
