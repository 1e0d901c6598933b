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
  child: ChildProcess;
  /** stderr lines so far (JSON logs). */
  logs: string[];
  stop(): Promise<void>;
}

export async function startGateway(
  nodes: { name: string; address: string }[],
  extraArgs: string[] = [],
  /** Appended to the generated cluster.yaml (auth, limits, tls sections...). */
  extraYaml = '',
): Promise<GatewayHandle> {
  if (!existsSync(GATEWAY_MAIN)) throw new Error(`${GATEWAY_MAIN} missing: npm run build`);
  const dir = mkdtempSync(join(tmpdir(), 'pmapd-gw-'));
  const config = join(dir, 'cluster.yaml');
  writeFileSync(
    config,
    'nodes:\n' +
      nodes.map((n) => `  - name: ${n.name}\n    address: '${n.address}'\n`).join('') +
      'healthIntervalMs: 500\n' +
      extraYaml,
  );
  const child = spawn(
    process.execPath,
    [GATEWAY_MAIN, '--listen', '127.0.0.1:0', '--config', config, ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } },
  );
  const logs: string[] = [];
  child.stderr.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
  try {
    const line = await waitForJsonLine<{ listening: string }>(
      child,
      'stdout',
      (o) => typeof o.listening === 'string',
      20000,
    );
    return {
      url: `http://${line.listening}`,
      child,
      logs,
      stop: async () => {
        await killAndReap(child, 'SIGTERM');
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await killAndReap(child);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(e as Error).message}\n${logs.join('\n')}`);
  }
}
