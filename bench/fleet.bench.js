#!/usr/bin/env node
/*
 * Fleet bench (run `npm run build` first): GET /v1/audit over a simulated fleet of N agents
 * (default 100).
 *
 * 1. A real agent is started once and its ListProcesses answer (every process with its
 *    smaps_rollup, sorted by rss) and GetNodeInfo are recorded.
 * 2. One simulator process (this file with --simulate) serves N agent endpoints, each on its own
 *    loopback address 127.0.1.x with a free port: PmapService.ListProcesses/GetNodeInfo answer the
 *    recorded bytes (pre-encoded: the simulator costs almost nothing), plus grpc.health.v1.
 * 3. The built gateway is started with those N nodes; after a warm-up, R sequential audit requests
 *    (top=20, by=rss) are timed, and the gateway's CPU time (utime+stime from /proc/PID/stat) over
 *    them is divided by the nodes answered.
 *
 *   node bench/fleet.bench.js [--nodes 100] [--requests 200] [--scale K (K copies of each process)]
 */
'use strict';
const { spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const http = require('node:http');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const { AGENT, GATEWAY, arg, dist, waitLine } = require('./lib/common');

// ------------------------------------------------------------------------------------------------
// Simulator: N endpoints from recorded bytes.

async function simulate() {
  const grpc = require('@grpc/grpc-js');
  const { HealthImplementation } = require('grpc-health-check');
  const { PmapServiceService } = dist('proto');
  const n = Number(process.env.SIM_NODES);
  const listBytes = readFileSync(process.env.SIM_LIST);
  const infoBytes = readFileSync(process.env.SIM_INFO);
  // The service definition with identity serializers for the responses we pre-encoded.
  const def = {};
  for (const [k, m] of Object.entries(PmapServiceService)) {
    def[k] = { ...m, responseSerialize: (b) => b };
  }
  const server = new grpc.Server();
  server.addService(def, {
    getNodeInfo: (_call, cb) => cb(null, infoBytes),
    listProcesses: (_call, cb) => cb(null, listBytes),
    getMemoryMap: (call) => call.emit('error', { code: grpc.status.UNIMPLEMENTED }),
    getHistogram: (call) => call.emit('error', { code: grpc.status.UNIMPLEMENTED }),
    watchMemoryMap: (call) => call.emit('error', { code: grpc.status.UNIMPLEMENTED }),
  });
  new HealthImplementation({ '': 'SERVING' }).addToServer(server);
  const addresses = [];
  for (let i = 0; i < n; i++) {
    const host = `127.0.1.${i + 1}`;
    const port = await new Promise((resolve, reject) =>
      server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    addresses.push(`${host}:${port}`);
  }
  process.stdout.write(JSON.stringify({ addresses }) + '\n');
}

// ------------------------------------------------------------------------------------------------

async function record() {
  const grpc = require('@grpc/grpc-js');
  const proto = dist('proto');
  const agent = spawn(
    process.execPath,
    [AGENT, '--listen', '127.0.0.1:0', '--node-name', 'rec', '--insecure', '--log-level', 'info'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const { listening } = await waitLine(agent, 'stderr', (o) => typeof o.listening === 'string');
  const client = new proto.PmapServiceClient(listening, grpc.credentials.createInsecure());
  const call = (m, req) =>
    new Promise((resolve, reject) => client[m](req, (e, r) => (e ? reject(e) : resolve(r))));
  const list = await call('listProcesses', {
    nameRegex: '',
    user: '',
    cgroup: '',
    pids: [],
    slurmJob: '',
    k8sPod: '',
    skipRollup: false,
    sort: proto.ProcessSort.PROCESS_SORT_RSS,
    limit: 0,
    includeKernelThreads: false,
  });
  // --scale K: K copies of every process (distinct pids), for nodes busier than this machine.
  const scale = arg('--scale', 1);
  const base = list.processes;
  list.processes = [];
  for (let k = 0; k < scale; k++) {
    for (const p of base) list.processes.push({ ...p, pid: p.pid + k * 4194304 });
  }
  list.totalMatched = list.processes.length;
  const info = await call('getNodeInfo', {});
  client.close();
  agent.kill('SIGTERM');
  return {
    processes: list.processes.length,
    list: Buffer.from(proto.ListProcessesResponse.encode(list).finish()),
    info: Buffer.from(proto.GetNodeInfoResponse.encode(info).finish()),
  };
}

function cpuTicks(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}

function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function main() {
  const nodes = arg('--nodes', 100);
  const requests = arg('--requests', 200);
  const rec = await record();
  const dir = mkdtempSync(join(tmpdir(), 'pmapd-fleet-bench-'));
  writeFileSync(join(dir, 'list.bin'), rec.list);
  writeFileSync(join(dir, 'info.bin'), rec.info);
  const sim = spawn(process.execPath, [__filename, '--simulate'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      SIM_NODES: String(nodes),
      SIM_LIST: join(dir, 'list.bin'),
      SIM_INFO: join(dir, 'info.bin'),
    },
  });
  const { addresses } = await waitLine(sim, 'stdout', (o) => Array.isArray(o.addresses));
  const cfg = join(dir, 'cluster.yaml');
  writeFileSync(
    cfg,
    'nodes:\n' +
      addresses
        .map((a, i) => `  - { name: sim${String(i).padStart(3, '0')}, address: "${a}" }\n`)
        .join('') +
      'healthIntervalMs: 60000\n',
  );
  const gw = spawn(
    process.execPath,
    [GATEWAY, '--listen', '127.0.0.1:0', '--config', cfg, '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const { listening } = await waitLine(gw, 'stdout', (o) => typeof o.listening === 'string');
  const url = `http://${listening}/v1/audit?top=20&by=rss`;
  try {
    for (let i = 0; i < 20; i++) await get(url); // warm-up (JIT, channels connected)
    const lat = [];
    let answered = 0;
    const hz = 100; // USER_HZ
    const c0 = cpuTicks(gw.pid);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < requests; i++) {
      const s = process.hrtime.bigint();
      const r = await get(url);
      lat.push(Number(process.hrtime.bigint() - s) / 1e6);
      if (r.status !== 200) throw new Error(`audit answered ${r.status}: ${r.body}`);
      const b = JSON.parse(r.body);
      answered += b.responded;
      if (b.responded !== nodes) throw new Error(`only ${b.responded}/${nodes} nodes answered`);
    }
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpuMs = ((cpuTicks(gw.pid) - c0) * 1000) / hz;
    const result = {
      nodes,
      processesPerNode: rec.processes,
      listProcessesBytes: rec.list.length,
      requests,
      p50Ms: +pct(lat, 50).toFixed(1),
      p90Ms: +pct(lat, 90).toFixed(1),
      p99Ms: +pct(lat, 99).toFixed(1),
      maxMs: +Math.max(...lat).toFixed(1),
      gatewayCpuMsPerRequest: +(cpuMs / requests).toFixed(2),
      gatewayCpuUsPerNodeAnswered: +((cpuMs * 1000) / answered).toFixed(1),
      gatewayCpuShare: +(cpuMs / wall).toFixed(2),
    };
    console.log(JSON.stringify(result));
    console.log(
      `fleet audit, ${nodes} simulated nodes x ${rec.processes} processes: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms (target < 300 ms), gateway CPU ${result.gatewayCpuUsPerNodeAnswered} us per node answered`,
    );
  } finally {
    gw.kill('SIGTERM');
    sim.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--simulate')) {
  simulate().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
