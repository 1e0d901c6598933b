/**
 * Fidelity harness: our renderer vs /usr/bin/pmap (procps-ng 4.0.2) on the same stopped processes,
 * byte for byte, for every mode combination.
 *
 * Targets (all stopped with SIGSTOP, so their maps cannot change): the mapping zoo
 * (test/fixtures/zoo.c), a zoo with 20,500 extra VMAs, a Node process whose argv holds spaces,
 * UTF-8 and a tab, a shell, and the kernel thread kthreadd (PID 2).
 *
 * Modes: default, -x, -X, -XX, -d, each plain, -q, -p and -q -p; -A ranges (a single address,
 * an address inside a VMA, low,high, low, and ,high) with default and -d in all four flag sets,
 * with -x where 4.0.2 is not defective (with -q, or an open low side).
 *
 * Skipped on purpose, the documented 4.0.2 defects (docs/reference.md §1) that pmapd fixes: -X/-XX
 * with -A (4.0.2 ignores -A) and -x -A with a footer and VMAs below the range (4.0.2 adds their
 * RSS/Dirty to the totals). -k cannot be compared (4.0.2 has no -k; unit-tested instead).
 *
 * Pss drift: Pss / Shared_Clean / Private_Clean of a file page depend on how many processes map
 * it, and pmap itself maps libc, ld.so and libproc2. Reading smaps after pmap has exited gives
 * different numbers for the shared-library rows. So we read while pmap is alive: pmap writes to a
 * FIFO shrunk to one page, blocks in pipe_write once its output passes ~8 KiB, and only then do we
 * read /proc/PID/smaps with the real reader; then we drain the FIFO. For outputs too small to
 * block, pmap is a zombie by the time we read (its mappings are gone): those can drift, which is
 * why each smaps mode is also run on outputs that do block (the 20k-VMA target) — see TOLERANCE
 * below for the one narrowly defined exception and the reasons.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseAddressRange, type AddressRange, type MemoryMap } from '@app/domain';
import { ProcReader } from '@app/procfs';
import { renderPmap, type PmapMode, type PmapRenderOptions } from '@app/pmap-format';
import koffi from 'koffi';

const PMAP = '/usr/bin/pmap';
const BUILD = join(__dirname, '.build');
const F_SETPIPE_SZ = 1031;

const libc = koffi.load('libc.so.6');
const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)') as (
  fd: number,
  cmd: number,
  arg: number,
) => number;

const sleepMs = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

function procState(pid: number): string | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return s[s.lastIndexOf(')') + 2];
  } catch {
    return undefined;
  }
}

function waitStopped(pid: number): void {
  const deadline = Date.now() + 20000;
  while (procState(pid) !== 'T') {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop`);
    sleepMs(5);
  }
}

interface Target {
  label: string;
  pid: number;
  child?: ChildProcess;
  /** Skip -p variants / ranges for speed on huge maps. */
  big?: boolean;
}

interface RunResult {
  ours: string;
  theirs: string;
  status: number | null;
  stderr: string;
  blocked: boolean;
}

const reader = new ProcReader();

/**
 * Runs pmap with stdout on a one-page FIFO; once pmap blocks writing (or has finished), reads and
 * renders the process ourselves, then drains pmap's output.
 */
async function runBoth(
  dir: string,
  pid: number,
  args: string[],
  opts: PmapRenderOptions,
): Promise<RunResult> {
  const fifo = join(dir, 'out.fifo');
  if (!fs.existsSync(fifo)) execFileSync('mkfifo', [fifo]);
  const rfd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const wfd = fs.openSync(fifo, fs.constants.O_WRONLY);
  const cap = fcntl(wfd, F_SETPIPE_SZ, 4096);
  // Fill the pipe so that pmap's very first write blocks, however small its output: pmap then
  // stays alive, with its mappings, until we have read smaps.
  const filler = Buffer.alloc(cap > 0 ? cap : 4096, 0x2e);
  fs.writeSync(wfd, filler);
  const child = spawn(PMAP, [...args, String(pid)], {
    stdio: ['ignore', wfd, 'pipe'],
    env: { ...process.env, LC_ALL: 'C.UTF-8' },
  });
  fs.closeSync(wfd);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const cpid = child.pid!;
  // Wait until pmap blocks on the full pipe or is done.
  let blocked = false;
  const deadline = Date.now() + 60000;
  for (;;) {
    const st = procState(cpid);
    if (st === undefined || st === 'Z') break;
    let wchan = '';
    try {
      wchan = fs.readFileSync(`/proc/${cpid}/wchan`, 'latin1');
    } catch {
      break;
    }
    // 6.18 names it anon_pipe_write / fifo_pipe_write, older kernels pipe_write.
    if (wchan.endsWith('pipe_write')) {
      blocked = true;
      break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`pmap neither blocked nor finished (wchan ${wchan})`);
    }
    sleepMs(1);
  }
  const detail = opts.mode === 'default' || opts.mode === 'd' ? 'maps' : 'smaps';
  const map: MemoryMap = await reader.readMemoryMap(pid, { detail });
  const ours = renderPmap(map, opts);
  // Drain.
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(rfd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        // Nothing yet; but the writer may be gone already (then read returns 0 below).
        await new Promise((r) => setImmediate(r));
        continue;
      }
      throw e;
    }
    if (n === 0) {
      if (procState(cpid) === undefined || procState(cpid) === 'Z') break;
      await new Promise((r) => setImmediate(r));
      continue;
    }
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  fs.closeSync(rfd);
  const status = await exited;
  const all = Buffer.concat(chunks);
  expect(all.subarray(0, filler.length).equals(filler)).toBe(true);
  const theirs = all.subarray(filler.length).toString('utf8');
  return { ours, theirs, status, stderr, blocked };
}

interface Combo {
  mode: PmapMode;
  quiet: boolean;
  showPath: boolean;
  range?: { text: string; range: AddressRange };
}

function argsOf(c: Combo): string[] {
  const a: string[] = [];
  if (c.mode === 'x') a.push('-x');
  if (c.mode === 'X') a.push('-X');
  if (c.mode === 'XX') a.push('-XX');
  if (c.mode === 'd') a.push('-d');
  if (c.quiet) a.push('-q');
  if (c.showPath) a.push('-p');
  if (c.range) a.push('-A', c.range.text);
  return a;
}

function comboName(c: Combo): string {
  return [c.mode, c.quiet ? 'q' : '', c.showPath ? 'p' : '', c.range ? 'A' : ''].join('');
}

/** Ranges chosen from the target's own VMAs. */
async function rangesFor(pid: number): Promise<Array<{ text: string; range: AddressRange }>> {
  const vmas = (await reader.readMemoryMap(pid, { detail: 'maps' })).vmas;
  if (vmas.length < 4) return [];
  const hex = (v: bigint) => v.toString(16);
  const mid = vmas[Math.floor(vmas.length / 2)];
  const q1 = vmas[Math.floor(vmas.length / 4)];
  const q3 = vmas[Math.floor((3 * vmas.length) / 4)];
  const texts = [
    hex(mid.start),
    '0x' + hex(mid.start + (mid.end - mid.start) / 2n),
    `${hex(q1.start)},${hex(q3.start)}`,
    `${hex(q3.start + 1n)},`,
    `,${hex(q1.end - 1n)}`,
  ];
  return texts.map((text) => ({ text, range: parseAddressRange(text) }));
}

/** Is this combination one of the documented 4.0.2 defects (not comparable)? */
function isKnownDefect(c: Combo): boolean {
  if (!c.range) return false;
  if (c.mode === 'X' || c.mode === 'XX') return true; // 4.0.2 ignores -A
  if (c.mode === 'x' && !c.quiet && c.range.range.low !== undefined) return true; // totals defect
  return false;
}

function combosFor(t: Target, ranges: Array<{ text: string; range: AddressRange }>): Combo[] {
  const out: Combo[] = [];
  const modes: PmapMode[] = ['default', 'x', 'X', 'XX', 'd'];
  const flagSets = t.big
    ? [
        [false, false],
        [true, false],
      ]
    : [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ];
  for (const mode of modes) {
    for (const [quiet, showPath] of flagSets) {
      out.push({ mode, quiet, showPath });
      for (const range of ranges) out.push({ mode, quiet, showPath, range });
    }
  }
  return out;
}

/**
 * TOLERANCE (smaps modes only). Pss, Shared_Clean and Private_Clean of a page of a shared file
 * depend on how many processes map that page at the instant of the read: pmap itself (kept alive
 * and blocked while we read, see runBoth), but also every process that starts or exits anywhere on
 * the machine in between (each maps libc and ld.so; on this shared 2-core box that is constant
 * churn), and pmap's own pass 1 (totals) and pass 2 (rows) are two reads. A mismatch is first
 * retried (RETRIES); if it persists we accept it only when every differing cell is in one of those
 * three columns, in a row backed by a file (inode != 0) or in the totals row, with every other
 * byte of the output identical and the line lengths equal. Such runs are counted as "tolerated",
 * never as identical.
 */
const RETRIES = 3;
const DRIFT_COLUMNS = new Set(['Pss', 'Shared_Clean', 'Private_Clean']);

function tolerated(c: Combo, ours: string, theirs: string, columns: string[]): string | undefined {
  if (c.mode !== 'X' && c.mode !== 'XX') return undefined;
  const a = ours.split('\n');
  const b = theirs.split('\n');
  if (a.length !== b.length) return undefined;
  const cells: string[] = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    if (a[i].length !== b[i].length) return undefined;
    const ta = a[i].trim().split(/ +/);
    const tb = b[i].trim().split(/ +/);
    if (ta.length !== tb.length) return undefined;
    const totals = !c.quiet && i === a.length - 2;
    const base = totals ? 0 : 5;
    if (!totals && tb[4] === '0') return undefined; // not file-backed
    for (let k = 0; k < ta.length; k++) {
      if (ta[k] === tb[k]) continue;
      const col = columns[k - base];
      if (k < base || col === undefined || !DRIFT_COLUMNS.has(col)) return undefined;
      cells.push(`${totals ? 'total' : tb[0]} ${col} ${ta[k]}/${tb[k]}`);
    }
  }
  return `shared-file drift in ${cells.join(', ')} (ours/pmap)`;
}

/** The smaps columns pmap shows for a mode, from the process's first VMA. */
async function smapsColumns(pid: number, mode: PmapMode): Promise<string[]> {
  const v = (await reader.readMemoryMap(pid, { detail: 'smaps' })).vmas.find(
    (x) => x.fields?.length,
  );
  const hidden = new Set(['AnonHugePages', 'KernelPageSize', 'MMUPageSize', 'Shared_Dirty']);
  for (const h of ['Private_Dirty', 'Shared_Clean', 'Private_Clean']) hidden.add(h);
  const names = v ? v.fields!.map((f) => f.name) : [];
  return mode === 'XX' ? names : names.filter((n) => !hidden.has(n));
}

describe('fidelity: renderPmap vs /usr/bin/pmap 4.0.2 on live stopped processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmapd-fidelity-'));
  const targets: Target[] = [];

  const startZoo = async (label: string, extra: string[], big = false): Promise<Target> => {
    const zdir = mkdtempSync(join(dir, 'zoo-'));
    const child = spawn(join(BUILD, 'zoo'), [zdir, ...extra], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`zoo exited ${code}`)));
    });
    waitStopped(child.pid!);
    return { label, pid: child.pid!, child, big };
  };

  beforeAll(async () => {
    targets.push(await startZoo('zoo', []));
    targets.push(await startZoo('zoo-20500-vmas', ['--vmas', '20500'], true));
    const node = spawn(
      process.execPath,
      ['-e', 'setInterval(() => {}, 1e6)', 'arg with spaces', 'héllo', 'tab\there'],
      { stdio: 'ignore' },
    );
    const shell = spawn('/bin/sh', ['-c', 'while :; do sleep 1; done'], { stdio: 'ignore' });
    sleepMs(300); // let node map its heap and the shell start its loop
    for (const [label, c] of [
      ['node', node],
      ['shell', shell],
    ] as const) {
      process.kill(c.pid!, 'SIGSTOP');
      waitStopped(c.pid!);
      targets.push({ label, pid: c.pid!, child: c });
    }
    targets.push({ label: 'kthreadd', pid: 2 });
  }, 60000);

  afterAll(() => {
    for (const t of targets) {
      if (t.child?.pid) {
        try {
          process.kill(t.child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('is identical for every compared mode combination', async () => {
    const perMode = new Map<string, { same: number; total: number; tolerated: number }>();
    const failures: string[] = [];
    const tolerances: string[] = [];
    let skipped = 0;
    let blockedSmaps = 0;
    let retried = 0;
    for (const t of targets) {
      const ranges = t.pid === 2 ? [] : await rangesFor(t.pid);
      for (const c of combosFor(t, ranges)) {
        if (isKnownDefect(c)) {
          skipped++;
          continue;
        }
        const opts: PmapRenderOptions = { mode: c.mode };
        if (c.quiet) opts.quiet = true;
        if (c.showPath) opts.showPath = true;
        if (c.range) opts.range = c.range.range;
        let r = await runBoth(dir, t.pid, argsOf(c), opts);
        for (let k = 1; k < RETRIES && r.ours !== r.theirs; k++) {
          retried++;
          r = await runBoth(dir, t.pid, argsOf(c), opts);
        }
        expect(r.status).toBe(0);
        expect(r.stderr).toBe('');
        const key = comboName({ ...c, showPath: false, range: undefined }) + (c.range ? 'A' : '');
        const s = perMode.get(key) ?? { same: 0, total: 0, tolerated: 0 };
        s.total++;
        if (r.blocked && (c.mode === 'X' || c.mode === 'XX')) blockedSmaps++;
        if (r.ours === r.theirs) {
          s.same++;
        } else {
          const why = tolerated(c, r.ours, r.theirs, await smapsColumns(t.pid, c.mode));
          if (why) {
            s.tolerated++;
            tolerances.push(`${t.label} pmap ${argsOf(c).join(' ')}: ${why}`);
          } else {
            const a = r.ours.split('\n');
            const b = r.theirs.split('\n');
            const i = a.findIndex((l, k) => l !== b[k]);
            failures.push(
              `${t.label} pmap ${argsOf(c).join(' ')} (blocked=${r.blocked}) line ${i}:\n` +
                `  ours:   ${JSON.stringify(a[i])}\n  theirs: ${JSON.stringify(b[i])}`,
            );
          }
        }
        perMode.set(key, s);
      }
    }
    const lines = [...perMode.entries()].map(
      ([k, s]) =>
        `${k.padEnd(8)} ${s.same}/${s.total} identical (${((100 * s.same) / s.total).toFixed(1)}%)` +
        (s.tolerated ? `, ${s.tolerated} tolerated` : ''),
    );
    console.log(
      `fidelity vs ${PMAP} (procps-ng 4.0.2), targets: ${targets.map((t) => t.label).join(', ')}\n` +
        lines.join('\n') +
        `\nskipped (documented 4.0.2 defects): ${skipped}; -X/-XX runs read while pmap was blocked: ${blockedSmaps}; retries: ${retried}` +
        (tolerances.length ? `\ntolerated:\n  ${tolerances.join('\n  ')}` : ''),
    );
    expect(failures.slice(0, 10)).toEqual([]);
    expect(blockedSmaps).toBeGreaterThan(0);
  }, 300000);
});
