#!/usr/bin/env node
/*
 * Fleet bench (run `npm run build` first): GET /v1/audit?by=pss&top=20 over a simulated fleet of
 * N agents (default 1000).
 *
 * 1. A real agent is started once and its ListProcesses answer (every process with its
 *    smaps_rollup) and GetNodeInfo are recorded; the processes are repeated (distinct pids) until
 *    a node runs --processes of them (default 400).
 * 2. One simulator process (this file with --simulate) serves N agent endpoints, each on its own
 *    loopback address (127.0.1.1-254, 127.0.2.1-254, ...: one /24 per 254 nodes) with a free
 *    port. ListProcesses is answered by the agent's own ProcessesService (the built
 *    apps/agent/src/processes.service.js: filters, sort, totals, limit, paging) over the recorded
 *    processes, so each endpoint answers what a real agent of such a node would; the encoded
 *    answer is cached per distinct request (the simulator costs almost nothing). Plus
 *    grpc.health.v1 and GetNodeInfo.
 * 3. The built gateway is started with those N nodes; after a warm-up, R sequential audit requests
 *    are timed, and the gateway's CPU time (utime+stime from /proc/PID/stat) over them is divided
 *    by the nodes answered. The reference, in the same run: one node's whole process list through
 *    the same gateway (GET /v1/nodes/sim0000/processes?sort=pss), what the v1 audit fetched from
 *    every node; and a bare grpc-js client in this process sending every simulated node the
 *    audit's request (64 in flight): its CPU per call is the floor of any gateway built on it.
 *
 *   node bench/fleet.bench.js [--nodes 1000] [--requests 200] [--processes 400]
 *
 * FLEET_BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the gateway of the run.
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

/** The loopback address of simulated node i: 127.0.1.1-254, then 127.0.2.1-254, ... */
function simHost(i) {
  return `127.0.${1 + Math.floor(i / 254)}.${1 + (i % 254)}`;
}

async function simulate() {
  const grpc = require('@grpc/grpc-js');
  const { HealthImplementation } = require('grpc-health-check');
  const proto = dist('proto');
  const { BinaryWriter } = require('@bufbuild/protobuf/wire');
  const { ProcessesService, listResponse } = require(
    join(__dirname, '..', 'dist/apps/agent/src/processes.service.js'),
  );
  const { VeService } = require(join(__dirname, '..', 'dist/apps/agent/src/ve.service.js'));
  const n = Number(process.env.SIM_NODES);
  const recorded = proto.ListProcessesResponse.decode(readFileSync(process.env.SIM_LIST));
  const infoBytes = readFileSync(process.env.SIM_INFO);
  const domain = recorded.processes.map(proto.processFromProto);
  // The agent's ListProcesses over the recorded processes (fresh copies: it caps and sorts them).
  const service = new ProcessesService(
    {
      listProcesses: () =>
        Promise.resolve({
          processes: domain.map((p) => ({ ...p })),
          unreadable: recorded.unreadable,
        }),
    },
    VeService.of(undefined, 'simulated node'),
  );
  const cache = new Map();
  const answer = async (req) => {
    const key = JSON.stringify(req, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    let bytes = cache.get(key);
    if (!bytes) {
      bytes = Buffer.from(
        proto.ListProcessesResponse.encode(listResponse(await service.list(req))).finish(),
      );
      cache.set(key, bytes);
    }
    return bytes;
  };
  // The service definition with identity serializers for the responses we pre-encoded.
  const def = {};
  for (const [k, m] of Object.entries(proto.PmapServiceService)) {
    def[k] = { ...m, responseSerialize: (b) => b };
  }
  // FleetSession: answers are pre-encoded ListProcessesResponse bytes wrapped in a FleetSessionResponse
  // by hand (field 1: id, field 10: list_processes), so the session costs the simulator as little
  // as the unary call does.
  const answerBytes = (id, bytes) => {
    const w = new BinaryWriter();
    w.uint32(8).uint32(id);
    w.uint32(82).uint32(bytes.length);
    return Buffer.concat([Buffer.from(w.finish()), bytes]);
  };
  const server = new grpc.Server();
  server.addService(def, {
    getNodeInfo: (_call, cb) => cb(null, infoBytes),
    listProcesses: (call, cb) => {
      answer(call.request).then(
        (bytes) => cb(null, bytes),
        (e) => cb({ code: grpc.status.INVALID_ARGUMENT, details: String(e.message) }),
      );
    },
    fleetSession: (call) => {
      call.on('data', (q) => {
        if (!q.listProcesses) return;
        answer(q.listProcesses).then(
          (bytes) => call.write(answerBytes(q.id, bytes)),
          (e) =>
            call.write(
              proto.FleetSessionResponse.encode({
                id: q.id,
                error: {
                  code: 3,
                  message: String(e.message),
                  reason: 'INVALID_FIELD',
                  field: '',
                  pid: 0,
                },
              }).finish(),
            ),
        );
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
    getMemoryMap: (call) => call.emit('error', { code: grpc.status.UNIMPLEMENTED }),
    getHistogram: (call) => call.emit('error', { code: grpc.status.UNIMPLEMENTED }),
    watchMemoryMap: (call) => call.emit('error', { code: grpc.status.UNIMPLEMENTED }),
  });
  new HealthImplementation({ '': 'SERVING' }).addToServer(server);
  const addresses = [];
  for (let i = 0; i < n; i++) {
    const host = simHost(i);
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
    totals: false,
    offset: 0,
  });
  // Repeat the processes (distinct pids) until the node runs --processes of them.
  const want = arg('--processes', 400);
  const base = list.processes;
  list.processes = [];
  for (let k = 0; list.processes.length < want; k++) {
    for (const p of base) {
      if (list.processes.length >= want) break;
      list.processes.push({ ...p, pid: p.pid + k * 4194304 });
    }
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

/**
 * CPU µs per call of `call(i)` made once to each of n targets per round, 64 in flight, over
 * `rounds` rounds after 5 warm-up rounds (channels connected, JIT).
 */
async function cpuPerCall(n, rounds, call) {
  const round = async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < n) await call(next++);
      }),
    );
  };
  for (let i = 0; i < 5; i++) await round();
  const u0 = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await round();
  const u = process.cpuUsage(u0);
  return (u.user + u.system) / (rounds * n);
}

/** CPU µs per call of a bare grpc-js client asking every address the audit's ListProcesses. */
async function rawClientCpu(addresses, rounds) {
  const grpc = require('@grpc/grpc-js');
  const proto = dist('proto');
  const clients = addresses.map(
    (a) => new proto.PmapServiceClient(a, grpc.credentials.createInsecure()),
  );
  const req = proto.ListProcessesRequest.fromPartial({
    sort: proto.ProcessSort.PROCESS_SORT_PSS,
    limit: 20,
    totals: true,
  });
  const cpu = await cpuPerCall(
    clients.length,
    rounds,
    (i) =>
      new Promise((resolve, reject) =>
        clients[i].listProcesses(req, { deadline: Date.now() + 5000 }, (e, r) =>
          e ? reject(e) : resolve(r),
        ),
      ),
  );
  for (const c of clients) c.close();
  return cpu;
}

/**
 * CPU µs per query of a bare grpc-js client holding one FleetSession stream per address and
 * sending each the audit's ListProcesses as a message (64 in flight): the floor of a gateway on
 * sessions.
 */
async function rawSessionCpu(addresses, rounds) {
  const grpc = require('@grpc/grpc-js');
  const proto = dist('proto');
  const clients = addresses.map(
    (a) => new proto.PmapServiceClient(a, grpc.credentials.createInsecure()),
  );
  const waiting = new Map();
  let nextId = 1;
  const sessions = clients.map((c) => {
    const s = c.fleetSession();
    s.on('data', (a) => {
      const w = waiting.get(a.id);
      waiting.delete(a.id);
      if (a.error) w.reject(new Error(a.error.message));
      else w.resolve(a.listProcesses);
    });
    s.on('error', () => undefined);
    return s;
  });
  const listProcesses = proto.ListProcessesRequest.fromPartial({
    sort: proto.ProcessSort.PROCESS_SORT_PSS,
    limit: 20,
    totals: true,
  });
  const cpu = await cpuPerCall(sessions.length, rounds, (i) => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      sessions[i].write({ id, deadlineMs: 5000, requestId: '', listProcesses });
    });
  });
  for (const s of sessions) s.end();
  for (const c of clients) c.close();
  return cpu;
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
  const nodes = arg('--nodes', 1000);
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
        .map((a, i) => `  - { name: sim${String(i).padStart(4, '0')}, address: "${a}" }\n`)
        .join('') +
      'healthIntervalMs: 60000\n' +
      'limits: { ratePerSecond: 100000, burst: 100000, maxFanoutNodes: 4096 }\n',
  );
  const gw = spawn(
    process.execPath,
    [
      ...(process.env.FLEET_BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean),
      GATEWAY,
      '--listen',
      '127.0.0.1:0',
      '--config',
      cfg,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const { listening } = await waitLine(gw, 'stdout', (o) => typeof o.listening === 'string');
  const url = `http://${listening}/v1/audit?top=20&by=pss`;
  const refUrl = `http://${listening}/v1/nodes/sim0000/processes?sort=pss`;
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
    // The reference: one node's every process through the same gateway (what v1 fetched per node).
    const ref = [];
    for (let i = 0; i < 20; i++) await get(refUrl);
    for (let i = 0; i < Math.max(20, requests / 4); i++) {
      const s = process.hrtime.bigint();
      const r = await get(refUrl);
      ref.push(Number(process.hrtime.bigint() - s) / 1e6);
      if (r.status !== 200) throw new Error(`processes answered ${r.status}`);
    }
    // The floor, in the same run: a bare grpc-js client (this process) sending every simulated
    // node the request the audit sends, 64 in flight, no gateway around it: CPU per call.
    const raw = await rawClientCpu(addresses, requests);
    // And the floor of sessions: the same queries as messages over one open stream per node.
    const rawSession = await rawSessionCpu(addresses, requests);
    const result = {
      nodes,
      processesPerNode: rec.processes,
      fullListBytesPerNode: rec.list.length,
      requests,
      p50Ms: +pct(lat, 50).toFixed(1),
      p90Ms: +pct(lat, 90).toFixed(1),
      p99Ms: +pct(lat, 99).toFixed(1),
      maxMs: +Math.max(...lat).toFixed(1),
      gatewayCpuMsPerRequest: +(cpuMs / requests).toFixed(2),
      gatewayCpuUsPerNodeAnswered: +((cpuMs * 1000) / answered).toFixed(1),
      gatewayCpuShare: +(cpuMs / wall).toFixed(2),
      referenceOneNodeFullListP50Ms: +pct(ref, 50).toFixed(1),
      rawGrpcClientCpuUsPerCall: +raw.toFixed(1),
      gatewayCpuPerNodeOverRawCall: +((cpuMs * 1000) / answered / raw).toFixed(2),
      rawSessionCpuUsPerQuery: +rawSession.toFixed(1),
      gatewayCpuPerNodeOverRawSessionQuery: +((cpuMs * 1000) / answered / rawSession).toFixed(2),
      auditP50OverOneNodeFullList: +(pct(lat, 50) / pct(ref, 50)).toFixed(1),
    };
    console.log(JSON.stringify(result));
    console.log(
      `fleet audit by=pss top=20, ${nodes} simulated nodes x ${rec.processes} processes: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms (target <= 300 ms), gateway CPU ${result.gatewayCpuUsPerNodeAnswered} us per node answered (target <= 100 us) = ${result.gatewayCpuPerNodeOverRawCall}x a bare grpc-js client's ${result.rawGrpcClientCpuUsPerCall} us per unary call, ${result.gatewayCpuPerNodeOverRawSessionQuery}x its ${result.rawSessionCpuUsPerQuery} us per session query; p50 = ${result.auditP50OverOneNodeFullList}x one node's full process list (${result.referenceOneNodeFullListP50Ms} ms)`,
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
