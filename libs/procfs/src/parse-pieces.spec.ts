import * as fs from 'fs';
import fc from 'fast-check';
import type { Vma } from '@app/domain';
import { MapsLinesParser, parseMaps, parseSmaps, SmapsParser, type MapsParser } from '@app/procfs';
import { fixturePath } from '../../../test/fixtures/paths';

const fx = (name: string): Buffer => fs.readFileSync(fixturePath('procps-4.0.2', name));
const MAPS = fx('target_proc_maps.txt');
const SMAPS = fx('target_proc_smaps.txt');

/** A VMA as text, fields included (exact: values, units, VmFlags, kind). */
function sig(v: Vma): string {
  const f = v.fields
    ? v.fields.map((x) => `${x.name}=${x.value}${x.kb ? 'k' : ''}`).join(',')
    : '-';
  return `${v.start}-${v.end} ${v.perms} ${v.offset} ${v.devMajor}:${v.devMinor} ${v.inode} ${v.kind} ${v.name}|${f}|${v.vmFlags}`;
}

/** `bytes` cut after the line ends at the given (sorted, deduplicated) line numbers. */
function piecesAtLines(bytes: Buffer, cuts: number[]): Buffer[] {
  const ends: number[] = [];
  for (let i = bytes.indexOf(10); i >= 0; i = bytes.indexOf(10, i + 1)) ends.push(i + 1);
  const at = [...new Set(cuts.map((c) => ends[c % Math.max(1, ends.length)] ?? 0))].sort(
    (a, b) => a - b,
  );
  const out: Buffer[] = [];
  let from = 0;
  for (const e of at) {
    if (e > from) out.push(bytes.subarray(from, e));
    from = Math.max(from, e);
  }
  out.push(bytes.subarray(from));
  return out;
}

function fed(parser: MapsParser, pieces: Uint8Array[]): Vma[] {
  for (const p of pieces) parser.feed(p);
  return parser.finish();
}

/** Generated smaps: runs of VMAs with equal fields, some with fewer or other fields. */
const smapsArb = fc
  .array(
    fc.record({
      rss: fc.constantFrom(0, 0, 0, 4, 8, 123456),
      fewer: fc.boolean(),
      other: fc.boolean(),
      name: fc.constantFrom('', '', '/lib/a b.so', '/x (deleted)', '[stack]'),
    }),
    { maxLength: 40 },
  )
  .map((specs) => {
    let text = '';
    specs.forEach((s, i) => {
      const start = (0x10000 + i * 2) * 4096;
      const prefix = `${start.toString(16)}-${(start + 4096).toString(16)} ${i % 2 ? 'r--p' : 'rw-p'} 00000000 00:00 0 `;
      text += s.name ? prefix.padEnd(72) + ' ' + s.name + '\n' : prefix + '\n';
      text += `Size:                  4 kB\nRss:    ${s.rss} kB\n`;
      if (!s.fewer) text += `${s.other ? 'Swap' : 'Pss'}:   0 kB\nTHPeligible:    0\n`;
      text += 'VmFlags: rd wr mr \n';
    });
    return Buffer.from(text);
  });

describe('SmapsParser / MapsLinesParser fed in pieces', () => {
  it('parse the fixture cut at every tenth line exactly as the whole file', () => {
    const whole = parseSmaps(SMAPS).map(sig);
    const lines = SMAPS.toString().split('\n').length;
    const cuts = Array.from({ length: Math.floor(lines / 10) }, (_, i) => i * 10);
    expect(fed(new SmapsParser(), piecesAtLines(SMAPS, cuts)).map(sig)).toEqual(whole);
    const maps = parseMaps(MAPS).map(sig);
    expect(fed(new MapsLinesParser(), piecesAtLines(MAPS, [1, 2, 5, 9, 30])).map(sig)).toEqual(
      maps,
    );
    expect(maps.length).toBeGreaterThan(10);
  });

  it('parse generated smaps cut at any line ends exactly as the whole', () => {
    fc.assert(
      fc.property(smapsArb, fc.array(fc.nat(400), { maxLength: 12 }), (bytes, cuts) => {
        const pieces = piecesAtLines(bytes, cuts);
        expect(Buffer.concat(pieces).equals(bytes)).toBe(true);
        expect(fed(new SmapsParser(), pieces).map(sig)).toEqual(parseSmaps(bytes).map(sig));
        expect(fed(new MapsLinesParser(), pieces).map(sig)).toEqual(parseMaps(bytes).map(sig));
      }),
      { numRuns: 200 },
    );
  });

  it('with onVma, hand each VMA on once complete, in order, and keep none', () => {
    fc.assert(
      fc.property(smapsArb, fc.array(fc.nat(400), { maxLength: 12 }), (bytes, cuts) => {
        const pieces = piecesAtLines(bytes, cuts);
        for (const [make, whole] of [
          [(on: (v: Vma) => void) => new SmapsParser(on), parseSmaps(bytes)],
          [(on: (v: Vma) => void) => new MapsLinesParser(on), parseMaps(bytes)],
        ] as const) {
          const got: string[] = [];
          const parser = make((v) => got.push(sig(v)));
          expect(fed(parser, pieces)).toEqual([]);
          expect(got).toEqual(whole.map(sig));
        }
      }),
      { numRuns: 100 },
    );
    // a smaps VMA is handed on only when its fields are all there (the next header, or finish)
    const seen: Vma[] = [];
    const p = new SmapsParser((v) => seen.push(v));
    p.feed(Buffer.from('1000-2000 rw-p 00000000 00:00 0\nSize: 4 kB\n'));
    expect(seen).toHaveLength(0);
    p.feed(Buffer.from('Rss: 4 kB\n2000-3000 rw-p 00000000 00:00 0\n'));
    expect(seen.map((v) => v.fields!.length)).toEqual([2]);
    p.finish();
    expect(seen.map((v) => v.fields!.length)).toEqual([2, 0]);
  });

  it('an empty map and empty pieces give no VMA', () => {
    expect(fed(new SmapsParser(), [])).toEqual([]);
    expect(fed(new SmapsParser(), [Buffer.alloc(0), new Uint8Array(0)])).toEqual([]);
    expect(fed(new MapsLinesParser(), [Buffer.alloc(0)])).toEqual([]);
  });
});

describe('SmapsParser field arrays', () => {
  const h = (a: number): string =>
    `${(a * 0x1000).toString(16)}-${((a + 1) * 0x1000).toString(16)} rw-p 00000000 00:00 0\n`;

  it('a VMA whose fields all equal the previous one shares its array; others get their own', () => {
    const text =
      h(1) +
      'Size: 4 kB\nRss: 0 kB\nVmFlags: rd\n' +
      h(2) +
      'Size: 4 kB\nRss: 0 kB\nVmFlags: wr\n' +
      h(3) +
      'Size: 4 kB\nRss: 4 kB\n' +
      h(4) +
      'Size: 4 kB\n' +
      h(5) +
      'Size: 4 kB\nRss: 4 kB\nSwap: 0 kB\n' +
      h(6);
    // the same fed whole and line by line
    const byLine = new SmapsParser();
    for (const line of text.split(/(?<=\n)/)) byLine.feed(Buffer.from(line));
    for (const got of [parseSmaps(text), byLine.finish()]) {
      const f = got.map((v) => v.fields!);
      expect(f.map((x) => x.map((y) => `${y.name}=${y.value}`).join(' '))).toEqual([
        'Size=4 Rss=0',
        'Size=4 Rss=0',
        'Size=4 Rss=4',
        'Size=4',
        'Size=4 Rss=4 Swap=0',
        '',
      ]);
      expect(got.map((v) => v.vmFlags)).toEqual(['rd', 'wr', '', '', '', '']);
      expect(f[1]).toBe(f[0]);
      expect(f[2]).not.toBe(f[1]);
      expect(f[2][0]).toBe(f[1][0]);
      expect(f[3]).not.toBe(f[2]);
      expect(f[4]).not.toBe(f[3]);
      expect(f[4][0]).toBe(f[3][0]);
      expect(f[5]).toEqual([]);
    }
  });
});
