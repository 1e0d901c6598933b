import * as fs from 'fs';
import { parseMaps, parseSmaps } from '@app/procfs';
import { fixturePath } from '../../../test/fixtures/paths';

/**
 * Performance self-check (prints timings; deliberately no timed assertion): parse a synthetic
 * 30,000-VMA smaps text built from the fixture's VMA blocks with fresh addresses.
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

describe('parser performance (self-check)', () => {
  it('parses 30,000 VMAs', () => {
    const { smaps, maps } = synthetic(30000);
    const time = (f: () => unknown): number => {
      let best = Infinity;
      for (let r = 0; r < 5; r++) {
        const t = process.hrtime.bigint();
        f();
        best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e6);
      }
      return best;
    };
    const s = parseSmaps(smaps);
    expect(s).toHaveLength(30000);
    expect(s[29999].fields!.length).toBe(24);
    expect(parseMaps(maps)).toHaveLength(30000);
    const bytes = Buffer.from(smaps);
    const fromBytes = parseSmaps(bytes);
    expect(fromBytes).toHaveLength(30000);
    expect([fromBytes[0], fromBytes[12345], fromBytes[29999]]).toEqual([s[0], s[12345], s[29999]]);
    const ms = time(() => parseSmaps(smaps));
    const mb = time(() => parseSmaps(bytes));
    const mm = time(() => parseMaps(maps));
    process.stdout.write(
      `parseSmaps 30,000 VMAs (${(smaps.length / 1e6).toFixed(1)} MB): best ${ms.toFixed(1)} ms ` +
        `from text, ${mb.toFixed(1)} ms from bytes; parseMaps: best ${mm.toFixed(1)} ms\n`,
    );
  });
});
