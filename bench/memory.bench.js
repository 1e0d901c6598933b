#!/usr/bin/env node
/*
 * Memory under load, end to end (run `npm run build` first):
 *
 * 1. Agent: its RSS fresh (started, one small map answered), at the peak of a load (C concurrent
 *    curls of the -XX text, then of the -XX JSON, of the stopped 30,000-VMA mapping zoo through
 *    the gateway, plus C concurrent process lists with rollups), and settled (sampled each second
 *    for --settle seconds after the load). Target (issue 13): settled within 1.5× of fresh.
 * 2. Gateway: 20 clients that send a large fleet maps search as NDJSON and never read (the same
 *    agent under 60 node names, a 6,000-VMA zoo each, fanoutConcurrency 1): its RSS at rest and at
 *    the peak until it has cut them (per-node deadline --stall-timeout ms); the reference is what
 *    the 20 answers weigh (one reading client's bytes × 20). Target: peak < 400 MiB.
 *
 *   node bench/memory.bench.js [--concurrent 100] [--settle 30] [--vmas 30000]
 */
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const { arg, sleep } = require('./lib/common');
const { curls, memory, peakDuring, startAgent, startGateway, startZoo } = require('./lib/cluster');

const CONCURRENT = arg('--concurrent', 100);
const SETTLE_S = arg('--settle', 30);
const VMAS = arg('--vmas', 30000);
const CLIENTS = 20;
const SEARCH_NODES = 60;
const STALL_TIMEOUT_MS = arg('--stall-timeout', 15000);

const mib = (x) => `${x.toFixed(0)} MiB`;

/** The bytes of one GET (read to the end). */
function getBytes(url, headers = {}) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let n = 0;
        res.on('data', (d) => (n += d.length));
        res.on('end', () => resolve(n));
      })
      .on('error', reject);
  });
}

async function agentAfterLoad(dir) {
  const zoo = await startZoo(dir, VMAS);
  const agent = await startAgent(['--metrics-listen', '127.0.0.1:0']);
  const gw = await startGateway(dir, agent.address);
  try {
    const base = `${gw.url}/v1/nodes/bench/processes`;
    await getBytes(`${base}/${process.pid}/maps?format=text`);
    await sleep(1000);
    const fresh = memory(agent.child.pid).rss;
    const { value: codes, peak } = await peakDuring(agent.child.pid, async () => [
      ...(await curls(`${base}/${zoo.pid}/maps?view=XX&format=text`, CONCURRENT)),
      ...(await curls(`${base}/${zoo.pid}/maps?view=XX`, CONCURRENT)),
      ...(await curls(`${base}?sort=pss`, CONCURRENT)),
    ]);
    const ok = codes.filter((c) => c === '200').length;
    const byCode = {};
    for (const c of codes) byCode[c] = (byCode[c] ?? 0) + 1;
    const settled = [];
    for (let s = 1; s <= SETTLE_S; s++) {
      await sleep(1000);
      settled.push(memory(agent.child.pid).rss);
    }
    const last = settled[settled.length - 1];
    const reliefs = /^pmapd_agent_memory_reliefs_total (\d+)/m.exec(
      await (await fetch(`http://${agent.metrics}/metrics`)).text(),
    );
    console.log(
      `agent RSS: fresh ${mib(fresh)}, peak ${mib(peak)} during ${codes.length} requests (${ok} answered 200; codes ${JSON.stringify(byCode)}: ` +
        `${CONCURRENT} -XX text maps, ${CONCURRENT} -XX JSON maps, ${CONCURRENT} process lists of a ${VMAS}-VMA zoo's node), ` +
        `settled ${settled
          .filter((_, i) => (i + 1) % 5 === 0)
          .map((x, i) => `${(i + 1) * 5} s ${mib(x)}`)
          .join(', ')}; memory reliefs run: ${reliefs?.[1] ?? '?'}`,
    );
    console.log(
      `ratio agent settled/fresh: ${(last / fresh).toFixed(2)} (target ≤ 1.5; peak/fresh ${(peak / fresh).toFixed(2)})`,
    );
  } finally {
    gw.child.kill('SIGTERM');
    agent.child.kill('SIGTERM');
    zoo.kill('SIGKILL');
  }
}

async function gatewayWithStalledClients(dir) {
  const zoo = await startZoo(dir, 6000);
  const agent = await startAgent();
  const nodes = Array.from(
    { length: SEARCH_NODES },
    (_, i) =>
      `  - { name: s${String(i).padStart(2, '0')}, address: "${agent.address}", labels: { pool: search } }`,
  );
  const gw = await startGateway(dir, agent.address, {
    nodes,
    extraYaml: 'fanoutConcurrency: 1\nhealthIntervalMs: 5000\n',
  });
  const sockets = [];
  try {
    const name = encodeURIComponent(dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
    const query = `/v1/maps?labels=pool=search&mapping=^&timeout=${STALL_TIMEOUT_MS}&name=${name}`;
    const one = await getBytes(`${gw.url}${query}`, { accept: 'application/x-ndjson' });
    await sleep(1000);
    const rest = memory(gw.child.pid).rss;
    const { peak } = await peakDuring(gw.child.pid, async () => {
      for (let i = 0; i < CLIENTS; i++) {
        const s = net.connect(gw.port, '127.0.0.1');
        s.on('error', () => undefined);
        s.pause(); // never read
        s.write(
          `GET ${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/x-ndjson\r\nConnection: close\r\n\r\n`,
        );
        sockets.push(s);
      }
      await sleep(STALL_TIMEOUT_MS + 10000);
    });
    console.log(
      `gateway RSS: at rest ${mib(rest)}, peak ${mib(peak)} with ${CLIENTS} non-reading NDJSON clients of a ` +
        `${(one / 1e6).toFixed(1)} MB search each (${((one * CLIENTS) / 2 ** 20).toFixed(0)} MiB if buffered)`,
    );
    console.log(
      `ratio gateway peak / 400 MiB: ${(peak / 400).toFixed(2)} (target < 1; peak / buffered answers ${(peak / ((one * CLIENTS) / 2 ** 20)).toFixed(2)})`,
    );
  } finally {
    for (const s of sockets) s.destroy();
    gw.child.kill('SIGTERM');
    agent.child.kill('SIGTERM');
    zoo.kill('SIGKILL');
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'pmapd-bench-'));
  try {
    await agentAfterLoad(dir);
    await gatewayWithStalledClients(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
