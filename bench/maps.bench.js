#!/usr/bin/env node
/*
 * Maps bench (run `npm run build` first): the map route end to end the way users call it, curl
 * through the gateway and one agent, against `/usr/bin/pmap` with the same flags on the same
 * stopped process with ~30,000 VMAs (the mapping zoo, test/fixtures/zoo.c `--vmas 30000`).
 *
 * 1. Speed: for -XX, -X, -x and plain text (format=text) and JSON view=XX (against pmap -XX),
 *    R interleaved runs of `pmap FLAGS PID > /dev/null` and `curl -s URL -o /dev/null`; medians
 *    and the ratio curl/pmap, measured in the same run. Targets (docs/BENCHMARKS.md): -XX, -X
 *    <= 0.5; -x, plain <= 1.0; JSON -XX <= 1.5.
 * 2. Memory: a fresh gateway, then C concurrent curls of the -XX text and then of the -XX JSON;
 *    the gateway's resident set (VmRSS sampled every 20 ms, and VmHWM) before and at its peak.
 *    Target: < 400 MiB with C = 100.
 *
 *   node bench/maps.bench.js [--runs 7] [--concurrent 100] [--vmas 30000] [--only x,plain]
 *
 * --only: the speed cases whose flags are listed (XX, X, x, plain, json); --concurrent 0: no
 * memory part.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const { arg, median, sleep } = require('./lib/common');
const {
  curls,
  memory,
  peakDuring,
  procState: state,
  startAgent,
  startGateway,
  startZoo,
} = require('./lib/cluster');

const RUNS = arg('--runs', 7);
const CONCURRENT = arg('--concurrent', 100);
const VMAS = arg('--vmas', 30000);
const ONLY = process.argv.includes('--only')
  ? process.argv[process.argv.indexOf('--only') + 1].split(',')
  : undefined;

function run(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function curlArgs(url) {
  return ['-sf', '-o', '/dev/null', url];
}

/** C concurrent curls of url; resolves with the peak VmRSS of pid meanwhile. */
async function concurrent(pid, url, c) {
  const { value: codes, peak } = await peakDuring(pid, () => curls(url, c));
  return { peak, ok: codes.filter((x) => x === '200').length };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'pmapd-bench-'));
  const stop = [];
  try {
    const zoo = await startZoo(dir, VMAS);
    stop.push(zoo);
    const pid = zoo.pid;
    const agent = await startAgent();
    stop.push(agent.child);
    let gw = await startGateway(dir, agent.address);
    stop.push(gw.child);
    const base = (gwUrl) => `${gwUrl}/v1/nodes/bench/processes/${pid}/maps`;
    const cases = [
      { key: 'XX', label: '-XX text', flags: ['-XX'], query: 'view=XX&format=text', target: 0.5 },
      { key: 'X', label: '-X text', flags: ['-X'], query: 'view=X&format=text', target: 0.5 },
      { key: 'x', label: '-x text', flags: ['-x'], query: 'view=x&format=text', target: 1.0 },
      { key: 'plain', label: 'plain text', flags: [], query: 'format=text', target: 1.0 },
      { key: 'json', label: 'JSON XX vs -XX', flags: ['-XX'], query: 'view=XX', target: 1.5 },
    ].filter((c) => !ONLY || ONLY.includes(c.key));
    for (const c of cases) {
      const url = `${base(gw.url)}?${c.query}`;
      run('/usr/bin/pmap', [...c.flags, String(pid)]); // warm-up both
      run('curl', curlArgs(url));
      const theirs = [];
      const ours = [];
      for (let i = 0; i < RUNS; i++) {
        theirs.push(run('/usr/bin/pmap', [...c.flags, String(pid)]));
        ours.push(run('curl', curlArgs(url)));
      }
      const mt = median(theirs);
      const mo = median(ours);
      const ratio = mo / mt;
      console.log(
        `maps ${c.label} of ${VMAS} VMAs: /usr/bin/pmap ${mt.toFixed(1)} ms, curl via gateway ${mo.toFixed(1)} ms ` +
          `-> ratio ${ratio.toFixed(2)}x (target <= ${c.target}x) ${ratio <= c.target ? 'OK' : 'MISSED'}`,
      );
    }

    if (CONCURRENT === 0) return;
    // Memory: a fresh gateway (its VmHWM is then this test's).
    gw.child.kill('SIGTERM');
    gw = await startGateway(dir, agent.address);
    stop.push(gw.child);
    await sleep(500);
    for (const [label, q] of [
      ['-XX text', 'view=XX&format=text'],
      ['-XX JSON', 'view=XX'],
    ]) {
      const before = memory(gw.child.pid).rss;
      const { peak, ok } = await concurrent(gw.child.pid, `${base(gw.url)}?${q}`, CONCURRENT);
      console.log(
        `gateway memory, ${CONCURRENT} concurrent ${label} maps of ${VMAS} VMAs (${ok} answered 200): ` +
          `RSS ${before.toFixed(0)} MiB before, peak ${peak.toFixed(0)} MiB (VmHWM ${memory(gw.child.pid).hwm.toFixed(0)} MiB) ` +
          `(target < 400 MiB) ${peak < 400 ? 'OK' : 'MISSED'}`,
      );
    }
  } finally {
    for (const p of stop.reverse()) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
