/**
 * Fleet queries over FleetSession (one long-lived stream per agent, docs/fleet.md "Sessions"):
 * real agents, a real gateway, real processes (stopped zoos, so their figures hold still).
 *   - the audit over sessions equals what the agents' own unary ListProcesses give, and each
 *     agent logs the query as a session query carrying the HTTP request's id;
 *   - a stopped agent (SIGSTOP) fails its node at the per-node deadline while the other answers,
 *     and answers again after SIGCONT;
 *   - an agent restarted (same address) is reconnected and answers again;
 *   - the HTTP client leaving cancels the query at the agent (logged CANCELLED);
 *   - a busy agent's answer carries AGENT_BUSY (per-node failure in the audit, 429 for a node);
 *   - over mutual TLS: answered for an allowed gateway, CLIENT_NOT_ALLOWED for another.
 * Nothing here asserts how long anything took.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are untyped JSON */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  DetailLevel,
  ListProcessesRequest,
  type GetMemoryMapResponse,
  type ListProcessesResponse,
} from '@app/proto';
import { startAgent, type AgentHandle } from './helpers/agents';
import { TestPki, type CertFiles, agentTlsArgs } from './helpers/certs';
import { NO_RATE_LIMIT_YAML, startGateway, type GatewayHandle } from './helpers/gateway';
import { deadlineIn, memoryMapRequest, unary } from './helpers/grpc';
import { eventually, sleep, spawnZoo, startAll, type Zoo } from './helpers/processes';
import { httpGet, type HttpAnswer as Res } from './helpers/http';

jest.setTimeout(180000);

const GATEWAY_SAN = 'URI:spiffe://pmapd/gateway';

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Res> {
  return httpGet(port, path, { headers, timeoutMs: 90_000 });
}

interface LogLine {
  msg?: string;
  rpc?: string;
  code?: string;
  requestId?: unknown;
  session?: unknown;
  client?: unknown;
}

/** An audit's processes as [node, pid, value] rows. */
function rowsOf(res: Res): unknown[] | undefined {
  const procs = (res.body as { processes?: { node: string; pid: number; value: number }[] })
    .processes;
  return procs?.map((p) => [p.node, p.pid, p.value]);
}

function logLines(a: AgentHandle): LogLine[] {
  const out: LogLine[] = [];
  for (const l of a.logs) {
    try {
      out.push(JSON.parse(l) as LogLine);
    } catch {
      // not a log line
    }
  }
  return out;
}

/**
 * Holds the agent's one heavy-read permit (--max-heavy-reads 1): the smaps map of the 20,000-VMA
 * zoo one VMA per message (20,000 messages: far more than the client's buffer of 16 messages and
 * the stream's flow-control window) whose stream nobody reads keeps its permit until cancelled.
 */
async function holdPermit(a: AgentHandle, zoo: Zoo): Promise<() => void> {
  const call = a.client.getMemoryMap(
    memoryMapRequest({ pid: zoo.pid, detail: DetailLevel.DETAIL_LEVEL_SMAPS, batchSize: 1 }),
    new grpc.Metadata(),
    { deadline: deadlineIn(120000) },
  );
  call.on('error', () => undefined);
  // the first chunk arrives once the map is read: the permit is held from then on
  await new Promise<GetMemoryMapResponse>((resolve) => call.once('data', resolve));
  call.pause();
  return () => call.cancel();
}

describe('fleet sessions: queries over one long-lived stream per agent', () => {
  let a: AgentHandle;
  let b: AgentHandle;
  let busy: AgentHandle;
  let held: AgentHandle;
  let big: Zoo;
  let small: Zoo;
  let gw: GatewayHandle;
  const sel = (): string => `${basename(small.dir)}|${basename(big.dir)}`;

  beforeAll(async () => {
    [a, b, busy, held, big, small] = await startAll([
      startAgent({ host: '127.0.0.91', nodeName: 'sa' }),
      startAgent({ host: '127.0.0.92', nodeName: 'sb' }),
      startAgent({
        host: '127.0.0.93',
        nodeName: 'sbusy',
        extraArgs: ['--max-heavy-reads', '1', '--max-queued-reads', '0'],
      }),
      startAgent({
        host: '127.0.0.94',
        nodeName: 'sheld',
        extraArgs: ['--max-heavy-reads', '1', '--log-level', 'debug'],
      }),
      spawnZoo({ vmas: 20000 }),
      spawnZoo(),
    ]);
    gw = await startGateway(
      [a, b, busy, held].map((x) => ({ name: x.nodeName, address: x.address })),
      [],
      NO_RATE_LIMIT_YAML,
    );
  });

  afterAll(async () => {
    for (const x of [a, b]) x?.kill('SIGCONT');
    await gw?.stop();
    await Promise.all([a, b, busy, held, big, small].map((x) => x?.stop()));
  });

  test("the audit over sessions equals the agents' own unary lists; each query is logged as a session query with the request's id", async () => {
    let audit: Res | undefined;
    let expected: unknown;
    for (let attempt = 0; attempt < 10; attempt++) {
      const list = (x: AgentHandle): Promise<ListProcessesResponse> =>
        unary<ListProcessesRequest, ListProcessesResponse>(
          x.client,
          x.client.listProcesses,
          ListProcessesRequest.fromPartial({ nameRegex: sel() }),
          { deadline: deadlineIn(30000) },
        );
      const [res, la, lb] = await Promise.all([
        get(gw.port, `/v1/audit?nodes=sa,sb&name=${encodeURIComponent(sel())}&by=rss&top=20`, {
          'x-request-id': `session-e2e-${attempt}`,
        }),
        list(a),
        list(b),
      ]);
      audit = res;
      const rows = [
        ...la.processes.map((p) => ['sa', p.pid, Number(p.rollup?.rss ?? p.rss)] as const),
        ...lb.processes.map((p) => ['sb', p.pid, Number(p.rollup?.rss ?? p.rss)] as const),
      ];
      rows.sort((x, y) => y[2] - x[2] || x[0].localeCompare(y[0]) || x[1] - y[1]);
      expected = rows.map(([node, pid, rss]) => [node, pid, rss]);
      const got = rowsOf(res);
      if (JSON.stringify(got) === JSON.stringify(expected)) break;
      await sleep(200);
    }
    expect(audit!.status).toBe(200);
    expect(audit!.body).toMatchObject({ queried: 2, responded: 2, failed: [] });
    expect(rowsOf(audit!)).toEqual(expected);
    // both zoos on both nodes (one machine): 4 processes, totals summed
    expect(audit!.body.totals.processes).toBe(4);
    for (const x of [a, b]) {
      const line = await eventually(`${x.nodeName} logs the session query`, () =>
        logLines(x).find(
          (l) =>
            l.rpc === 'ListProcesses' &&
            typeof l.session === 'number' &&
            typeof l.requestId === 'string' &&
            l.requestId.startsWith('session-e2e-'),
        ),
      );
      expect(line.code).toBe('OK');
    }
    // and the session itself is one stream, open: no FleetSession RPC has ended yet
    expect(logLines(a).filter((l) => l.rpc === 'FleetSession')).toEqual([]);
  });

  test('a stopped agent fails its node at the per-node deadline while the other answers; after SIGCONT it answers again', async () => {
    const q = `/v1/audit?nodes=sa,sb&name=${encodeURIComponent(sel())}&by=pss&timeout=1500`;
    expect((await get(gw.port, q)).body.responded).toBe(2);
    b.kill('SIGSTOP');
    try {
      const res = await get(gw.port, q);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ queried: 2, responded: 1 });
      expect(res.body.failed).toEqual([
        expect.objectContaining({ node: 'sb', code: 'DEADLINE_EXCEEDED' }),
      ]);
      expect(res.body.failed[0].reason).toBeUndefined();
      expect(res.body.processes.every((p: any) => p.node === 'sa')).toBe(true);
    } finally {
      b.kill('SIGCONT');
    }
    await eventually('sb answers again after SIGCONT', async () => {
      const res = await get(gw.port, q);
      return res.body.responded === 2;
    });
  });

  test('an agent restarted at the same address is reconnected and answers again', async () => {
    const q = `/v1/audit?nodes=sa,sb&name=${encodeURIComponent(sel())}&timeout=5000`;
    expect((await get(gw.port, q)).body.responded).toBe(2);
    const { host, port, nodeName } = b;
    await b.stop();
    const down = await get(gw.port, q);
    expect(down.body.responded).toBe(1);
    expect(down.body.failed).toEqual([
      expect.objectContaining({ node: 'sb', code: 'UNAVAILABLE' }),
    ]);
    b = await startAgent({ host, port, nodeName });
    await eventually('the restarted sb answers the audit', async () => {
      const res = await get(gw.port, q);
      return res.body.responded === 2;
    });
    const after = logLines(b).filter(
      (l) => l.rpc === 'ListProcesses' && typeof l.session === 'number',
    );
    expect(after.length).toBeGreaterThan(0);
  });

  test('the client leaving cancels the query at the agent (logged CANCELLED)', async () => {
    const release = await holdPermit(held, big);
    try {
      const req = http.get({
        host: '127.0.0.1',
        port: gw.port,
        path: `/v1/audit?nodes=sheld&timeout=60000`,
        headers: { 'x-request-id': 'session-e2e-leaves' },
      });
      req.on('error', () => undefined);
      // the query is queued behind the held permit at the agent; then the client goes away
      await eventually('the agent has the query (queued behind the held permit)', () =>
        logLines(held).some((l) => l.msg === 'fleet query' && l.requestId === 'session-e2e-leaves'),
      );
      req.destroy();
      const line = await eventually('the agent logs the cancelled query', () =>
        logLines(held).find(
          (l) =>
            l.msg === 'rpc' && l.rpc === 'ListProcesses' && l.requestId === 'session-e2e-leaves',
        ),
      );
      expect(line).toMatchObject({ code: 'CANCELLED' });
      expect(typeof line.session).toBe('number');
    } finally {
      release();
    }
    // the agent still answers on the same session
    const res = await get(gw.port, `/v1/audit?nodes=sheld&timeout=30000`);
    expect(res.body.responded).toBe(1);
  });

  test("a busy agent's answer carries AGENT_BUSY: a per-node failure in the audit, 429 for the node", async () => {
    const release = await holdPermit(busy, big);
    try {
      // the unary call says so too: the permit is held, nothing may queue
      const direct = await unary(
        busy.client,
        busy.client.listProcesses,
        ListProcessesRequest.fromPartial({}),
        { deadline: deadlineIn(30000) },
      ).catch((e: grpc.ServiceError) => e);
      expect(direct).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
      const audit = await get(
        gw.port,
        `/v1/audit?nodes=sbusy,sa&name=${encodeURIComponent(sel())}`,
      );
      expect(audit.status).toBe(200);
      expect(audit.body.responded).toBe(1);
      expect(audit.body.failed).toEqual([
        expect.objectContaining({
          node: 'sbusy',
          code: 'RESOURCE_EXHAUSTED',
          reason: 'AGENT_BUSY',
        }),
      ]);
      const one = await get(gw.port, `/v1/nodes/sbusy/processes`);
      expect(one.status).toBe(429);
    } finally {
      release();
    }
    await eventually('sbusy answers once its permit is free', async () => {
      const res = await get(gw.port, `/v1/audit?nodes=sbusy`);
      return res.body.responded === 1;
    });
  });
});

describe('fleet sessions over mutual TLS', () => {
  let pki: TestPki;
  let ca: CertFiles;
  let agent: AgentHandle;
  let allowed: GatewayHandle;
  let intruder: GatewayHandle;

  beforeAll(async () => {
    pki = new TestPki();
    ca = pki.ca('ca');
    const gwCert = pki.issue(ca, 'gateway', [GATEWAY_SAN]);
    const other = pki.issue(ca, 'other', ['URI:spiffe://pmapd/other']);
    const agentCert = pki.issue(ca, 'agent', ['IP:127.0.0.95']);
    agent = await startAgent({
      host: '127.0.0.95',
      nodeName: 'stls',
      insecure: false,
      clientCredentials: grpc.credentials.createSsl(
        readFileSync(ca.cert),
        readFileSync(gwCert.key),
        readFileSync(gwCert.cert),
      ),
      extraArgs: agentTlsArgs(agentCert, ca, GATEWAY_SAN),
    });
    const tlsYaml = (c: CertFiles): string =>
      NO_RATE_LIMIT_YAML + `tls:\n  ca: ${ca.cert}\n  cert: ${c.cert}\n  key: ${c.key}\n`;
    [allowed, intruder] = await startAll([
      startGateway([{ name: 'stls', address: agent.address }], [], tlsYaml(gwCert)),
      startGateway([{ name: 'stls', address: agent.address }], [], tlsYaml(other)),
    ]);
  });

  afterAll(async () => {
    await Promise.all([allowed?.stop(), intruder?.stop()]);
    await agent?.stop();
    pki?.cleanup();
  });

  test('the allowed gateway is answered over its session (the agent logs its identity); another is refused CLIENT_NOT_ALLOWED', async () => {
    const ok = await get(allowed.port, `/v1/audit?nodes=stls&top=3`);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ responded: 1, failed: [] });
    expect(ok.body.processes).toHaveLength(3);
    const line = await eventually('the agent logs the session query', () =>
      logLines(agent).find((l) => l.rpc === 'ListProcesses' && typeof l.session === 'number'),
    );
    expect(line.client).toEqual([GATEWAY_SAN]);
    const refused = await get(intruder.port, `/v1/audit?nodes=stls&top=3`);
    expect(refused.status).toBe(200);
    expect(refused.body.responded).toBe(0);
    expect(refused.body.failed).toEqual([
      expect.objectContaining({
        node: 'stls',
        code: 'PERMISSION_DENIED',
        reason: 'CLIENT_NOT_ALLOWED',
      }),
    ]);
  });
});
