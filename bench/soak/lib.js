/*
 * Soak helpers (plain Node, no build of their own): real agents and a real gateway as child
 * processes on 127.0.0.x with free ports, test processes, /proc/PID figures, an HTTP client with
 * keep-alive, percentiles.
 */
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const { existsSync, mkdirSync, readFileSync, statSync } = require('node:fs');
const http = require('node:http');
const { join } = require('node:path');

const { ROOT, AGENT, GATEWAY, BUILD, sleep, waitLine } = require('../lib/common');

const CLK_TCK = 100;

/** Builds dist/ (unless SOAK_NO_BUILD=1) and compiles the zoo fixture when missing. */
function prepare() {
  if (process.env.SOAK_NO_BUILD !== '1' || !existsSync(AGENT) || !existsSync(GATEWAY)) {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
  }
  mkdirSync(BUILD, { recursive: true });
  const src = join(ROOT, 'test/fixtures/zoo.c');
  const bin = join(BUILD, 'zoo');
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('gcc', ['-O2', '-Wall', '-pthread', '-o', bin, src], { stdio: 'inherit' });
  }
}

/** A real agent on host:port (port 0 = free); resolves once it listens. */
async function startAgent(host, name, extra = [], port = 0) {
  const child = spawn(
    process.execPath,
    [AGENT, '--listen', `${host}:${port}`, '--node-name', name, '--insecure', ...extra],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // The startup line (info) carries the bound address; later log lines (one per RPC) are drained.
  const line = await waitLine(child, 'stderr', (o) => typeof o.listening === 'string');
  child.stderr.resume();
  const address = line.listening;
  return {
    name,
    host,
    address,
    port: Number(address.slice(address.lastIndexOf(':') + 1)),
    child,
    pid: child.pid,
    extra,
  };
}

/** The built gateway in front of `nodes` with the given YAML tail; resolves once it listens. */
async function startGateway(configPath) {
  const child = spawn(
    process.execPath,
    [GATEWAY, '--listen', '127.0.0.1:0', '--config', configPath, '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs = [];
  child.stderr.on('data', (d) => {
    if (logs.length < 200) logs.push(d.toString());
  });
  try {
    const line = await waitLine(child, 'stdout', (o) => typeof o.listening === 'string');
    const [host, port] = line.listening.split(':');
    return { child, pid: child.pid, host, port: Number(port), logs };
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${logs.join('')}`);
  }
}

function kill(child, signal = 'SIGKILL') {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    try {
      child.kill(signal);
      if (signal !== 'SIGKILL') process.kill(child.pid, 'SIGCONT');
    } catch {
      resolve();
    }
  });
}

/** The zoo (test/fixtures/zoo.c): resolves with {pid, child} once it stopped itself. */
async function spawnZoo(dir, args = []) {
  const child = spawn(join(BUILD, 'zoo'), [dir, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const regions = await waitLine(child, 'stdout', (o) => 'pid' in o);
  for (let i = 0; i < 500; i++) {
    if ('Tt'.includes(procState(regions.pid) ?? '')) break;
    await sleep(10);
  }
  return { pid: regions.pid, child };
}

function procState(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** utime+stime of a process in ms. */
function cpuMs(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/** VmRSS in bytes. */
function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m ? Number(m[1]) * 1024 : 0;
}

function mib(bytes) {
  return (bytes / 1048576).toFixed(1);
}

/** A keep-alive HTTP client: get(path, {timeoutMs, headers}) -> {status, body, ms}. */
function httpClient(host, port, maxSockets = 256) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  function get(path, opts = {}) {
    const t0 = performance.now();
    return new Promise((resolve) => {
      let req;
      try {
        req = http.get({ host, port, path, agent, headers: opts.headers ?? {} }, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode,
              body: Buffer.concat(chunks).toString('utf8'),
              ms: performance.now() - t0,
            }),
          );
          res.on('error', (e) =>
            resolve({ status: 0, body: String(e), ms: performance.now() - t0 }),
          );
        });
      } catch (e) {
        // the client itself refused the request (e.g. characters Node will not send)
        resolve({ status: -1, body: String(e.message), ms: 0 });
        return;
      }
      req.setTimeout(opts.timeoutMs ?? 30000, () => req.destroy(new Error('client timeout')));
      req.on('error', (e) => {
        // A keep-alive socket the server closed just as it was reused: the request never reached
        // the server, so it is resent once (what Node's docs advise for req.reusedSocket).
        if (req.reusedSocket && !opts.retried && ['ECONNRESET', 'EPIPE'].includes(e.code)) {
          resolve(get(path, { ...opts, retried: true }));
          return;
        }
        resolve({ status: 0, body: `${e.code ?? ''} ${e.message}`, ms: performance.now() - t0 });
      });
    });
  }
  return { get, agent, close: () => agent.destroy() };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

module.exports = {
  ROOT,
  AGENT,
  GATEWAY,
  sleep,
  waitLine,
  prepare,
  startAgent,
  startGateway,
  kill,
  spawnZoo,
  procState,
  cpuMs,
  rssBytes,
  mib,
  httpClient,
  percentile,
};
