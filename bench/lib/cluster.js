/*
 * Starting what a bench measures, the way users run it: the built agent and gateway as child
 * processes on loopback, and the mapping zoo (test/fixtures/zoo.c) stopped with many VMAs; plus
 * a process's memory from /proc/PID/status.
 */
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const { AGENT, GATEWAY, BUILD, ROOT, sleep, waitLine } = require('./common');

/** The process state letter of pid (R, S, T, ...), undefined when it is gone. */
function procState(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return s[s.lastIndexOf(')') + 2];
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM of a process, in MiB. */
function memory(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)[1]) / 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** The zoo (built here when missing or stale) with `vmas` extra VMAs, started in dir, stopped. */
async function startZoo(dir, vmas) {
  const zoo = join(BUILD, 'zoo');
  const src = join(ROOT, 'test', 'fixtures', 'zoo.c');
  if (!existsSync(zoo) || statSync(zoo).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(BUILD, { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', '-pthread', '-o', zoo, src], { stdio: 'inherit' });
  }
  const child = spawn(zoo, [dir, '--vmas', String(vmas)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (c) => reject(new Error(`zoo exited ${c}`)));
  });
  while (procState(child.pid) !== 'T') await sleep(5);
  return child;
}

/** The built agent on 127.0.0.1 (insecure), reads that never time out; its log drained. */
async function startAgent(extraArgs = []) {
  const agent = spawn(
    process.execPath,
    [AGENT, '--listen', '127.0.0.1:0', '--node-name', 'bench', '--insecure'].concat(
      ['--proc-read-timeout-ms', '600000', '--max-queued-reads', '100000'],
      extraArgs,
    ),
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const line = await waitLine(agent, 'stderr', (o) => typeof o.listening === 'string');
  agent.stderr.resume(); // its rpc log lines: drained, never left to fill the pipe
  return { child: agent, address: line.listening, metrics: line.metricsListening };
}

/**
 * The built gateway with a cluster file in dir: `nodes` YAML lines (default: one node `bench` at
 * agentAddress), long deadlines, no rate limit, plus `extraYaml`.
 */
async function startGateway(dir, agentAddress, { nodes, extraYaml = '' } = {}) {
  const config = join(dir, 'cluster.yaml');
  const nodeLines = nodes ?? [`  - name: bench\n    address: '${agentAddress}'`];
  writeFileSync(
    config,
    `nodes:\n${nodeLines.join('\n')}\n` +
      'requestTimeoutMs: 600000\nlimits: { ratePerSecond: 100000, burst: 100000 }\n' +
      extraYaml,
  );
  const gw = spawn(
    process.execPath,
    [GATEWAY, '--listen', '127.0.0.1:0', '--config', config, '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const { listening } = await waitLine(gw, 'stdout', (o) => typeof o.listening === 'string');
  gw.stdout.resume();
  return { child: gw, url: `http://${listening}`, port: Number(listening.split(':').pop()) };
}

/** c concurrent `curl url` (body to /dev/null); resolves with their HTTP codes ('' = none). */
function curls(url, c) {
  return Promise.all(
    Array.from(
      { length: c },
      () =>
        new Promise((resolve) => {
          const p = spawn('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', url], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          p.stdout.on('data', (d) => (out += d));
          p.on('exit', () => resolve(out));
        }),
    ),
  );
}

/** Runs fn while sampling pid's VmRSS every 20 ms; resolves with fn's value and the peak (MiB). */
async function peakDuring(pid, fn) {
  let peak = memory(pid).rss;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, memory(pid).rss);
    } catch {
      // exited: the caller sees it
    }
  }, 20);
  try {
    const value = await fn();
    return { value, peak: Math.max(peak, memory(pid).rss) };
  } finally {
    clearInterval(timer);
  }
}

module.exports = { procState, memory, startZoo, startAgent, startGateway, curls, peakDuring };
