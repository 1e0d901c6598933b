/**
 * Starts the built gateway (dist/apps/gateway/src/main.js) on 127.0.0.1 and a free port in front
 * of the given agents; the bound address comes from its one stdout line {"listening":"HOST:PORT"}.
 *
 *   const gw = await startGateway([{ name: 'n1', address: agent.address }]);
 *   await fetch(`${gw.url}/v1/nodes`);
 *   await gw.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAndReap, REPO_ROOT, waitForJsonLine } from './processes';

export const GATEWAY_MAIN = join(REPO_ROOT, 'dist', 'apps', 'gateway', 'src', 'main.js');

export interface GatewayHandle {
  /** "http://127.0.0.1:PORT" */
  url: string;
  port: number;
  child: ChildProcess;
  /** stderr lines so far (JSON logs). */
  logs: string[];
  /** Signals the gateway (default SIGTERM), resolves once it is reaped; removes its files. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface StartGatewayOptions {
  /** Appended to the command line after `--listen 127.0.0.1:0`. */
  args?: string[];
  /** Extra environment variables. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Spawns the gateway with `--listen 127.0.0.1:0` and the given arguments (a --config of your own,
 * --agent flags, or none with PMAPD_GATEWAY_CONFIG in env); resolves once it listens.
 */
export async function spawnGateway(opts: StartGatewayOptions = {}): Promise<GatewayHandle> {
  if (!existsSync(GATEWAY_MAIN)) throw new Error(`${GATEWAY_MAIN} missing: npm run build`);
  // Calls that should answer must never meet a deadline on a busy machine: a health check gets
  // 10 s and a call without ?timeout= 60 s unless the test says otherwise (tests of deadlines
  // give their own timeout, against an agent that certainly does not answer).
  const args = opts.args ?? [];
  const defaults = [
    ...(has(args, '--health-timeout-ms') ? [] : ['--health-timeout-ms', '10000']),
    ...(has(args, '--request-timeout-ms') ? [] : ['--request-timeout-ms', '60000']),
  ];
  const child = spawn(
    process.execPath,
    [GATEWAY_MAIN, '--listen', '127.0.0.1:0', ...defaults, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } },
  );
  const logs: string[] = [];
  child.stderr.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
  try {
    const line = await waitForJsonLine<{ listening: string }>(
      child,
      'stdout',
      (o) => typeof o.listening === 'string',
      60000, // the gateway listens after its first health round; only a failing start waits this long
    );
    return {
      url: `http://${line.listening}`,
      port: Number(line.listening.slice(line.listening.lastIndexOf(':') + 1)),
      child,
      logs,
      stop: (signal: NodeJS.Signals = 'SIGTERM') => killAndReap(child, signal),
    };
  } catch (e) {
    await killAndReap(child);
    throw new Error(`${(e as Error).message}\n${logs.join('\n')}`);
  }
}

function has(args: string[], flag: string): boolean {
  return args.some((a) => a === flag || a.startsWith(flag + '='));
}

/**
 * A `limits` section for tests that send everything from one client address: the per-client
 * rate limit would otherwise answer 429s only.
 */
export const NO_RATE_LIMIT_YAML = 'limits: { ratePerSecond: 100000, burst: 100000 }\n';

/** The generated cluster.yaml: the nodes, then `healthIntervalMs`, then extraYaml. */
export function clusterYaml(
  nodes: { name: string; address: string }[],
  extraYaml = '',
  healthIntervalMs = 500,
): string {
  return (
    'nodes:\n' +
    nodes.map((n) => `  - name: ${n.name}\n    address: '${n.address}'\n`).join('') +
    `healthIntervalMs: ${healthIntervalMs}\n` +
    extraYaml
  );
}

/** Starts the gateway on a generated cluster.yaml (in a temporary directory removed by stop()). */
export async function startGateway(
  nodes: { name: string; address: string }[],
  extraArgs: string[] = [],
  /** Appended to the generated cluster.yaml (auth, limits, tls sections...). */
  extraYaml = '',
  healthIntervalMs = 500,
): Promise<GatewayHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'pmapd-gw-'));
  const config = join(dir, 'cluster.yaml');
  writeFileSync(config, clusterYaml(nodes, extraYaml, healthIntervalMs));
  try {
    const gw = await spawnGateway({ args: ['--config', config, ...extraArgs] });
    return {
      ...gw,
      stop: async (signal?: NodeJS.Signals) => {
        await gw.stop(signal);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
