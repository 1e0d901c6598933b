import type { MemoryMap, SmapsField, Vma } from '@app/domain';
import { renderIllumos } from '@app/pmap-format';

const kb = (name: string, value: bigint): SmapsField => ({ name, value, kb: true });
function vma(p: Partial<Vma> & Pick<Vma, 'start' | 'end'>, rss = 0n, anon = 0n, locked = 0n): Vma {
  return {
    perms: 'rw-p',
    offset: 0n,
    devMajor: 0,
    devMinor: 0,
    inode: 0n,
    name: '',
    kind: 'anon',
    fields: [
      kb('Size', (p.end - p.start) >> 10n),
      kb('Rss', rss),
      kb('Anonymous', anon),
      kb('Locked', locked),
    ],
    vmFlags: 'rd wr mr mw me ac',
    ...p,
  };
}

const map: MemoryMap = {
  header: {
    pid: 4242,
    cmdline: './stacks -n 3',
    comm: 'stacks',
    startStack: 0x7ffd0001f000n,
    kernelThread: false,
    uid: 0,
  },
  vmas: [
    vma(
      {
        start: 0x400000n,
        end: 0x402000n,
        perms: 'r-xp',
        devMajor: 8,
        inode: 12n,
        name: '/tmp/stacks',
        kind: 'file',
      },
      8n,
    ),
    vma({ start: 0x1000000n, end: 0x1021000n, name: '[heap]', kind: 'heap' }, 132n, 132n),
    vma(
      {
        start: 0x7f0000000000n,
        end: 0x7f0000040000n,
        perms: 'rw-s',
        name: '/SYSV00000000 (deleted)',
        kind: 'sysv_shm',
        shmId: 0x2an,
        inode: 0x2an,
      },
      256n,
    ),
    vma(
      { start: 0x7f1000000000n, end: 0x7f1000800000n, kind: 'thread_stack', threadId: 4243 },
      16n,
      16n,
    ),
    vma(
      { start: 0x7f2000000000n, end: 0x7f2000100000n, vmFlags: 'rd wr mr mw me nr' },
      1024n,
      1024n,
      1024n,
    ),
    vma({ start: 0x7ffd00000000n, end: 0x7ffd00021000n, name: '[stack]', kind: 'stack' }, 24n, 24n),
  ],
};

describe('renderIllumos', () => {
  it('-x: Kbytes RSS Anon Locked with zeros as "-", illumos names and modes', () => {
    expect(renderIllumos(map, { mode: 'x' })).toBe(
      [
        '4242:\t./stacks -n 3',
        '         Address     Kbytes        RSS       Anon     Locked Mode   Mapped File',
        '0000000000400000          8          8          -          - r-x--  stacks',
        '0000000001000000        132        132        132          - rw---  [ heap ]',
        '00007F0000000000        256        256          -          - rw-s-  [ shmid=0x2a ]',
        '00007F1000000000       8192         16         16          - rw---  [ stack tid=4243 ]',
        '00007F2000000000       1024       1024       1024       1024 rw--R  [ anon ]',
        '00007FFD00000000        132         24         24          - rw---  [ stack ]',
        '---------------- ---------- ---------- ---------- ----------',
        '        total Kb       9744       1460       1196       1024',
        '',
      ].join('\n'),
    );
  });

  it('MAP_HUGETLB anonymous memory (/anon_hugepage) is [ anon ], as illumos names anonymous memory', () => {
    const huge = vma(
      {
        start: 0x7f3000000000n,
        end: 0x7f3000400000n,
        inode: 496913n,
        name: '/anon_hugepage (deleted)',
        kind: 'anon',
      },
      0n,
    );
    const out = renderIllumos({ ...map, vmas: [huge] }, { mode: 'x', quiet: true });
    expect(out).toBe(
      '4242:\t./stacks -n 3\n' +
        '00007F3000000000       4096          -          -          - rw---  [ anon ]\n',
    );
  });

  it('plain mode shows full paths and a total', () => {
    const out = renderIllumos(map, { mode: 'default' }).split('\n');
    expect(out[1]).toBe('0000000000400000         8K r-x--  /tmp/stacks');
    expect(out[out.length - 2]).toBe(' total                9744K');
  });

  it('-A is clipped as illumos does: page-rounded, rows cut, clipped rows have no figures', () => {
    const out = renderIllumos(map, {
      mode: 'x',
      quiet: true,
      range: { low: 0x7f1000001234n, high: 0x7f1000002000n },
    });
    expect(out).toBe(
      '4242:\t./stacks -n 3\n' +
        '00007F1000001000          8          -          -          - rw---  [ stack tid=4243 ]\n',
    );
  });

  it('-A with a single address equal to a segment start shows the whole segment', () => {
    const out = renderIllumos(map, {
      mode: 'default',
      quiet: true,
      range: { low: 0x1000000n, high: 0x1000000n },
    });
    expect(out).toBe('4242:\t./stacks -n 3\n0000000001000000       132K rw---  [ heap ]\n');
  });

  it('psargs are cut to 79 characters as PRARGSZ does', () => {
    const long = { ...map, header: { ...map.header, cmdline: 'x'.repeat(200) } };
    expect(renderIllumos(long, { mode: 'default' }).split('\n')[0]).toBe(
      '4242:\t' + 'x'.repeat(79),
    );
  });
});
