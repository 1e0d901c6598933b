/**
 * REST fuzz: fast-check requests (bench/soak/fuzz-arbitraries.js: real route shapes and random
 * paths under /v1, real and random query parameters with hostile values — 2^64 and beyond,
 * negative numbers, NaN, unicode, 8 KiB strings, bad percent-encoding, catastrophic regexes —
 * and random headers incl. Accept) against the built gateway in front of two real agents.
 * Every answer must be below 500 or a deliberate 501/503/504; the gateway must stay alive, answer
 * /healthz afterwards, and its RSS stay within a bound of what it was before.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import fc from 'fast-check';
import { startAgent, type AgentHandle } from './helpers/agents';
import { NO_RATE_LIMIT_YAML, startGateway, type GatewayHandle } from './helpers/gateway';
import { spawnZoo, type Zoo } from './helpers/processes';

interface FuzzRequest {
  path: string;
  headers: Record<string, string>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { restRequestArbitrary } = require('../bench/soak/fuzz-arbitraries') as {
  restRequestArbitrary(o: { nodes: string[]; pids: number[] }): fc.Arbitrary<FuzzRequest>;
};

const RUNS = Number(process.env.FUZZ_RUNS ?? 250);

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m ? Number(m[1]) * 1024 : 0;
}

function get(
  port: number,
  path: string,
  headers: Record<string, string>,
  agent: http.Agent,
  retried = false,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    let req: http.ClientRequest;
    try {
      req = http.get({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c.length < 4096 ? c : c.slice(0, 4096)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
    } catch (e) {
      // Node's client refuses to send it (not the gateway's business)
      resolve({ status: -1, body: (e as Error).message });
      return;
    }
    req.setTimeout(20000, () => req.destroy(new Error('client timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      // a keep-alive socket closed by the server as it was reused: never reached it, resend once
      if (req.reusedSocket && !retried && ['ECONNRESET', 'EPIPE'].includes(e.code ?? '')) {
        resolve(get(port, path, headers, agent, true));
        return;
      }
      resolve({ status: 0, body: `${e.code ?? ''} ${e.message}` });
    });
  });
}

describe('REST fuzz against a live gateway', () => {
  let agents: AgentHandle[] = [];
  let zoo: Zoo;
  let gw: GatewayHandle;
  let port: number;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  beforeAll(async () => {
    const started = await Promise.all([
      startAgent({ host: '127.0.0.41', nodeName: 'f1' }),
      startAgent({ host: '127.0.0.42', nodeName: 'f2' }),
      spawnZoo(),
    ]);
    agents = started.slice(0, 2) as AgentHandle[];
    zoo = started[2];
    // one client address sends everything: the per-client rate limit would answer 429s only
    gw = await startGateway(
      agents.map((a) => ({ name: a.nodeName, address: a.address })),
      [],
      NO_RATE_LIMIT_YAML,
      1000,
    );
    port = gw.port;
  });

  afterAll(async () => {
    agent.destroy();
    if (gw) await gw.stop('SIGKILL');
    await Promise.all(agents.map((a) => a.stop()));
    await zoo?.stop();
  });

  test(`${RUNS} random requests: no 5xx but 501/503/504, gateway alive, memory stable`, async () => {
    // warm up (JIT, first responses) before the RSS baseline
    for (let i = 0; i < 20; i++)
      await get(port, `/v1/nodes/f1/processes/${zoo.pid}/maps`, {}, agent);
    const rssBefore = rssOf(gw.child.pid!);
    const bad: string[] = [];
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        restRequestArbitrary({ nodes: ['f1', 'f2'], pids: [zoo.pid] }),
        async (r) => {
          const res = await get(port, r.path, r.headers, agent);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const ok = res.status !== 0 && (res.status < 500 || [501, 503, 504].includes(res.status));
          if (!ok) bad.push(`${res.status} ${r.path} ${JSON.stringify(r.headers)} ${res.body}`);
          return ok;
        },
      ),
      {
        numRuns: RUNS,
        endOnFailure: true,
        seed: Number(process.env.FUZZ_SEED ?? Date.now() % 1e9),
      },
    );
    expect(bad).toEqual([]);
    // requests that reached the handlers, not just the router
    expect((statuses.get(200) ?? 0) + (statuses.get(400) ?? 0)).toBeGreaterThan(RUNS / 4);
    expect(gw.child.exitCode).toBeNull();
    const health = await get(port, '/healthz', {}, agent);
    expect(health.status).toBe(200);
    const rssAfter = rssOf(gw.child.pid!);
    expect(rssAfter).toBeLessThan(rssBefore + 150 * 1024 * 1024);
  }, 120000);
});
