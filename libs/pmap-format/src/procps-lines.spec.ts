import { parseAddressRange, type AddressRange, type ProcessHeader } from '@app/domain';
import { MapsLineScanner, MapsLinesParser, parseMaps } from '@app/procfs';
import { PmapRowRenderer, type PmapRowMode } from '@app/pmap-format';
import { procpsFixtureHeader, readProcps } from '../../../test/helpers/procps-fixture';

const header = procpsFixtureHeader();

/** A maps line as the kernel pads it. */
function line(addr: string, rest: string, name: string): string {
  const prefix = `${addr} ${rest} `;
  return name ? prefix.padEnd(72) + ' ' + name + '\n' : prefix + '\n';
}

/** The header lines of the procps fixture's smaps (its maps). */
function fixtureMaps(): Buffer {
  const text = readProcps('target_proc_smaps.txt');
  return Buffer.from(
    text
      .split('\n')
      .filter((l) => /^[0-9a-f]+-[0-9a-f]+ /.test(l))
      .map((l) => l + '\n')
      .join(''),
  );
}

/** The edge cases: spaces, deleted, SysV shm, huge values, vsyscall, stack, odd bytes. */
function edgeMaps(): Buffer {
  const text =
    line('400000-401000', 'r-xp 00000000 fd:01 1234', '/usr/bin/with space (deleted)') +
    line('401000-402000', 'r--p 00001000 fd:01 1234', '/usr/bin/trailing/') +
    line('7f0000000000-7f0000100000', 'rw-s 00000000 00:01 32', '/SYSV00000001 (deleted)') +
    line('7f0000100000-7f0000200000', 'rw-s 00000000 00:01 33', '/SYSTEM-like') +
    line('7f0000200000-7f0000300000', 'rw-p 00000000 00:00 0', '') +
    // Dropped: overlaps the previous line; not a header line at all.
    line('7f0000250000-7f0000260000', 'rw-p 00000000 00:00 0', '') +
    'not a maps line\n' +
    line('7f0000300000-7f0000301000', 'rw-p 00000000 00:00 0', '[anon:named thing]') +
    line('7f0000301000-7f0000302000', 'r--s 0000000000001000 103:0a 99', '/dev/shm/x y') +
    line('7f0000302000-7f0000303000', 'rw-p 00000000 00:00 0', '   leading spaces') +
    line('7f0000303000-7f0000304000', 'rw-p 00000000 00:00 0', '/opt/ünïcode/lib.so') +
    line('7F0000304000-7F0000305000', 'rw-p 00000000 00:00 0', 'upper') +
    line('7ffd00000000-7ffd00021000', 'rw-p 00000000 00:00 0', '[stack]') +
    line('7ffd00021000-7fffffffe123', 'rw-p 00000000 00:00 0', '') +
    line('800000000000-ff00000000000123', 'rw-p 00000000 00:00 0', '[huge]') +
    line('ffffffffff600000-ffffffffff601000', '--xp 00000000 00:00 0', '[vsyscall]');
  // An invalid UTF-8 byte in a name.
  const bad = Buffer.from(line('fffffffffff00000-fffffffffff01000', 'r--p 0 00:00 0', '/x/abc'));
  bad[bad.length - 3] = 0xff;
  return Buffer.concat([Buffer.from(text), bad]);
}

/** A generated map of `n` VMAs of many sizes and names. */
function generatedMaps(n: number): Buffer {
  let text = '';
  let at = 0x10000;
  const names = ['', '/usr/lib/libc.so.6', '[heap]', '/srv/a b/c (deleted)', '[anon:x]', '/'];
  for (let i = 0; i < n; i++) {
    const size = 0x1000 * (1 + ((i * 7919) % 513));
    const addr = `${at.toString(16)}-${(at + size).toString(16)}`;
    const perms = ['r-xp', 'rw-p', 'r--s', 'rw-s', '---p'][i % 5];
    text += line(addr, `${perms} ${(i * 4096).toString(16)} 08:0${i % 3} ${i}`, names[i % 6]);
    at += size + (i % 4 === 0 ? 0x1000 : 0);
  }
  return Buffer.from(text);
}

/** What row() prints over the VMAs parsed from `maps`. */
function byVmas(h: ProcessHeader, maps: Buffer, opts: Options): string {
  const rows = new PmapRowRenderer(h, opts);
  new MapsLinesParser((v) => rows.row(v)).feed(maps);
  return rows.finish().toString();
}

/** What line() prints over the lines scanned from `maps`, fed in pieces of `piece` lines. */
function byLines(h: ProcessHeader, maps: Buffer, opts: Options, piece: number): string {
  const rows = new PmapRowRenderer(h, opts);
  const scanner = new MapsLineScanner((b, f) => rows.line(b, f));
  const lines = maps.toString('latin1').split('\n');
  let at = 0;
  for (let i = 0; i < lines.length; i += piece) {
    const len = lines.slice(i, i + piece).reduce((s, l) => s + l.length + 1, 0);
    const end = Math.min(at + len, maps.length);
    scanner.feed(maps.subarray(at, end));
    at = end;
  }
  expect(scanner.lines).toBe(parseMaps(maps).length);
  return rows.finish().toString();
}

type Options = {
  mode: PmapRowMode;
  range?: AddressRange;
  quiet?: boolean;
  showPath?: boolean;
  kernelNames?: boolean;
};

describe('PmapRowRenderer.line (rows straight from maps bytes)', () => {
  const cases: [string, ProcessHeader, Buffer][] = [
    ['procps fixture', header, fixtureMaps()],
    ['edge cases', { ...header, startStack: 0x7ffd00000010n }, edgeMaps()],
    ['stack at an end (inclusive)', { ...header, startStack: 0x7ffd00021000n }, edgeMaps()],
    ['generated', { ...header, startStack: 0x20000n }, generatedMaps(3000)],
    ['empty', header, Buffer.alloc(0)],
  ];
  const ranges = [
    undefined,
    parseAddressRange('7f0000100000,7ffd00000000'),
    parseAddressRange('ffffffffff600000'),
    parseAddressRange('20000,80000'),
  ];

  it.each(cases)('prints what row() prints for the same map: %s', (_, h, maps) => {
    for (const mode of ['default', 'd'] as PmapRowMode[]) {
      for (const range of ranges) {
        for (const extra of [{}, { quiet: true }, { showPath: true }, { kernelNames: true }]) {
          const opts = { mode, range, ...extra };
          const want = byVmas(h, maps, opts);
          for (const piece of [1, 7, 100_000]) expect(byLines(h, maps, opts, piece)).toBe(want);
        }
      }
    }
  });

  it('writes the rows it should (a vsyscall row, a stack row, a cleaned name)', () => {
    const h = { ...header, startStack: 0x7ffd00000010n };
    const text = byLines(h, edgeMaps(), { mode: 'default' }, 3);
    expect(text).toContain('ffffffffff600000      4K --x--   [ anon ]\n');
    expect(text).toContain('00007ffd00000000    132K rw---   [ stack ]\n');
    expect(text).toContain('00007f0000000000   1024K rw-s-   [ shmid=0x20 ]\n');
    expect(text).toContain('a?c\n');
    expect(text).toContain('00007f0000304000      4K rw---   [ anon ]\n');
    expect(text.split('\n').length).toBe(parseMaps(edgeMaps()).length + 3);
  });

  it('refuses -x (its rows need smaps fields)', () => {
    const rows = new PmapRowRenderer(header, { mode: 'x' });
    const scanner = new MapsLineScanner((b, f) => rows.line(b, f));
    expect(() => scanner.feed(fixtureMaps())).toThrow(/-x rows need smaps fields/);
  });
});
