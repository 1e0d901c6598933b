#!/usr/bin/env node
/*
 * Histograms end to end (run `npm run build` first): a real agent and gateway in front of the
 * layouts "bench" process (1 GiB of touched 4 KiB pages + a 64 GiB PROT_NONE reservation).
 * Medians of HTTP GET …/histogram?kind=order&range=<region> against merely reading the region's
 * pagemap here, plus the reservation and the whole process, JSON and text.
 */
'use strict';
const { spawn } = require('node:child_process');
const {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} = require('node:fs');
const http = require('node:http');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const { ROOT: root, median, waitLine } = require('./lib/common');

function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

async function timeGet(url, n = 7) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await get(url);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 200) throw new Error(`${url}: ${r.status} ${r.body}`);
  }
  return median(out);
}

async function main() {
  const bin = join(root, 'test/.build/layouts');
  const agentMain = join(root, 'dist/apps/agent/src/main.js');
  const gwMain = join(root, 'dist/apps/gateway/src/main.js');
  for (const f of [bin, agentMain, gwMain]) {
    if (!existsSync(f)) throw new Error(`${f} missing (npm run build; jest global setup)`);
  }
  const mib = Number(process.env.HIST_BENCH_MIB || 1024);
  const dir = mkdtempSync(join(tmpdir(), 'pmapd-hbench-'));
  const child = spawn(bin, ['bench', String(mib)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const agent = spawn(
    process.execPath,
    [agentMain, '--listen', '127.0.0.1:0', '--node-name', 'bench', '--insecure'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let gw;
  try {
    const info = await waitLine(child, 'stdout', (o) => typeof o.pid === 'number');
    const a = await waitLine(agent, 'stderr', (o) => typeof o.listening === 'string');
    agent.stderr.resume();
    writeFileSync(
      join(dir, 'c.yaml'),
      `nodes:\n  - name: bench\n    address: '${a.listening}'\nrequestTimeoutMs: 60000\n`,
    );
    gw = spawn(
      process.execPath,
      [gwMain, '--listen', '127.0.0.1:0', '--config', join(dir, 'c.yaml')],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const g = await waitLine(gw, 'stdout', (o) => typeof o.listening === 'string');
    const pid = info.pid;
    while (!/\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')))
      await new Promise((r) => setTimeout(r, 10));
    const start = BigInt(info.regions.bench.start);
    const pages = info.regions.bench.pages;
    const base = `http://${g.listening}/v1/nodes/bench/processes/${pid}/histogram`;

    const buf = Buffer.allocUnsafe(256 * 1024);
    const reads = [];
    for (let i = 0; i < 7; i++) {
      const t0 = process.hrtime.bigint();
      const fd = openSync(`/proc/${pid}/pagemap`, 'r');
      const first = Number(start / 4096n);
      for (let p = 0; p < pages; p += 32768)
        readSync(fd, buf, 0, Math.min(32768, pages - p) * 8, (first + p) * 8);
      closeSync(fd);
      reads.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const tRead = median(reads);
    const region = `range=0x${start.toString(16)}`;
    const check = JSON.parse((await get(`${base}?kind=order&${region}`)).body.toString());
    if (check.totals.presentPages !== pages) throw new Error('region not fully present');

    const rows = [
      ['read the region pagemap only (here, no decoding)', tRead],
      ['REST order, the region (JSON)', await timeGet(`${base}?kind=order&${region}`)],
      ['REST order, the region (text)', await timeGet(`${base}?kind=order&${region}&format=text`)],
      ['REST physical, the region', await timeGet(`${base}?kind=physical&${region}`)],
      ['REST pagesize + runs, the region', await timeGet(`${base}?kind=pagesize&runs=1&${region}`)],
      [
        'REST order, 64 GiB PROT_NONE reservation',
        await timeGet(`${base}?kind=order&range=${info.regions.reserve.start}`),
      ],
      ['REST order, whole process (JSON)', await timeGet(`${base}?kind=order`)],
      ['REST order, whole process (text)', await timeGet(`${base}?kind=order&format=text`)],
    ];
    console.log(`histogram over REST (${mib} MiB region = ${pages} present pages), medians of 7:`);
    for (const [name, ms] of rows) {
      const ratio =
        name.startsWith('REST') && name.includes('region')
          ? ` (${(ms / tRead).toFixed(2)}x the read)`
          : '';
      console.log(`  ${name.padEnd(48)} ${ms.toFixed(2).padStart(8)} ms${ratio}`);
    }
  } finally {
    for (const p of [gw, agent, child]) if (p && p.exitCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
