/**
 * Gateway security end to end: real agents behind mutual TLS, a gateway with bearer tokens.
 *   - every route's authentication and authorization (ROUTE_EXPECTATIONS); a route registered by
 *     the gateway but missing from that table fails the coverage test;
 *   - token misuse (wrong scheme, token in the query, the hash as the token, junk);
 *   - redaction of command lines and mapping paths (JSON, text, process lists);
 *   - request ids into agent logs, audit lines, metrics;
 *   - rate limits (429 + Retry-After) and request limits (fan-out size, response size, watch
 *     interval → 413/400);
 *   - gateway↔agent mTLS (a client identity the agents do not allow → node down);
 *   - no tokens on loopback: allowed, and said in the log.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type AgentHandle } from './helpers/agents';
import { TestPki, type CertFiles, agentTlsArgs } from './helpers/certs';
import { GATEWAY_MAIN, startGateway, type GatewayHandle } from './helpers/gateway';
import { eventually, killAndReap, sleep } from './helpers/processes';
import { hashToken } from '../apps/gateway/src/security/tokens';

const GATEWAY_SAN = 'URI:spiffe://pmapd/gateway';

/** name -> [token, scopes] */
const TOKENS: Record<string, [string, string[]]> = {
  reader: ['tok-reader-7f3a', ['read']],
  n1only: ['tok-n1only-1b2c', ['read:node=n1']],
  n2glob: ['tok-n2glob-9d8e', ['read:node=n2*']],
  fleet: ['tok-fleet-4455', ['fleet']],
  full: ['tok-full-aa01', ['read', 'fleet', 'unredacted', 'metrics']],
  metrics: ['tok-metrics-77', ['metrics']],
  rl: ['tok-rl-1', ['read', 'fleet']],
  rl2: ['tok-rl-2', ['read']],
  lim1: ['tok-lim-1', ['read', 'fleet']],
  lim2: ['tok-lim-2', ['read', 'fleet']],
  lim3: ['tok-lim-3', ['read', 'fleet']],
};

function authYaml(protectMetrics: boolean): string {
  return (
    'auth:\n' +
    `  protectMetrics: ${protectMetrics}\n` +
    '  tokens:\n' +
    Object.entries(TOKENS)
      .map(
        ([name, [tok, scopes]]) =>
          `    - name: ${name}\n      sha256: ${hashToken(tok)}\n      scopes: [${scopes.map((s) => `'${s}'`).join(', ')}]\n`,
      )
      .join('')
  );
}

function tlsYaml(client: CertFiles, ca: CertFiles): string {
  return `tls:\n  ca: ${ca.cert}\n  cert: ${client.cert}\n  key: ${client.key}\n  reloadIntervalMs: 500\n`;
}

let pki: TestPki;
let ca: CertFiles;
let gwCert: CertFiles;
let agents: AgentHandle[] = [];
let gw: GatewayHandle;
let strict: GatewayHandle;
let secretDir: string;
let secretProc: ChildProcess;

async function get(
  g: GatewayHandle,
  path: string,
  token?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const h: Record<string, string> = { ...headers };
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  const res = await fetch(g.url + path, { headers: h });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

const tok = (name: string): string => TOKENS[name][0];

async function waitUp(g: GatewayHandle, token: string, n: number): Promise<void> {
  const until = Date.now() + 15000;
  for (;;) {
    const r = await get(g, '/v1/nodes', token);
    const nodes = (JSON.parse(r.body) as { nodes: { status: string; capabilities?: unknown }[] })
      .nodes;
    if (nodes.filter((x) => x.status === 'up' && x.capabilities).length >= n) return;
    if (Date.now() > until) throw new Error(`nodes not up: ${r.body}`);
    await sleep(100);
  }
}

beforeAll(async () => {
  pki = new TestPki();
  ca = pki.ca('ca');
  gwCert = pki.issue(ca, 'gateway', [GATEWAY_SAN, 'DNS:gateway']);
  agents = await Promise.all(
    (
      [
        ['127.0.0.7', 'n1'],
        ['127.0.0.8', 'n2'],
      ] as const
    ).map(([host, name]) => {
      const cert = pki.issue(ca, `agent-${name}`, [`IP:${host}`]);
      return startAgent({
        host,
        nodeName: name,
        insecure: false,
        extraArgs: agentTlsArgs(cert, ca, GATEWAY_SAN),
      });
    }),
  );
  const nodes = agents.map((a) => ({ name: a.nodeName, address: a.address }));
  [gw, strict] = await Promise.all([
    startGateway(nodes, [], authYaml(true) + tlsYaml(gwCert, ca)),
    startGateway(
      nodes,
      [],
      authYaml(false) +
        tlsYaml(gwCert, ca) +
        'limits:\n  ratePerSecond: 0.2\n  burst: 3\n  maxFanoutNodes: 1\n  maxResponseBytes: 4096\n  minWatchIntervalMs: 1000\n',
    ),
  ]);
  // A process whose command line and mapping path say more than its name.
  secretDir = mkdtempSync(join(tmpdir(), 'pmapd-secret-project-'));
  copyFileSync('/bin/sleep', join(secretDir, 'sleep'));
  secretProc = spawn(join(secretDir, 'sleep'), ['1000'], { stdio: 'ignore' });
  await waitUp(gw, tok('full'), 2);
  await waitUp(strict, tok('lim3'), 2);
}, 60000);

afterAll(async () => {
  if (secretProc) await killAndReap(secretProc);
  await Promise.all([gw?.stop(), strict?.stop()]);
  await Promise.all(agents.map((a) => a.stop()));
  pki?.cleanup();
  if (secretDir) rmSync(secretDir, { recursive: true, force: true });
});

type Need = 'public' | 'metrics' | 'node-list' | 'node' | 'fleet';

/**
 * Every route the gateway registers, with a sample request and what it needs. Adding a route to
 * the gateway without a row here fails 'the table covers every registered route'.
 */
const ROUTE_EXPECTATIONS: Record<string, { need: Need; sample: (pid: number) => string }> = {
  '/healthz': { need: 'public', sample: () => '/healthz' },
  '/readyz': { need: 'public', sample: () => '/readyz' },
  '/metrics': { need: 'metrics', sample: () => '/metrics' },
  '/openapi.json': { need: 'public', sample: () => '/openapi.json' },
  // Swagger UI and its assets: every /docs route (matched by prefix below).
  '/docs': { need: 'public', sample: () => '/docs' },
  '/docs/swagger-ui-init.js': { need: 'public', sample: () => '/docs/swagger-ui-init.js' },
  '/v1/nodes': { need: 'node-list', sample: () => '/v1/nodes' },
  '/v1/nodes/:node': { need: 'node', sample: () => '/v1/nodes/n1' },
  '/v1/nodes/:node/processes': { need: 'node', sample: () => '/v1/nodes/n1/processes?limit=1' },
  '/v1/nodes/:node/processes/:pid/maps': {
    need: 'node',
    sample: (pid) => `/v1/nodes/n1/processes/${pid}/maps`,
  },
  '/v1/nodes/:node/processes/:pid/maps/watch': {
    need: 'node',
    sample: (pid) => `/v1/nodes/n1/processes/${pid}/maps/watch?maxEvents=1`,
  },
  '/v1/nodes/:node/processes/:pid/histogram': {
    need: 'node',
    sample: (pid) => `/v1/nodes/n1/processes/${pid}/histogram?kind=order`,
  },
  '/v1/maps': { need: 'fleet', sample: () => '/v1/maps?mapping=libc' },
  '/v1/audit': { need: 'fleet', sample: () => '/v1/audit?top=1' },
  '/v1/histograms': { need: 'fleet', sample: () => '/v1/histograms?kind=order&name=^sleep$' },
  '/v1/jobs/slurm/:id/memory': { need: 'fleet', sample: () => '/v1/jobs/slurm/1/memory' },
};

describe('route coverage', () => {
  it('the table covers every registered route (add a row when you add a route)', () => {
    const out = execFileSync(process.execPath, [GATEWAY_MAIN, '--list-routes'], {
      encoding: 'utf8',
    });
    const routes = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { method: string; url: string; policy: string });
    const row = (url: string): string => (url.startsWith('/docs/') ? '/docs' : url);
    const urls = [...new Set(routes.filter((r) => r.method !== 'HEAD').map((r) => row(r.url)))];
    expect(urls.length).toBeGreaterThan(10);
    expect(urls.filter((u) => !(u in ROUTE_EXPECTATIONS))).toEqual([]);
    // The gateway's own table agrees with this one.
    for (const r of routes)
      expect([r.url, r.policy]).toEqual([r.url, ROUTE_EXPECTATIONS[row(r.url)].need]);
  });
});

describe('authentication and authorization of every route', () => {
  const denied = (s: number): boolean => s === 401 || s === 403;

  it.each(Object.entries(ROUTE_EXPECTATIONS))('%s', async (_route, { need, sample }) => {
    const path = sample(secretProc.pid!);
    const anon = await get(gw, path);
    const bad = await get(gw, path, 'not-a-token');
    const reader = await get(gw, path, tok('reader'));
    const fleet = await get(gw, path, tok('fleet'));
    const metrics = await get(gw, path, tok('metrics'));
    const n1 = await get(gw, path, tok('n1only'));
    const n2 = await get(gw, path, tok('n2glob'));
    switch (need) {
      case 'public':
        expect(anon.status).toBe(200);
        expect(bad.status).toBe(200);
        break;
      case 'metrics':
        expect(anon.status).toBe(401);
        expect(bad.status).toBe(401);
        expect(reader.status).toBe(403);
        expect(metrics.status).toBe(200);
        break;
      case 'node-list':
        expect(anon.status).toBe(401);
        expect(bad.status).toBe(401);
        expect(fleet.status).toBe(403);
        expect(reader.status).toBe(200);
        expect(n1.status).toBe(200);
        break;
      case 'node':
        expect(anon.status).toBe(401);
        expect(anon.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(bad.status).toBe(401);
        expect(fleet.status).toBe(403);
        expect(metrics.status).toBe(403);
        expect(n2.status).toBe(403); // read:node=n2* does not cover n1
        expect(denied(reader.status)).toBe(false);
        expect(denied(n1.status)).toBe(false);
        break;
      case 'fleet':
        expect(anon.status).toBe(401);
        expect(bad.status).toBe(401);
        expect(reader.status).toBe(403);
        expect(n1.status).toBe(403);
        expect(denied(fleet.status)).toBe(false);
        break;
    }
  });

  it('unknown routes need a token too', async () => {
    expect((await get(gw, '/v2/nothing')).status).toBe(401);
    expect((await get(gw, '/v2/nothing', tok('reader'))).status).toBe(404);
  });

  it('a per-node token sees only its nodes in /v1/nodes; a glob scope works', async () => {
    const names = async (t: string): Promise<string[]> =>
      (JSON.parse((await get(gw, '/v1/nodes', t)).body) as { nodes: { name: string }[] }).nodes
        .map((n) => n.name)
        .sort();
    expect(await names(tok('n1only'))).toEqual(['n1']);
    expect(await names(tok('n2glob'))).toEqual(['n2']);
    expect(await names(tok('reader'))).toEqual(['n1', 'n2']);
    expect((await get(gw, '/v1/nodes/n2', tok('n2glob'))).status).toBe(200);
  });
});

describe('token misuse', () => {
  it.each([
    ['Basic scheme', { authorization: `Basic ${tok('reader')}` }],
    ['no scheme', { authorization: tok('reader') }],
    ['token with junk appended', { authorization: `Bearer ${tok('reader')}x` }],
    ['the stored hash as the token', { authorization: `Bearer ${hashToken(tok('reader'))}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
    ['two tokens', { authorization: `Bearer ${tok('reader')} ${tok('full')}` }],
  ])('%s → 401', async (_what, headers) => {
    const r = await get(gw, '/v1/nodes/n1', undefined, headers);
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
  });

  it('a token in the query string is not a credential', async () => {
    expect((await get(gw, `/v1/nodes/n1?access_token=${tok('reader')}`)).status).toBe(401);
  });

  it('denials are logged with the reason but never the token', async () => {
    await get(gw, '/v1/nodes/n1', 'secret-wrong-token-xyz');
    await eventually('the denial log line', () =>
      gw.logs.some((l) => l.includes('request denied')),
    );
    expect(gw.logs.join('\n')).not.toContain('secret-wrong-token-xyz');
    expect(gw.logs.join('\n')).not.toContain(tok('reader'));
  });
});

describe('redaction', () => {
  const secret = (): string => secretDir.split('/').pop()!;

  it('JSON maps: command line -> comm, paths -> last component, addresses kept', async () => {
    const pid = secretProc.pid!;
    const red = await get(gw, `/v1/nodes/n1/processes/${pid}/maps`, tok('reader'));
    expect(red.status).toBe(200);
    expect(red.body).not.toContain(secret());
    const m = JSON.parse(red.body) as {
      header: { cmdline: string; comm: string };
      vmas: { name: string; start: string }[];
    };
    expect(m.header.cmdline).toBe('sleep');
    expect(m.vmas.some((v) => v.name === 'sleep')).toBe(true);
    expect(m.vmas.every((v) => /^0x[0-9a-f]+$/.test(v.start))).toBe(true);
    const full = await get(gw, `/v1/nodes/n1/processes/${pid}/maps`, tok('full'));
    const fm = JSON.parse(full.body) as typeof m;
    expect(fm.header.cmdline).toBe(`${secretDir}/sleep 1000`);
    expect(fm.vmas.some((v) => v.name === `${secretDir}/sleep`)).toBe(true);
    expect(fm.vmas.map((v) => v.start)).toEqual(m.vmas.map((v) => v.start));
  });

  it('text output (pmap -x -p) is redacted too', async () => {
    const pid = secretProc.pid!;
    const path = `/v1/nodes/n1/processes/${pid}/maps?view=x&showPath=true&format=text`;
    const red = await get(gw, path, tok('reader'));
    expect(red.status).toBe(200);
    expect(red.body.startsWith(`${pid}:   sleep\n`)).toBe(true);
    expect(red.body).not.toContain(secret());
    const full = await get(gw, path, tok('full'));
    expect(full.body).toContain(`${secretDir}/sleep`);
  });

  it('process lists and histograms are redacted', async () => {
    const pid = secretProc.pid!;
    const list = await get(gw, `/v1/nodes/n1/processes?name=sleep`, tok('reader'));
    expect(list.status).toBe(200);
    expect(list.body).not.toContain(secret());
    const procs = (JSON.parse(list.body) as { processes: { pid: number; cmdline: string }[] })
      .processes;
    expect(procs.find((p) => p.pid === pid)?.cmdline).toBe('sleep');
    const h = await get(gw, `/v1/nodes/n1/processes/${pid}/histogram?kind=order`, tok('reader'));
    expect(h.status).toBe(200);
    expect(h.body).not.toContain(secret());
    const fleet = await get(gw, '/v1/maps?mapping=sleep', tok('fleet'));
    expect(fleet.status).toBe(200);
    expect(fleet.body).not.toContain(secret());
  });

  it('a redacted maps search matches the names it would show, so it is no oracle on full paths', async () => {
    // the process's program, a path: an unredacted search finds it by a directory in it, a
    // redacted one (names as their last component) cannot
    const pid = secretProc.pid!;
    const dir = realpathSync(`/proc/${pid}/exe`).split('/').slice(0, -1).join('/');
    const q = `/v1/maps?mapping=${encodeURIComponent('^' + dir + '/')}&nodes=n1`;
    const pidsOf = (body: string): number[] =>
      (JSON.parse(body) as { matches: { pid: number }[] }).matches.map((m) => m.pid);
    const full = await get(gw, q, tok('full'));
    expect(full.status).toBe(200);
    expect(pidsOf(full.body)).toContain(pid);
    const redacted = await get(gw, q, tok('fleet'));
    expect(redacted.status).toBe(200);
    expect(pidsOf(redacted.body)).not.toContain(pid);
  });
});

describe('observability', () => {
  it('passes the request id to the agent and writes an audit line', async () => {
    const pid = secretProc.pid!;
    const r = await get(gw, `/v1/nodes/n1/processes/${pid}/maps`, tok('reader'), {
      'x-request-id': 'rid-audit-1',
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-request-id')).toBe('rid-audit-1');
    const parsed = (logs: string[]) => logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    // log lines come through pipes: wait for them to arrive, then check what they say
    const agentLine = await eventually('the agent rpc line', () =>
      parsed(agents[0].logs).find((o) => o.requestId === 'rid-audit-1'),
    );
    expect(agentLine).toMatchObject({ rpc: 'GetMemoryMap', code: 'OK' });
    const audit = await eventually('the audit line', () =>
      parsed(gw.logs).find((o) => o.audit === true && o.requestId === 'rid-audit-1'),
    );
    expect(audit).toMatchObject({ who: 'reader', node: 'n1', pid, rpc: 'GetMemoryMap' });
    const access = await eventually('the access line', () =>
      parsed(gw.logs).find((o) => o.msg === 'request' && o.requestId === 'rid-audit-1'),
    );
    expect(access).toMatchObject({ status: 200, who: 'reader' });
  });

  it('generates a request id when none (or a malformed one) is given', async () => {
    const r = await get(gw, '/v1/nodes', tok('reader'), { 'x-request-id': 'bad id with spaces' });
    expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('metrics: agent calls and fan-out outcomes per node, no pid labels', async () => {
    expect((await get(gw, '/v1/audit?top=1', tok('fleet'))).status).toBe(200);
    const m = await get(gw, '/metrics', tok('metrics'));
    expect(m.body).toMatch(
      /pmapd_gateway_agent_calls_total\{node="n1",rpc="GetMemoryMap",code="OK"\} [1-9]/,
    );
    expect(m.body).toMatch(
      /pmapd_gateway_fanout_node_outcomes_total\{node="n2",outcome="OK"\} [1-9]/,
    );
    expect(m.body).toMatch(/pmapd_gateway_requests_denied_total\{status="401"\} [1-9]/);
    expect(m.body).not.toMatch(/pid="/);
  });
});

describe('limits', () => {
  it('rate limit per token: 429 with Retry-After; other tokens and /healthz unaffected', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const r = await get(strict, '/v1/nodes', tok('rl'));
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses[3]).toBe(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await get(strict, '/v1/nodes', tok('rl2'))).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await get(strict, '/healthz')).status).toBe(200);
  });

  it('fan-out size: more nodes than maxFanoutNodes → 413; a narrower selection passes', async () => {
    const r = await get(strict, '/v1/audit', tok('lim1'));
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ parameter: 'nodes' });
    expect((await get(strict, '/v1/audit?nodes=n1&top=1', tok('lim1'))).status).toBe(200);
  });

  it('response size over maxResponseBytes → 413', async () => {
    const pid = secretProc.pid!;
    const r = await get(strict, `/v1/nodes/n1/processes/${pid}/maps?view=XX`, tok('lim2'));
    expect(r.status).toBe(413);
    expect(r.body).toMatch(/exceeds the gateway's limit of 4096 bytes/);
  });

  it('watch interval below the configured minimum → 400', async () => {
    const pid = secretProc.pid!;
    const r = await get(
      strict,
      `/v1/nodes/n1/processes/${pid}/maps/watch?interval=500&maxEvents=1`,
      tok('lim3'),
    );
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ parameter: 'interval' });
  });
});

describe('gateway ↔ agent mutual TLS', () => {
  it('nodes are up over mTLS, and down when the agents do not allow the gateway', async () => {
    const nodes = JSON.parse((await get(gw, '/v1/nodes', tok('reader'))).body) as {
      nodes: { status: string }[];
    };
    expect(nodes.nodes.every((n) => n.status === 'up')).toBe(true);
    const intruder = pki.issue(ca, 'intruder-gw', ['DNS:intruder']);
    const bad = await startGateway(
      agents.map((a) => ({ name: a.nodeName, address: a.address })),
      [],
      tlsYaml(intruder, ca),
    );
    try {
      const r = JSON.parse((await get(bad, '/v1/nodes')).body) as {
        nodes: { status: string; error?: string }[];
      };
      expect(r.nodes.every((n) => n.status === 'down')).toBe(true);
      expect(r.nodes[0].error).toMatch(/not allowed/);
      // No tokens, loopback: allowed, and the log says so.
      expect(bad.logs.some((l) => l.includes('running WITHOUT authentication'))).toBe(true);
    } finally {
      await bad.stop();
    }
  });
});
