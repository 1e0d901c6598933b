/**
 * Shared e2e helpers for agents: start a real agent process (the built dist/apps/agent/src/main.js)
 * on a loopback address and a free port, talk to it over gRPC, stop it.
 *
 *   const agent = await startAgent({ host: '127.0.0.2', nodeName: 'n1' });
 *   const info = await unary(agent.client, 'getNodeInfo', {});
 *   await agent.stop();
 *
 * The agent is started with `--listen HOST:0`; its JSON startup log line on stderr carries
 * "listening":"HOST:PORT", which is how the port is learnt. Any 127.0.0.x works on Linux without
 * setup, so several agents (one per "node") can run side by side.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { PmapServiceClient } from '@app/proto';
import { killAndReap, REPO_ROOT, spawnZoo, waitForJsonLine, type Zoo } from './processes';

export const AGENT_MAIN = join(REPO_ROOT, 'dist', 'apps', 'agent', 'src', 'main.js');

export interface StartAgentOptions {
  /** Loopback address to bind, default 127.0.0.1. */
  host?: string;
  /** Port to bind, default 0 (a free one); a restarted agent takes its predecessor's. */
  port?: number;
  /** Default "node-<host>". */
  nodeName?: string;
  /** Appended to the command line (e.g. ['--batch-size', '5']). */
  extraArgs?: string[];
  /** Extra environment variables. */
  env?: NodeJS.ProcessEnv;
  /**
   * A command to run node under, e.g. ['setpriv', '--reuid=65534', ...] to start an unprivileged
   * agent; `process.execPath` and the agent arguments are appended.
   */
  wrapper?: string[];
  /** Default 60 s (only a start that fails waits that long). */
  startTimeoutMs?: number;
  /** false: no --insecure (give the TLS flags in extraArgs). Default true. */
  insecure?: boolean;
  /** Credentials of the handle's client (default plaintext). */
  clientCredentials?: ChannelCredentials;
}

export interface AgentHandle {
  /** "host:port" as bound. */
  address: string;
  host: string;
  port: number;
  nodeName: string;
  /** The agent's pid (the wrapper's pid when a wrapper exec()s node, which setpriv does). */
  pid: number;
  child: ChildProcess;
  /** A PmapServiceClient on a long-lived channel to this agent. */
  client: PmapServiceClient;
  /** Every stderr line the agent printed so far (JSON log lines). */
  logs: string[];
  kill(signal?: NodeJS.Signals): void;
  /**
   * Closes the client, SIGTERMs the agent (and SIGCONTs it, should it be stopped; SIGKILL after
   * 5 s) and resolves once it is reaped.
   */
  stop(): Promise<void>;
  /** Resolves with the exit code / signal once the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts an agent; resolves once it listens. */
export async function startAgent(opts: StartAgentOptions = {}): Promise<AgentHandle> {
  if (!existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} missing: npm run build`);
  const host = opts.host ?? '127.0.0.1';
  const nodeName = opts.nodeName ?? `node-${host}`;
  const args = [AGENT_MAIN, '--listen', `${host}:${opts.port ?? 0}`, '--node-name', nodeName];
  if (opts.insecure !== false) args.push('--insecure');
  // Reads that return must never hit the stuck-read timeout on a busy machine (a 30,000-VMA
  // smaps, a fresh worker thread): tests of stuck reads give their own, for FIFOs that never return.
  if (!opts.extraArgs?.includes('--proc-read-timeout-ms'))
    args.push('--proc-read-timeout-ms', '60000');
  args.push(...(opts.extraArgs ?? []));
  const [cmd, ...cmdArgs] = opts.wrapper
    ? [...opts.wrapper, process.execPath, ...args]
    : [process.execPath, ...args];
  const child = spawn(cmd, cmdArgs, {
    stdio: ['ignore', 'inherit', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  const logs: string[] = [];
  let partial = '';
  child.stderr.on('data', (d: Buffer) => {
    partial += d.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    logs.push(...lines);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let startup: { listening: string };
  try {
    startup = await waitForJsonLine<{ listening: string }>(
      child,
      'stderr',
      (o) => typeof o.listening === 'string',
      opts.startTimeoutMs ?? 60000,
    );
  } catch (e) {
    await killAndReap(child);
    throw e;
  }
  const address = startup.listening;
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  // Up to 10,000 smaps-level VMAs per message (~4 MB+) must fit: raise the 4 MiB default.
  const client = new PmapServiceClient(
    address,
    opts.clientCredentials ?? credentials.createInsecure(),
    {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    },
  );
  const stop = async (): Promise<void> => {
    client.close();
    if (child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.kill('SIGTERM');
    // A stopped (SIGSTOP) agent acts on the SIGTERM only once continued.
    child.kill('SIGCONT');
    await exited;
    clearTimeout(timer);
  };
  return {
    address,
    host,
    port,
    nodeName,
    pid: child.pid!,
    child,
    client,
    logs,
    exited,
    stop,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => {
      child.kill(signal);
    },
  };
}

/**
 * Runs the agent binary with arbitrary arguments to completion (for config validation tests):
 * resolves with exit code and output.
 */
export function runAgentOnce(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 15000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AGENT_MAIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`agent did not exit within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * For a spec file whose tests share one agent and the (stopped) mapping zoo: registers beforeAll
 * (start both, then hand them to `set`) and afterAll (stop both).
 *
 *   let agent: AgentHandle;
 *   let zoo: Zoo;
 *   shareAgentAndZoo({ host: '127.0.0.2', nodeName: 'e2e-a' }, (s) => ({ agent, zoo } = s));
 */
export function shareAgentAndZoo(
  opts: StartAgentOptions,
  set: (started: { agent: AgentHandle; zoo: Zoo }) => void,
): void {
  let started: AgentHandle | undefined;
  let zoo: Zoo | undefined;
  beforeAll(async () => {
    const [a, z] = await Promise.allSettled([startAgent(opts), spawnZoo()]);
    if (a.status === 'fulfilled') started = a.value;
    if (z.status === 'fulfilled') zoo = z.value;
    if (a.status === 'rejected') throw a.reason;
    if (z.status === 'rejected') throw z.reason;
    set({ agent: a.value, zoo: z.value });
  });
  afterAll(async () => {
    await Promise.all([started?.stop(), zoo?.stop()]);
  });
}
