#!/usr/bin/env node
/*
 * pmap -XX bench (run `npm run build` first): a stopped process with ~30,000 VMAs (the mapping
 * zoo, test/fixtures/zoo.c `--vmas 30000`). Measured side by side in one run, medians of 7:
 * `/usr/bin/pmap -XX PID` (output to /dev/null) vs pmapd reading /proc/PID/smaps with the real
 * reader as the agent configures it (ProcReader.readMemoryMap through the stuck-read guard's
 * worker thread, then renderPmap). Also -x and plain. Both wall
 * clock (median) and CPU time (user+sys per run; pmap's from the reaped-children counters) are
 * printed: on a loaded machine the CPU ratio is the steadier one.
 */
'use strict';
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const common = require('./lib/common');

const { ROOT: root, dist } = common;
const fmt = dist('pmap-format');
const procfs = dist('procfs');
/** Median wall ms, a full GC before each run. */
const time = (fn, n = 7) => common.time(fn, n, { gc: true });
const timeAsync = (fn, n = 7) => common.timeAsync(fn, n, { gc: true });

/** CPU ms (user+sys) of reaped children, from /proc/self/stat cutime+cstime (clock ticks). */
function childCpuMs() {
  const s = readFileSync('/proc/self/stat', 'latin1');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * 10; // fields 16, 17; USER_HZ = 100
}
/** Median wall ms and mean CPU ms per run (fn may be async). */
async function timeCpu(fn, child, n = 7) {
  const wall = await timeAsync(fn, n);
  const c0 = child ? childCpuMs() : process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const cpu = child ? childCpuMs() - c0 : ((u) => (u.user + u.system) / 1000)(process.cpuUsage(c0));
  return { wall, cpu: cpu / n };
}
function state(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return s[s.lastIndexOf(')') + 2];
  } catch {
    return undefined;
  }
}

async function main() {
  const build = join(root, 'test', '.build');
  const zoo = join(build, 'zoo');
  const src = join(root, 'test', 'fixtures', 'zoo.c');
  if (!existsSync(zoo) || statSync(zoo).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(build, { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', '-pthread', '-o', zoo, src], { stdio: 'inherit' });
  }
  const dir = mkdtempSync(join(tmpdir(), 'pmapd-bench-'));
  const child = spawn(zoo, [dir, '--vmas', '30000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (c) => reject(new Error(`zoo exited ${c}`)));
  });
  while (state(child.pid) !== 'T') await new Promise((r) => setTimeout(r, 5));
  const pid = child.pid;
  // As the agent reads: the mmap_lock files through the stuck-read guard (its worker pool).
  const guard = new procfs.GuardedFileReader({ timeoutMs: 10000 });
  const reader = new procfs.ProcReader({ lockedRead: (p, o) => guard.read(p, o) });
  try {
    const rows = [];
    for (const [mode, flag, detail] of [
      ['XX', '-XX', 'smaps'],
      ['x', '-x', 'smaps'],
      ['default', null, 'maps'],
    ]) {
      const args = flag ? [flag, String(pid)] : [String(pid)];
      let bytes = 0;
      const ours = async () => {
        const map = await reader.readMemoryMap(pid, { detail });
        bytes = fmt.renderPmap(map, { mode }).length;
      };
      const theirs = () => {
        const r = spawnSync('/usr/bin/pmap', args, { stdio: ['ignore', 'ignore', 'inherit'] });
        if (r.status !== 0) throw new Error(`pmap ${args.join(' ')} exited ${r.status}`);
      };
      await ours(); // warm-up (JIT) for both
      theirs();
      const { wall: tTheirs, cpu: cTheirs } = await timeCpu(theirs, true);
      const { wall: tOurs, cpu: cOurs } = await timeCpu(ours, false);
      let vmas = 0;
      let tRender = 0;
      {
        const map = await reader.readMemoryMap(pid, { detail });
        vmas = map.vmas.length;
        tRender = time(() => fmt.renderPmap(map, { mode }));
      }
      rows.push({ mode, vmas, bytes, tTheirs, tOurs, tRender, cTheirs, cOurs });
    }
    for (const r of rows) {
      const label = r.mode === 'default' ? 'plain' : `-${r.mode}`;
      console.log(
        `pmap ${label} of ${r.vmas} VMAs (${(r.bytes / 1e6).toFixed(1)} MB of text): ` +
          `/usr/bin/pmap ${r.tTheirs.toFixed(1)} ms, pmapd read+render ${r.tOurs.toFixed(1)} ms ` +
          `(render alone ${r.tRender.toFixed(1)} ms) -> ratio pmap/pmapd ${(r.tTheirs / r.tOurs).toFixed(2)}x; ` +
          `CPU per run ${r.cTheirs.toFixed(0)} vs ${r.cOurs.toFixed(0)} ms -> ${(r.cTheirs / r.cOurs).toFixed(2)}x`,
      );
    }
  } finally {
    guard.close();
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
