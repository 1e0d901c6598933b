import { parseAddressRange, type MemoryMap } from '@app/domain';
import { parseSmaps, SmapsParser } from '@app/procfs';
import { PmapRowRenderer, isRowMode, renderPmap, type PmapRowMode } from '@app/pmap-format';
import { procpsFixtureHeader, readProcps } from '../../../test/helpers/procps-fixture';

const header = procpsFixtureHeader();

/** A map with the edge cases: names with spaces, deleted files, shm, huge values, vsyscall. */
function edgeSmaps(): string {
  const rows: [string, string, string][] = [
    ['400000-401000', 'r-xp 00000000 fd:01 1234', '/usr/bin/with space (deleted)'],
    ['7f0000000000-7f0000100000', 'rw-s 00000000 00:01 32', '/SYSV00000001 (deleted)'],
    ['7f0000100000-7f0000200000', 'rw-p 00000000 00:00 0', ''],
    ['7ffd00000000-7ffd00021000', 'rw-p 00000000 00:00 0', '[stack]'],
    ['ffffffffff600000-ffffffffff601000', '--xp 00000000 00:00 0', '[vsyscall]'],
  ];
  let text = '';
  for (const [addr, rest, name] of rows) {
    const prefix = `${addr} ${rest} `;
    text += name ? prefix.padEnd(72) + ' ' + name + '\n' : prefix + '\n';
    text += `Size: 4 kB\nRss: ${'9'.repeat(12)} kB\nShared_Dirty: 3 kB\nPrivate_Dirty: 4 kB\n`;
  }
  return text;
}

const maps: MemoryMap[] = [
  { header, vmas: parseSmaps(readProcps('target_proc_smaps.txt')) },
  { header: { ...header, startStack: 0x7ffd00000010n }, vmas: parseSmaps(edgeSmaps()) },
  { header, vmas: [] },
];

describe('PmapRowRenderer', () => {
  it('is the plain, -x and -d modes only', () => {
    expect((['default', 'x', 'd', 'X', 'XX'] as const).map(isRowMode)).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  it('fed the VMAs one by one as a parser hands them on, prints what renderPmap prints', () => {
    const ranges = [
      undefined,
      parseAddressRange('7f0000100000,7ffd00000000'),
      parseAddressRange('ffffffffff600000'),
    ];
    for (const map of maps) {
      for (const mode of ['default', 'x', 'd'] as PmapRowMode[]) {
        for (const range of ranges) {
          for (const extra of [{}, { quiet: true }, { showPath: true, kernelNames: true }]) {
            const opts = { mode, range, ...extra };
            const rows = new PmapRowRenderer(map.header, opts, 1);
            for (const v of map.vmas) rows.row(v);
            const text = rows.finish().toString();
            expect(text).toBe(renderPmap(map, opts));
            expect(text.startsWith(`${header.pid}:   `)).toBe(true);
          }
        }
      }
    }
  });

  it('counts the rows it printed, and streams from a parser with the same text', () => {
    const edge = maps[1];
    const all = new PmapRowRenderer(edge.header, { mode: 'x' });
    const ranged = new PmapRowRenderer(edge.header, {
      mode: 'x',
      range: parseAddressRange('ffffffffff600000'),
    });
    const parser = new SmapsParser((v) => {
      all.row(v);
      ranged.row(v);
    });
    parser.feed(Buffer.from(edgeSmaps()));
    expect(parser.finish()).toEqual([]);
    expect(all.rows).toBe(5);
    expect(ranged.rows).toBe(1);
    const text = all.finish().toString();
    expect(text).toBe(renderPmap(edge, { mode: 'x' }));
    expect(text).toContain('ffffffffff600000       4 999999999999       7 --x--   [ anon ]');
    expect(text).toContain('with space (deleted)');
    expect(text).toContain('[ shmid=0x20 ]');
    expect(text).toContain('  [ stack ]');
  });
});
