#!/usr/bin/env node
/*
 * Stuck-read bench (run `npm run build` first): how fast an agent answers while reads are stuck in
 * the kernel, against the same agent idle, in the same run.
 *
 * The agent reads a --proc-root tree in which 8 processes' cmdline, maps and smaps_rollup are
 * FIFOs nobody writes (opening one blocks in the kernel, the shape of a read of a process stuck
 * holding its mmap_lock), and one real process (a `sleep`, linked in). The agent's timeout for
 * such reads is 120 s, so they stay stuck for the whole measurement. Measured, --samples times
 * each, idle and then with one GetMemoryMap call stuck on each of the 8 processes: the agent's
 * gRPC health check, its health port, GetNodeInfo, and the map of the real process. Target: each
 * under 100 ms while the reads are stuck (issue 13); the ratio stuck/idle says what they cost.
 *
 *   node bench/stuck-read.bench.js [--samples 30]
 */
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const {
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { performance } = require('node:perf_hooks');

const { AGENT, arg, dist, waitLine } = require('./lib/common');

const STUCK_PIDS = [4242, 4243, 4244, 4245, 4246, 4247, 4248, 4249];
const STUCK_FILES = ['cmdline', 'maps', 'smaps_rollup'];

/** The tree: the stuck processes (this process's stat/status/cgroup, FIFOs for the rest). */
function stalledTree() {
  const root = mkdtempSync(join(tmpdir(), 'pmapd-stuck-bench-'));
  writeFileSync(join(root, 'stat'), readFileSync('/proc/stat'));
  const fifos = [];
  for (const pid of STUCK_PIDS) {
    const dir = join(root, String(pid));
    mkdirSync(dir);
    for (const f of ['stat', 'status', 'cgroup']) {
      writeFileSync(join(dir, f), readFileSync(`/proc/self/${f}`));
    }
    for (const f of STUCK_FILES) fifos.push(join(dir, f));
  }
  execFileSync('mkfifo', fifos);
  return { root, fifos };
}

/** A writer comes and goes on each FIFO: every blocked read sees EOF. */
function release(fifos) {
  for (const f of fifos) {
    try {
      closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // nobody waiting (ENXIO)
    }
  }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function main() {
  const samples = arg('--samples', 30);
  const grpc = require('@grpc/grpc-js');
  const proto = dist('proto');
  const tree = stalledTree();
  const real = spawn('sleep', ['600'], { stdio: 'ignore' });
  symlinkSync(`/proc/${real.pid}`, join(tree.root, String(real.pid)));
  const agent = spawn(
    process.execPath,
    [
      AGENT,
      '--listen',
      '127.0.0.1:0',
      '--health-listen',
      '127.0.0.1:0',
      '--node-name',
      'stuck-bench',
      '--insecure',
      '--proc-root',
      tree.root,
      '--proc-read-timeout-ms',
      '120000',
      '--log-level',
      'info',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stuckCalls = [];
  try {
    const up = await waitLine(agent, 'stderr', (o) => typeof o.listening === 'string', 60000);
    const client = new proto.PmapServiceClient(up.listening, grpc.credentials.createInsecure());
    const { healthCheck } = healthClients(grpc, up.listening, up.healthListening);
    const deadline = () => ({ deadline: Date.now() + 10000 });
    const unary = (m, req) =>
      new Promise((resolve, reject) =>
        client[m](req, new grpc.Metadata(), deadline(), (e, r) => (e ? reject(e) : resolve(r))),
      );
    const map = (pid) =>
      new Promise((resolve, reject) => {
        const call = client.getMemoryMap(
          proto.GetMemoryMapRequest.fromPartial({
            pid,
            detail: proto.DetailLevel.DETAIL_LEVEL_MAPS,
          }),
          new grpc.Metadata(),
          deadline(),
        );
        let n = 0;
        call.on('data', () => n++);
        call.on('error', reject);
        call.on('end', () => resolve(n));
      });
    const probes = {
      'gRPC health': () => healthCheck('grpc'),
      'health port': () => healthCheck('port'),
      GetNodeInfo: () => unary('getNodeInfo', {}),
      "another process's map": () => map(real.pid),
    };
    const measure = async () => {
      const out = {};
      for (const [name, fn] of Object.entries(probes)) {
        const ms = [];
        for (let i = 0; i < samples; i++) {
          const t0 = performance.now();
          await fn();
          ms.push(performance.now() - t0);
        }
        out[name] = ms;
      }
      return out;
    };
    await measure(); // warm-up
    const idle = await measure();
    for (const pid of STUCK_PIDS) {
      const call = client.getMemoryMap(
        proto.GetMemoryMapRequest.fromPartial({ pid }),
        new grpc.Metadata(),
        { deadline: Date.now() + 120000 },
      );
      call.on('data', () => {});
      call.on('error', () => {});
      stuckCalls.push(call);
    }
    // every stuck call's read blocked in a worker (their threads wait for a FIFO writer)
    const t0 = Date.now();
    while (Date.now() - t0 < 30000 && fifoWaiters(agent.pid) < STUCK_PIDS.length) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const blocked = fifoWaiters(agent.pid);
    const stuck = await measure();
    console.log(`stuck reads blocked in the kernel during the measurement: ${blocked}`);
    const result = {};
    for (const name of Object.keys(probes)) {
      const i50 = pct(idle[name], 50);
      const s50 = pct(stuck[name], 50);
      const s99 = pct(stuck[name], 99);
      const ok = s99 < 100 ? 'OK' : 'MISSED';
      console.log(
        `${name} with ${blocked} reads stuck: p50 ${s50.toFixed(1)} ms, p99 ${s99.toFixed(1)} ms ` +
          `(idle p50 ${i50.toFixed(1)} ms -> ${(s50 / i50).toFixed(2)}x) (target < 100 ms) ${ok}`,
      );
      result[name] = { idleP50Ms: i50, stuckP50Ms: s50, stuckP99Ms: s99 };
    }
    console.log(JSON.stringify({ samples, stuckReads: blocked, result }));
  } finally {
    for (const c of stuckCalls) c.cancel();
    release(tree.fifos);
    agent.kill('SIGTERM');
    real.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    release(tree.fifos);
    rmSync(tree.root, { recursive: true, force: true });
  }
}

/** Threads of `pid` blocked opening a FIFO. */
function fifoWaiters(pid) {
  let n = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8') === 'wait_for_partner') n++;
    } catch {
      // thread gone
    }
  }
  return n;
}

/** grpc.health.v1 checks against the agent's gRPC port and its separate health port. */
function healthClients(grpc, grpcAddress, portAddress) {
  const def = {
    Check: {
      path: '/grpc.health.v1.Health/Check',
      requestStream: false,
      responseStream: false,
      requestSerialize: () => Buffer.alloc(0),
      requestDeserialize: (b) => b,
      responseSerialize: (b) => b,
      responseDeserialize: (b) => b,
    },
  };
  const Ctor = grpc.makeGenericClientConstructor(def, 'Health');
  const clients = {
    grpc: new Ctor(grpcAddress, grpc.credentials.createInsecure()),
    port: new Ctor(portAddress, grpc.credentials.createInsecure()),
  };
  return {
    healthCheck: (which) =>
      new Promise((resolve, reject) =>
        clients[which].Check({}, { deadline: Date.now() + 10000 }, (e, r) =>
          e ? reject(e) : resolve(r),
        ),
      ),
  };
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
