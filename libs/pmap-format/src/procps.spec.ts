import { parseAddressRange, type MemoryMap, type ProcessHeader } from '@app/domain';
import { parseMaps, parseSmaps } from '@app/procfs';
import { renderPmap, type PmapRenderOptions } from '@app/pmap-format';
import { procpsFixtureHeader, readProcps } from '../../../test/helpers/procps-fixture';

/**
 * Golden data: real /usr/bin/pmap (procps-ng 4.0.2) output captured together with the /proc
 * inputs it read (test/fixtures/procps-4.0.2). We render those inputs and compare bytes.
 */
const read = readProcps;

const header: ProcessHeader = procpsFixtureHeader();
const mapsLevel: MemoryMap = { header, vmas: parseMaps(read('target_proc_maps.txt')) };
const smapsLevel: MemoryMap = { header, vmas: parseSmaps(read('target_proc_smaps.txt')) };
const kthread: MemoryMap = {
  header: { ...header, pid: 2, cmdline: '[kthreadd]', comm: 'kthreadd', startStack: 0n },
  vmas: [],
};

function render(opts: PmapRenderOptions, map?: MemoryMap | null): string {
  const smaps = opts.mode === 'x' || opts.mode === 'X' || opts.mode === 'XX';
  return renderPmap(map ?? (smaps ? smapsLevel : mapsLevel), opts);
}

const range = (s: string) => parseAddressRange(s);

/** fixture name -> options, for the fixtures that show fixed (not defective) behaviour. */
const CASES: Array<[string, PmapRenderOptions, MemoryMap | null]> = [
  ['plain', { mode: 'default' }, null],
  ['proc_form', { mode: 'default' }, null],
  ['x', { mode: 'x' }, null],
  ['X', { mode: 'X' }, null],
  ['XX', { mode: 'XX' }, null],
  ['d', { mode: 'd' }, null],
  ['q', { mode: 'default', quiet: true }, null],
  ['rflag', { mode: 'default', quiet: true }, null],
  ['xq', { mode: 'x', quiet: true }, null],
  ['dq', { mode: 'd', quiet: true }, null],
  ['Xq', { mode: 'X', quiet: true }, null],
  ['XXq', { mode: 'XX', quiet: true }, null],
  ['p', { mode: 'default', showPath: true }, null],
  ['xp', { mode: 'x', showPath: true }, null],
  ['dp', { mode: 'd', showPath: true }, null],
  ['Xp', { mode: 'X', showPath: true }, null],
  ['XXp', { mode: 'XX', showPath: true }, null],
  ['A_single', { mode: 'default', range: range('7f87adf00000') }, null],
  ['A_mid', { mode: 'default', range: range('7f87adf00100') }, null],
  ['A_low_only', { mode: 'default', range: range('7f87b3916000,') }, null],
  ['A_high_only', { mode: 'default', range: range(',55b750050000') }, null],
  ['A_lowhigh', { mode: 'default', range: range('7f87adc00000,7f87add00000') }, null],
  ['A_0x', { mode: 'default', range: range('0x7f87adf00000') }, null],
  ['d_A', { mode: 'd', range: range('7f87adc00000,7f87add00000') }, null],
  ['kthread', { mode: 'default' }, kthread],
  ['kthread_x', { mode: 'x' }, kthread],
  ['kthread_X', { mode: 'X' }, kthread],
];

/**
 * The README's caveat: Pss / Shared_Clean / Private_Clean of file-backed (shared-library) rows
 * drift between the smaps read and pmap's own read, because pmap itself maps the same pages.
 * For -X/-XX we therefore compare every line byte for byte except: in rows with a non-zero inode
 * and in the totals row, the cells of exactly those three columns are masked (and the line
 * lengths must still agree). Everything else — every other cell, widths, names, flags — is exact.
 */
const DRIFT = new Set(['Pss', 'Shared_Clean', 'Private_Clean']);

function expectSmapsColumnsMatch(out: string, golden: string, opts: PmapRenderOptions): void {
  const first = smapsLevel.vmas[0].fields!.map((f) => f.name);
  const hidden = ['AnonHugePages', 'KernelPageSize', 'MMUPageSize', 'Shared_Dirty'];
  hidden.push('Private_Dirty', 'Shared_Clean', 'Private_Clean');
  const cols = opts.mode === 'XX' ? first : first.filter((n) => !hidden.includes(n));
  const drift = cols.map((n, i) => (DRIFT.has(n) ? i : -1)).filter((i) => i >= 0);
  const a = out.split('\n');
  const b = golden.split('\n');
  expect(a.length).toBe(b.length);
  let masked = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    expect(a[i].length).toBe(b[i].length);
    const ta = a[i].trim().split(/ +/);
    const tb = b[i].trim().split(/ +/);
    const isTotals = ta[ta.length - 1] === 'KB';
    const base = isTotals ? 0 : 5;
    if (!isTotals) expect(ta[4]).not.toBe('0'); // only file-backed rows may drift
    for (const d of drift) {
      ta[base + d] = '*';
      tb[base + d] = '*';
    }
    expect(ta).toEqual(tb);
    masked++;
  }
  expect(masked).toBeLessThan(8); // the drift touches a handful of rows, never the layout
}

describe('renderPmap against procps-ng 4.0.2 golden output', () => {
  it.each(CASES)('t_%s.txt', (name, opts, map) => {
    const out = render(opts, map);
    const golden = read(`t_${name}.txt`);
    if ((opts.mode === 'X' || opts.mode === 'XX') && map === null) {
      expectSmapsColumnsMatch(out, golden, opts);
    } else {
      expect(out).toBe(golden);
    }
  });

  it('t_multi_x.txt: two PIDs are two renders concatenated', () => {
    expect(render({ mode: 'x' }) + render({ mode: 'x' })).toBe(read('t_multi_x.txt'));
  });

  it('FIXED vs 4.0.2 (t_multi_XX.txt): -XX totals and widths do not carry over to the next PID', () => {
    const one = render({ mode: 'XX' });
    const golden = read('t_multi_XX.txt');
    const cut = golden.indexOf('4541:', 1);
    // The first PID is what 4.0.2 prints for it alone.
    expectSmapsColumnsMatch(one, golden.slice(0, cut), { mode: 'XX' });
    // 4.0.2 then summed both PIDs into the second footer (and widened the columns for it).
    const lastLine = golden.trimEnd().split('\n').pop()!;
    expect(lastLine.trim().split(/ +/)[0]).toBe('194904'); // 2 x 97452
    // Fixed (procps >= 4.0.4): the second PID renders exactly as the first.
    expect(render({ mode: 'XX' }) + render({ mode: 'XX' })).toBe(one + one);
    expect(one.trimEnd().split('\n').pop()!.trim().split(/ +/)[0]).toBe('97452');
  });

  it('t_nopid_and_ok.txt: the readable PID renders as alone', () => {
    expect(render({ mode: 'default' })).toBe(read('t_nopid_and_ok.txt'));
  });

  it('FIXED vs 4.0.2 (t_x_A_low.txt): -x -A totals count only the printed VMA', () => {
    const golden = read('t_x_A_low.txt').split('\n');
    const out = render({ mode: 'x', range: range('7fffb9d04000') }).split('\n');
    // Everything but the totals line is identical to 4.0.2.
    expect(out.slice(0, 4)).toEqual(golden.slice(0, 4));
    // 4.0.2 printed "total kB 132 56636 49584" (RSS/Dirty of every VMA below the range).
    expect(golden[4]).toBe('total kB             132   56636   49584');
    expect(out[4]).toBe('total kB             132      60      60');
  });

  it('FIXED vs 4.0.2 (t_X_A.txt): -X -A prints only the VMAs in the range', () => {
    const golden = read('t_X_A.txt');
    expect(golden).toBe(read('t_X.txt')); // 4.0.2 ignored -A
    const out = render({ mode: 'X', range: range('7f87adc00000,7f87add00000') });
    const lines = out.split('\n');
    const gold = golden.split('\n');
    expect(lines[0]).toBe(gold[0]);
    const rows = lines.slice(2, -3);
    expect(rows).toHaveLength(2);
    // Each printed row is the 4.0.2 row of the same VMA re-justified to the range's widths.
    const norm = (s: string) => s.trim().split(/ +/).join(' ');
    for (const row of rows) {
      const start = row.trim().split(' ')[0];
      const g = gold.find((l) => l.trim().startsWith(start + ' '));
      expect(g).toBeDefined();
      expect(norm(row)).toBe(norm(g!));
    }
    // Totals are those of the two rows.
    const totals = lines[lines.length - 2].trim().split(/ +/);
    expect(totals[0]).toBe('2048');
    expect(totals[totals.length - 1]).toBe('KB');
  });
});
