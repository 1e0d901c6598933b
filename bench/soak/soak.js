#!/usr/bin/env node
/*
 * npm run soak — reliability soak of pmapd on this machine (docs/RELIABILITY.md):
 *
 *   1. cost on the node: an idle agent's CPU and RSS; the agent CPU of one fleet audit, as % of a
 *      core at one audit every 10 s;
 *   2. REST fuzz: fast-check requests (paths, query strings, headers, unicode, 2^64...) against the
 *      live gateway: no 5xx but 501/503/504;
 *   3. load: SOAK_CLIENTS (200) keep-alive clients for SOAK_SECONDS (60) on the map and process
 *      endpoints of 3 agents: every answer must be 200; p50/p99, throughput, RSS before/after;
 *   4. faults: kill -9 an agent during a fleet query and during a streamed 20,000-VMA map (the
 *      gateway answers on time with the node failed / 503), restart it on the same address (served
 *      again within 5 s), processes exiting while their maps stream (404 or a complete map), an
 *      agent whose /proc reads stall (504 / DEADLINE_EXCEEDED on time), a burst of heavy reads
 *      against one agent (its limiter: 200/429/504 only, health still answers);
 *   then one table. Exit status 1 when anything failed.
 *
 * Environment: SOAK_SECONDS, SOAK_CLIENTS, SOAK_IDLE_SECONDS (10), SOAK_FUZZ_RUNS (300),
 * SOAK_NO_BUILD=1 (use the existing dist/).
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const L = require('./lib');

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 200);
const IDLE_SECONDS = Number(process.env.SOAK_IDLE_SECONDS ?? 10);
const FUZZ_RUNS = Number(process.env.SOAK_FUZZ_RUNS ?? 300);

const results = { faults: [], notes: [] };
let failures = 0;

function fault(name, ok, detail) {
  results.faults.push({ name, ok, detail });
  if (!ok) failures++;
  console.error(`  fault ${ok ? 'survived' : 'FAILED  '}: ${name} — ${detail}`);
}

async function main() {
  const t0 = Date.now();
  L.prepare();
  const dir = mkdtempSync(join(tmpdir(), 'pmapd-soak-'));
  const children = [];
  try {
    // ---- targets: a small zoo (load), a 20,000-VMA zoo (streamed-map faults), a stalled proc root
    const zoo = await L.spawnZoo(mkdtempSync(join(dir, 'z')));
    const bigZoo = await L.spawnZoo(mkdtempSync(join(dir, 'z')), ['--vmas', '20000']);
    children.push(zoo.child, bigZoo.child);
    const stalled = join(dir, 'proc');
    const pdir = join(stalled, '4242');
    mkdirSync(pdir, { recursive: true });
    for (const f of ['stat', 'status', 'cmdline', 'cgroup']) {
      writeFileSync(join(pdir, f), readFileSync(`/proc/self/${f}`));
    }
    writeFileSync(join(stalled, 'stat'), readFileSync('/proc/stat'));
    execFileSync('mkfifo', [join(pdir, 'smaps_rollup'), join(pdir, 'maps')]);

    // ---- three agents + a stalled one, the gateway
    const agents = await Promise.all([
      L.startAgent('127.0.0.31', 'n1'),
      L.startAgent('127.0.0.32', 'n2'),
      L.startAgent('127.0.0.33', 'n3'),
      L.startAgent('127.0.0.34', 'slow', ['--proc-root', stalled, '--proc-read-timeout-ms', '500']),
    ]);
    children.push(...agents.map((a) => a.child));
    const [n1, n2, n3, slow] = agents;
    // Limits suited to a soak from one client address (the default 50 requests/s per client IP
    // would refuse most of the load); only when this gateway has the `limits` section.
    const gwConfig = readFileSync(L.GATEWAY.replace('main.js', 'config/gateway-config.js'), 'utf8');
    const limits = gwConfig.includes('limits')
      ? 'limits:\n  ratePerSecond: 100000\n  burst: 100000\n'
      : '';
    // The load/fuzz gateway fronts n1-n3; a second one adds the stalled agent (fault e), so that
    // fleet queries of the fuzz and load phases do not all wait for it.
    const gateway = async (nodes, file) => {
      const cfgPath = join(dir, file);
      writeFileSync(
        cfgPath,
        'nodes:\n' +
          nodes.map((a) => `  - { name: ${a.name}, address: '${a.address}' }\n`).join('') +
          'healthIntervalMs: 1000\n' +
          // 200 closed-loop clients on a small box queue for seconds: room before a 504
          'requestTimeoutMs: 30000\n' +
          limits,
      );
      const g = await L.startGateway(cfgPath);
      children.push(g.child);
      return g;
    };
    const gw = await gateway([n1, n2, n3], 'cluster.yaml');
    const gw2 = await gateway([n1, n2, slow], 'cluster-stalled.yaml');
    const api = L.httpClient(gw.host, gw.port, CLIENTS + 64);
    const api2 = L.httpClient(gw2.host, gw2.port, 16);
    const alive = (c) => c.exitCode === null && c.signalCode === null;

    // ---- 1. cost on the node ------------------------------------------------------------------
    console.error(`cost: idle agent for ${IDLE_SECONDS} s, then 10 fleet audits on n1`);
    await L.sleep(1500); // let the boot settle
    const idle0 = L.cpuMs(n1.pid);
    await L.sleep(IDLE_SECONDS * 1000);
    const idleCpu = (L.cpuMs(n1.pid) - idle0) / (IDLE_SECONDS * 1000);
    const idleRss = L.rssBytes(n1.pid);
    await api.get('/v1/audit?nodes=n1&top=20');
    const a0 = L.cpuMs(n1.pid);
    const audits = 10;
    let auditErrors = 0;
    for (let i = 0; i < audits; i++) {
      const r = await api.get('/v1/audit?nodes=n1&top=20');
      if (r.status !== 200) auditErrors++;
    }
    const auditMs = (L.cpuMs(n1.pid) - a0) / audits;
    const procCount = JSON.parse(
      (await api.get('/v1/nodes/n1/processes?limit=1')).body,
    ).totalMatched;
    results.cost = {
      idleCpu,
      idleRss,
      auditMs,
      auditEvery10s: auditMs / 10000,
      procCount,
      auditErrors,
    };
    if (auditErrors > 0) failures++;

    // ---- 2. REST fuzz ---------------------------------------------------------------------------
    console.error(`fuzz: ${FUZZ_RUNS} random REST requests`);
    const { restRequestArbitrary } = require('./fuzz-arbitraries');
    const fc = require('fast-check');
    const fuzzRss0 = L.rssBytes(gw.pid);
    const samples = fc.sample(
      restRequestArbitrary({ nodes: ['n1', 'n2', 'n3'], pids: [zoo.pid] }),
      {
        numRuns: FUZZ_RUNS,
        seed: Number(process.env.SOAK_SEED ?? 42),
      },
    );
    const fuzz = { requests: 0, bad: [], statuses: {} };
    for (let i = 0; i < samples.length; i += 8) {
      await Promise.all(
        samples.slice(i, i + 8).map(async (s) => {
          const r = await api.get(s.path, { headers: s.headers, timeoutMs: 20000 });
          fuzz.requests++;
          fuzz.statuses[r.status] = (fuzz.statuses[r.status] ?? 0) + 1;
          if (r.status === 0 || (r.status >= 500 && ![501, 503, 504].includes(r.status))) {
            fuzz.bad.push(`${r.status} ${s.path} ${r.status === 0 ? r.body : ''}`);
          }
        }),
      );
    }
    fuzz.rss = [fuzzRss0, L.rssBytes(gw.pid)];
    results.fuzz = fuzz;
    if (fuzz.bad.length > 0 || !alive(gw.child)) failures++;
    for (const b of fuzz.bad.slice(0, 5)) console.error(`  fuzz: ${b}`);

    // ---- 3. load ---------------------------------------------------------------------------------
    console.error(`load: ${CLIENTS} clients for ${SECONDS} s on 3 agents`);
    const loadNodes = [n1, n2, n3];
    const rssBefore = { gateway: L.rssBytes(gw.pid) };
    for (const a of loadNodes) rssBefore[a.name] = L.rssBytes(a.pid);
    const paths = [];
    for (const a of loadNodes) {
      paths.push(
        `/v1/nodes/${a.name}/processes/${zoo.pid}/maps`,
        `/v1/nodes/${a.name}/processes/${zoo.pid}/maps?format=text`,
        `/v1/nodes/${a.name}/processes/${zoo.pid}/maps?view=x`,
        `/v1/nodes/${a.name}/processes/${zoo.pid}/maps?view=XX&format=text`,
        `/v1/nodes/${a.name}/processes?name=zoo&limit=5`,
        `/v1/nodes/${a.name}/processes?sort=rss&limit=10`,
      );
    }
    const lat = [];
    const errs = {};
    let requests = 0;
    const loadStart = performance.now();
    const until = loadStart + SECONDS * 1000;
    let k = 0;
    const client = async () => {
      while (performance.now() < until) {
        const path = paths[k++ % paths.length];
        const r = await api.get(path, { timeoutMs: 60000 });
        requests++;
        lat.push(r.ms);
        if (r.status !== 200) {
          const key = `${r.status} ${path.replace(/\d{3,}/g, 'N')}`;
          errs[key] = (errs[key] ?? 0) + 1;
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    const loadSec = (performance.now() - loadStart) / 1000;
    await L.sleep(2000);
    const rssAfter = { gateway: L.rssBytes(gw.pid) };
    for (const a of loadNodes) rssAfter[a.name] = L.rssBytes(a.pid);
    lat.sort((a, b) => a - b);
    const errors = Object.values(errs).reduce((a, b) => a + b, 0);
    results.load = {
      requests,
      errors,
      errs,
      p50: L.percentile(lat, 50),
      p99: L.percentile(lat, 99),
      rps: requests / loadSec,
      rssBefore,
      rssAfter,
    };
    if (errors > 0) failures++;
    for (const [key, n] of Object.entries(errs)) console.error(`  load error: ${n} × ${key}`);

    // ---- 4. faults -------------------------------------------------------------------------------
    console.error('faults');
    const restartAgent = async (a) => {
      const b = await L.startAgent(a.host, a.name, a.extra, a.port);
      children.push(b.child);
      return b;
    };
    const servedAgain = async (name, pid, limitMs) => {
      const t = performance.now();
      while (performance.now() - t < limitMs + 2000) {
        const r = await api.get(`/v1/nodes/${name}/processes/${pid}/maps`, { timeoutMs: 2000 });
        if (r.status === 200) return performance.now() - t;
        await L.sleep(50);
      }
      return Infinity;
    };

    // a. kill -9 during a fleet query (/v1/maps lists every process and reads each one's maps)
    {
      const q = api.get('/v1/maps?mapping=.&nodes=n1,n2,n3&timeout=4000', { timeoutMs: 10000 });
      await L.sleep(60);
      await L.kill(n3.child);
      const r = await q;
      const body = r.status === 200 ? JSON.parse(r.body) : undefined;
      const failed = body?.failed?.find((f) => f.node === 'n3');
      fault(
        'kill -9 an agent during a fleet query (/v1/maps)',
        r.status === 200 && r.ms < 4000 + 1500 && body.responded >= 2 && failed !== undefined,
        `HTTP ${r.status} in ${r.ms.toFixed(0)} ms, n3 ${failed ? `failed ${failed.code}` : 'not failed'}, responded ${body?.responded}`,
      );
    }
    // b. restart it on the same address: served again within 5 s
    let n3b = await restartAgent(n3);
    {
      const ms = await servedAgain('n3', zoo.pid, 5000);
      fault('restart the killed agent: served again', ms < 5000, `after ${ms.toFixed(0)} ms`);
    }
    // c. kill -9 during a streamed map of a 20,000-VMA process
    {
      const q = api.get(`/v1/nodes/n3/processes/${bigZoo.pid}/maps?view=XX&timeout=8000`, {
        timeoutMs: 15000,
      });
      await L.sleep(150);
      await L.kill(n3b.child);
      const r = await q;
      fault(
        'kill -9 an agent during a streamed 20,000-VMA map',
        (r.status === 503 || r.status === 200) && r.ms < 8000,
        `HTTP ${r.status} in ${r.ms.toFixed(0)} ms`,
      );
      n3b = await restartAgent(n3);
      const ms = await servedAgain('n3', zoo.pid, 5000);
      fault(
        'restart after the streamed-map kill: served again',
        ms < 5000,
        `after ${ms.toFixed(0)} ms`,
      );
    }
    // d. processes that exit while their maps stream
    {
      const seen = {};
      let ok = true;
      for (let i = 0; i < 6; i++) {
        const victim = await L.spawnZoo(mkdtempSync(join(dir, 'v')), ['--vmas', '20000']);
        const q = api.get(
          `/v1/nodes/n2/processes/${victim.pid}/maps?view=${i % 2 ? 'x' : 'default'}&timeout=8000`,
          {
            timeoutMs: 15000,
          },
        );
        await L.sleep(20 + i * 30);
        await L.kill(victim.child);
        const r = await q;
        seen[r.status] = (seen[r.status] ?? 0) + 1;
        const exitedOk = r.status === 404 && /no such process|exited/.test(r.body);
        if (!(r.status === 200 || exitedOk) || r.ms >= 8000) ok = false;
      }
      fault(
        '6 processes exiting while their maps stream',
        ok,
        `statuses ${JSON.stringify(seen)} (404 exited or a complete map)`,
      );
    }
    // e. stalled /proc reads
    {
      // The agent's stuck read times out after --proc-read-timeout-ms (500): a 504 naming the
      // stuck file, and the agent goes on serving everything else.
      const r = await api2.get('/v1/nodes/slow/processes/4242/maps?timeout=5000', {
        timeoutMs: 10000,
      });
      fault(
        'stalled /proc: single map (read timeout 500 ms)',
        r.status === 504 && r.ms < 2500 && /did not return within 500 ms/.test(r.body),
        `HTTP ${r.status} in ${r.ms.toFixed(0)} ms`,
      );
      const f = await api2.get('/v1/audit?timeout=5000', { timeoutMs: 10000 });
      const body = f.status === 200 ? JSON.parse(f.body) : undefined;
      const slowNode = body?.nodes?.find((x) => x.node === 'slow');
      fault(
        'stalled /proc: fleet audit',
        f.status === 200 && f.ms < 3500 && body.failed.length === 0 && slowNode?.unreadable === 1,
        `HTTP ${f.status} in ${f.ms.toFixed(0)} ms, slow responded with ${slowNode?.unreadable} unreadable, responded ${body?.responded}`,
      );
    }
    // f. a burst of heavy reads against one agent (limiter): 200/429/504 only, health stays up
    {
      const rss0 = L.rssBytes(n2.pid);
      const burst = await Promise.all(
        Array.from({ length: 150 }, () =>
          api.get(`/v1/nodes/n2/processes/${bigZoo.pid}/maps?view=XX&timeout=3000`, {
            timeoutMs: 15000,
          }),
        ),
      );
      const st = {};
      for (const r of burst) st[r.status] = (st[r.status] ?? 0) + 1;
      const peak = L.rssBytes(n2.pid);
      const h = await api.get(`/v1/nodes/n2/processes?limit=1`, { timeoutMs: 10000 });
      const okStatuses = burst.every((r) => [200, 429, 504].includes(r.status));
      fault(
        'burst: 150 concurrent 20,000-VMA smaps maps on one agent',
        okStatuses && h.status === 200 && alive(n2.child),
        `statuses ${JSON.stringify(st)}, agent RSS ${L.mib(rss0)} -> ${L.mib(peak)} MiB, then a list: HTTP ${h.status} in ${h.ms.toFixed(0)} ms`,
      );
    }
    fault('gateway process alive at the end', alive(gw.child), `pid ${gw.pid}`);
    results.finalRss = { gateway: L.rssBytes(gw.pid) };
    api.close();
    api2.close();
    results.totalSec = (Date.now() - t0) / 1000;
    printTable();
  } finally {
    await Promise.all(children.map((c) => L.kill(c)));
    rmSync(dir, { recursive: true, force: true });
  }
  process.exitCode = failures > 0 ? 1 : 0;
}

function printTable() {
  const { load, fuzz, cost, faults } = results;
  const rows = [];
  const row = (k, v) => rows.push([k, v]);
  row(
    'load',
    `${CLIENTS} clients × ${SECONDS} s, 3 agents (maps default JSON/text, x, XX text; processes name=zoo, sort=rss)`,
  );
  row('requests', String(load.requests));
  row('errors', String(load.errors));
  row('p50 / p99', `${load.p50.toFixed(1)} ms / ${load.p99.toFixed(1)} ms`);
  row('throughput', `${load.rps.toFixed(0)} req/s`);
  for (const k of Object.keys(load.rssBefore)) {
    row(`RSS ${k} before/after`, `${L.mib(load.rssBefore[k])} / ${L.mib(load.rssAfter[k])} MiB`);
  }
  row(
    'REST fuzz',
    `${fuzz.requests} requests, ${fuzz.bad.length} bad 5xx, statuses ${JSON.stringify(fuzz.statuses)}`,
  );
  row('RSS gateway before/after fuzz', `${L.mib(fuzz.rss[0])} / ${L.mib(fuzz.rss[1])} MiB`);
  row('faults injected', String(faults.length));
  row('faults survived', String(faults.filter((f) => f.ok).length));
  row(
    'agent idle CPU / RSS',
    `${(cost.idleCpu * 100).toFixed(2)} % of a core / ${L.mib(cost.idleRss)} MiB`,
  );
  row(
    'fleet audit cost on the agent',
    `${cost.auditMs.toFixed(0)} ms CPU per audit (${cost.procCount} processes) = ${(cost.auditEvery10s * 100).toFixed(2)} % of a core at one audit / 10 s`,
  );
  row('soak duration', `${results.totalSec.toFixed(0)} s`);
  const w = Math.max(...rows.map((r) => r[0].length));
  const out = [
    '',
    '| measure | value |',
    '| --- | --- |',
    ...rows.map(([k, v]) => `| ${k.padEnd(w)} | ${v} |`),
  ];
  out.push('', '| fault | result | detail |', '| --- | --- | --- |');
  for (const f of faults) out.push(`| ${f.name} | ${f.ok ? 'survived' : 'FAILED'} | ${f.detail} |`);
  console.log(out.join('\n'));
  console.log(failures > 0 ? `\nSOAK FAILED (${failures})` : '\nSOAK OK');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
