#!/usr/bin/env node
/*
 * Response compression end to end (run `npm run build` and the e2e setup first, for the zoo): a
 * real agent and gateway in front of a 20,000-VMA zoo; GET a pmap -x text map, an smaps JSON map
 * (view=XX) and a fleet NDJSON stream with Accept-Encoding identity, gzip and br, the way curl
 * asks. Reported: bytes on the wire and median time, as ratios against identity in the same run.
 */
'use strict';
const { spawn } = require('node:child_process');
const { existsSync, mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const http = require('node:http');
const { tmpdir } = require('node:os');
const { basename, join } = require('node:path');

const { AGENT, GATEWAY, BUILD, median, waitLine, arg } = require('./lib/common');

function get(url, headers) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let bytes = 0;
        res.on('data', (c) => (bytes += c.length));
        res.on('end', () =>
          resolve({ status: res.statusCode, bytes, enc: res.headers['content-encoding'] }),
        );
      })
      .on('error', reject);
  });
}

async function measure(url, accept, enc, n) {
  const times = [];
  let last;
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    last = await get(url, { accept, 'accept-encoding': enc });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (last.status !== 200) throw new Error(`${url}: ${last.status}`);
  }
  return { ms: median(times), bytes: last.bytes, enc: last.enc ?? 'identity' };
}

async function main() {
  const zooBin = join(BUILD, 'zoo');
  for (const f of [zooBin, AGENT, GATEWAY]) {
    if (!existsSync(f)) throw new Error(`${f} missing (npm run build; jest global setup)`);
  }
  const vmas = arg('--vmas', 20000);
  const n = arg('--runs', 7);
  const dir = mkdtempSync(join(tmpdir(), 'pmapd-cbench-'));
  const zoo = spawn(zooBin, [dir, '--vmas', String(vmas)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const agent = spawn(
    process.execPath,
    [AGENT, '--listen', '127.0.0.1:0', '--node-name', 'bench', '--insecure'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let gw;
  try {
    const z = await waitLine(zoo, 'stdout', (o) => typeof o.pid === 'number');
    const a = await waitLine(agent, 'stderr', (o) => typeof o.listening === 'string');
    agent.stderr.resume();
    writeFileSync(
      join(dir, 'c.yaml'),
      `nodes:\n  - name: bench\n    address: '${a.listening}'\nrequestTimeoutMs: 60000\n` +
        'limits: { ratePerSecond: 100000, burst: 100000 }\n',
    );
    gw = spawn(
      process.execPath,
      [GATEWAY, '--listen', '127.0.0.1:0', '--config', join(dir, 'c.yaml')],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const g = await waitLine(gw, 'stdout', (o) => typeof o.listening === 'string');
    const base = `http://${g.listening}`;
    const sel = basename(dir);
    const cases = [
      ['pmap -x text', `${base}/v1/nodes/bench/processes/${z.pid}/maps?view=x`, 'text/plain'],
      [
        'smaps JSON (view=XX)',
        `${base}/v1/nodes/bench/processes/${z.pid}/maps?view=XX`,
        'application/json',
      ],
      [
        'fleet NDJSON (maps search)',
        `${base}/v1/maps?mapping=.&name=${sel}`,
        'application/x-ndjson',
      ],
    ];
    console.log(
      `compression over REST (${vmas}-VMA zoo), medians of ${n}; ratios against identity:`,
    );
    for (const [name, url, accept] of cases) {
      await get(url, { accept }); // warm up
      const id = await measure(url, accept, 'identity', n);
      for (const enc of ['gzip', 'br']) {
        const c = await measure(url, accept, enc, n);
        if (c.enc !== enc) throw new Error(`${name}: asked ${enc}, got ${c.enc}`);
        console.log(
          `  ${`${name}, ${enc}`.padEnd(34)} ${String(c.bytes).padStart(10)} B (${(c.bytes / id.bytes).toFixed(3)}x of ${id.bytes})` +
            `  ${c.ms.toFixed(1).padStart(7)} ms (${(c.ms / id.ms).toFixed(2)}x of ${id.ms.toFixed(1)} ms)`,
        );
      }
    }
  } finally {
    for (const p of [gw, agent, zoo]) if (p && p.exitCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
