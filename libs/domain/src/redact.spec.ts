import { redactCmdline, redactMap, redactPath } from './redact';
import type { MemoryMap } from './types';

describe('redaction', () => {
  it('keeps the last path component, " (deleted)", bracketed and anonymous names', () => {
    expect(redactPath('/home/alice/x/libfoo.so')).toBe('libfoo.so');
    expect(redactPath('/home/alice/x/libfoo.so (deleted)')).toBe('libfoo.so (deleted)');
    expect(redactPath('[heap]')).toBe('[heap]');
    expect(redactPath('')).toBe('');
    expect(redactPath('/')).toBe('/');
    expect(redactCmdline('/usr/bin/app --secret=1', 'app')).toBe('app');
    expect(redactCmdline('[kthreadd]', 'kthreadd')).toBe('[kthreadd]');
  });

  it('redacts a map in place, and again is the same', () => {
    const map: MemoryMap = {
      header: {
        pid: 1,
        cmdline: '/a/b --x',
        comm: 'b',
        startStack: 0n,
        kernelThread: false,
        uid: 0,
      },
      vmas: ['/a/b', '[stack]', '', '/srv/data/f (deleted)'].map((name, i) => ({
        start: BigInt(i),
        end: BigInt(i + 1),
        perms: 'r--p',
        offset: 0n,
        devMajor: 0,
        devMinor: 0,
        inode: 0n,
        name,
        kind: 'file' as const,
      })),
    };
    redactMap(map);
    expect(map.header.cmdline).toBe('b');
    expect(map.vmas.map((v) => v.name)).toEqual(['b', '[stack]', '', 'f (deleted)']);
    const again = JSON.stringify(redactMap(map), (_, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v,
    );
    expect(again).toContain('"f (deleted)"');
  });
});
