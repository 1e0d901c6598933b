import * as fs from 'fs';
import { parseMaps, parseSmaps } from '@app/procfs';
import { fixturePath } from '../../../test/fixtures/paths';

/**
 * The parsers at scale: a synthetic 30,000-VMA smaps text (and its maps) built from the fixture's
 * VMA blocks with fresh addresses, parsed from text and from bytes. No timing here: the parse
 * times are measured by bench/procfs.bench.js (`npm run bench -- procfs`).
 */
function synthetic(count: number): { smaps: string; maps: string } {
  const text = fs.readFileSync(fixturePath('procps-4.0.2', 'target_proc_smaps.txt'), 'utf8');
  const blocks = text.split(/(?=^[0-9a-f]+-[0-9a-f]+ )/m).filter((b) => b.length > 0);
  const smaps: string[] = [];
  const maps: string[] = [];
  let at = 0x7f0000000000n;
  for (let i = 0; i < count; i++) {
    const b = blocks[i % (blocks.length - 1)];
    const nl = b.indexOf('\n');
    const header = b.slice(0, nl);
    const sp = header.indexOf(' ');
    const end = at + 0x1000n * BigInt(1 + (i % 7));
    const h = `${at.toString(16)}-${end.toString(16)}${header.slice(sp)}`;
    smaps.push(h + b.slice(nl));
    maps.push(h + '\n');
    at = end + 0x1000n;
  }
  return { smaps: smaps.join(''), maps: maps.join('') };
}

describe('parsers on a 30,000-VMA map', () => {
  it('parses every VMA from text and from bytes, maps and smaps alike', () => {
    const { smaps, maps } = synthetic(30000);
    const s = parseSmaps(smaps);
    expect(s).toHaveLength(30000);
    expect(s[29999].fields!.length).toBe(24);
    const m = parseMaps(maps);
    expect(m).toHaveLength(30000);
    for (const i of [0, 12345, 29999]) {
      expect([m[i].start, m[i].end, m[i].name]).toEqual([s[i].start, s[i].end, s[i].name]);
    }
    const fromBytes = parseSmaps(Buffer.from(smaps));
    expect(fromBytes).toHaveLength(30000);
    expect([fromBytes[0], fromBytes[12345], fromBytes[29999]]).toEqual([s[0], s[12345], s[29999]]);
    expect(parseMaps(Buffer.from(maps))).toEqual(m);
  });
});
