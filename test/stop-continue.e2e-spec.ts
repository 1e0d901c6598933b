/**
 * Agents stopped (SIGSTOP) and continued (SIGCONT) with work in flight — the "stop/continue"
 * fault of issue 13 (an agent woken with calls whose TLS connection was gone used to die on
 * getAuthContext()). Two agents, each behind a real gateway: plaintext (127.0.0.73) and mutual
 * TLS (127.0.0.74, its gateway with a client certificate), a 20,000-VMA zoo to read. Each cycle,
 * per agent:
 *   - fleet queries (audit, maps search) and map reads (pmap -XX text, JSON) through the gateway,
 *     with a short `timeout` so that the gateway gives up while the agent is stopped, some sent
 *     just before the stop (the agent may be in the middle of them), the rest while it is stopped;
 *   - a direct gRPC client on its own connection, with heavy calls (smaps reads, rollup lists)
 *     the agent is busy with or has queued when it stops and one sent while it is stopped; its
 *     keepalive gives the silent agent up and destroys the connection (as the gateway's does
 *     after 30 + 10 s), so the agent wakes to calls whose socket is gone;
 *   - the agent is stopped until every one of those has ended (the gateway's and the client's
 *     deadlines, not a fixed sleep), then continued.
 * Then the agent must still be running and answer health, node info and a whole map — through
 * the gateway and directly. Nothing here asserts how long anything took.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { DetailLevel, ListProcessesRequest, PmapServiceClient } from '@app/proto';
import { startAgent, type AgentHandle } from './helpers/agents';
import { TestPki, type CertFiles, agentTlsArgs } from './helpers/certs';
import { NO_RATE_LIMIT_YAML, startGateway, type GatewayHandle } from './helpers/gateway';
import { collect, collectSettled, deadlineIn, memoryMapRequest, unary } from './helpers/grpc';
import { eventually, procState, sleep, spawnZoo, startAll, type Zoo } from './helpers/processes';
import { httpGet, type HttpAnswer as Res } from './helpers/http';

jest.setTimeout(240000);

const GATEWAY_SAN = 'URI:spiffe://pmapd/gateway';
const CYCLES = 3;
/** The gateway's deadline for the calls in flight (ms): well within one stop. */
const SHORT = 1500;

function get(port: number, path: string, accept = 'application/json'): Promise<Res> {
  // only a hang would reach the client timeout: the gateway answers every call by its `timeout`
  return httpGet(port, path, { headers: { accept } });
}

describe('stop/continue: agents SIGSTOPped with fleet queries and map reads in flight', () => {
  let pki: TestPki;
  let ca: CertFiles;
  let gwCert: CertFiles;
  let plain: AgentHandle;
  let tls: AgentHandle;
  let zoo: Zoo;
  /** The gateway in front of each agent, by node name. */
  const gws: Record<string, GatewayHandle> = {};

  function clientCreds(): grpc.ChannelCredentials {
    return grpc.credentials.createSsl(
      readFileSync(ca.cert),
      readFileSync(gwCert.key),
      readFileSync(gwCert.cert),
    );
  }

  beforeAll(async () => {
    pki = new TestPki();
    ca = pki.ca('ca');
    gwCert = pki.issue(ca, 'gateway', [GATEWAY_SAN]);
    const agentCert = pki.issue(ca, 'agent', ['IP:127.0.0.74']);
    [plain, tls, zoo] = await startAll([
      startAgent({ host: '127.0.0.73', nodeName: 'plain' }),
      startAgent({
        host: '127.0.0.74',
        nodeName: 'tls',
        insecure: false,
        clientCredentials: clientCreds(),
        extraArgs: agentTlsArgs(agentCert, ca, GATEWAY_SAN),
      }),
      spawnZoo({ vmas: 20000 }),
    ]);
    [gws.plain, gws.tls] = await startAll([
      startGateway([{ name: 'plain', address: plain.address }], [], NO_RATE_LIMIT_YAML),
      startGateway(
        [{ name: 'tls', address: tls.address }],
        [],
        NO_RATE_LIMIT_YAML +
          `tls:\n  ca: ${ca.cert}\n  cert: ${gwCert.cert}\n  key: ${gwCert.key}\n`,
      ),
    ]);
  });

  afterAll(async () => {
    for (const a of [plain, tls]) a?.kill('SIGCONT');
    await Promise.all(Object.values(gws).map((g) => g.stop()));
    await Promise.all([plain?.stop(), tls?.stop(), zoo?.stop()]);
    pki?.cleanup();
  });

  /** The requests of one cycle through the gateway, to node `n`. */
  function gatewayLoad(n: string): Promise<Res>[] {
    const gw = gws[n];
    const sel = basename(zoo.dir);
    return [
      // (the selections name this zoo: what else runs on the machine does not matter)
      get(gw.port, `/v1/audit?nodes=${n}&name=${sel}&by=rss&top=5&timeout=${SHORT}`),
      get(gw.port, `/v1/maps?nodes=${n}&mapping=${sel}&name=${sel}&timeout=${SHORT}`),
      get(
        gw.port,
        `/v1/nodes/${n}/processes/${zoo.pid}/maps?view=XX&timeout=${SHORT}`,
        'text/plain',
      ),
      get(gw.port, `/v1/nodes/${n}/processes/${zoo.pid}/maps?timeout=${SHORT}`),
    ];
  }

  /** What a request in flight across a stop may answer: never a 500, a hang or a broken body. */
  function expectOutcome(r: Res, path: string): void {
    const where = `${path} -> ${r.status} ${typeof r.body === 'string' ? r.body.slice(0, 200) : JSON.stringify(r.body).slice(0, 300)}`;
    expect([where, [200, 503, 504].includes(r.status)]).toEqual([where, true]);
    if (r.status !== 200) {
      expect(r.body).toMatchObject({ statusCode: r.status });
      return;
    }
    if (typeof r.body === 'object' && 'queried' in r.body) {
      // a fleet answer: the node answered, or failed at its deadline (no agent reason: the
      // deadline passed in transit) or as unreachable
      expect(r.body.queried).toBe(1);
      for (const f of r.body.failed as { code: string; reason?: string }[]) {
        expect(['DEADLINE_EXCEEDED', 'UNAVAILABLE']).toContain(f.code);
      }
    }
  }

  async function cycle(a: AgentHandle, secure: boolean): Promise<void> {
    // A connection that is up before the stop, from a client that notices a silent peer at once: its keepalive ping unanswered, it destroys
    // the connection (as the gateway's does after 30 + 10 s) while the agent is stopped
    const direct = new PmapServiceClient(
      a.address,
      secure ? clientCreds() : grpc.credentials.createInsecure(),
      {
        'grpc.keepalive_time_ms': 300,
        'grpc.keepalive_timeout_ms': 300,
        'grpc.keepalive_permit_without_calls': 1,
      },
    );
    await unary(direct, direct.getNodeInfo, {}, { deadline: deadlineIn(30000) });
    try {
      // Direct calls the agent is busy with when it stops (reads of 20,000 smaps VMAs, queued
      // behind the heavy-read limiter) and one sent while it is stopped, all with a deadline that
      // passes during the stop.
      const smaps = (): Promise<{ error?: grpc.ServiceError }> =>
        collectSettled(
          direct.getMemoryMap(
            memoryMapRequest({ pid: zoo.pid, detail: DetailLevel.DETAIL_LEVEL_SMAPS }),
            new grpc.Metadata(),
            { deadline: deadlineIn(SHORT) },
          ),
        );
      const rollups = (): Promise<{ error?: grpc.ServiceError }> =>
        unary(
          direct,
          direct.listProcesses,
          ListProcessesRequest.fromPartial({ nameRegex: basename(zoo.dir), skipRollup: false }),
          { deadline: deadlineIn(SHORT) },
        ).then(
          () => ({}),
          (error: grpc.ServiceError) => ({ error }),
        );
      const directBefore = [smaps(), rollups(), smaps(), rollups(), smaps(), rollups()];
      // some gateway requests reach the agent before it stops, the rest while it is stopped
      const before = gatewayLoad(a.nodeName);
      await sleep(20);
      a.kill('SIGSTOP');
      await eventually('the agent stopped', () => procState(a.pid) === 'T');
      const during = gatewayLoad(a.nodeName);
      const directDuring = unary(
        direct,
        direct.getNodeInfo,
        {},
        { deadline: deadlineIn(SHORT) },
      ).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      // stopped until everything in flight has ended at its deadline
      const paths = ['audit', 'maps search', 'map text', 'map JSON'];
      const results = await Promise.all([...before, ...during]);
      results.forEach((r, i) => expectOutcome(r, paths[i % paths.length]));
      const gone = [grpc.status.DEADLINE_EXCEEDED, grpc.status.UNAVAILABLE];
      for (const d of await Promise.all(directBefore)) {
        // whole (it was read before the stop), or the connection or the deadline gave up
        expect([undefined, ...gone]).toContain(d.error?.code);
      }
      expect(gone).toContain((await directDuring)?.code);
      // the client goes away: its connection is gone before the agent answers those calls
      direct.close();
      await sleep(100);
    } finally {
      direct.close();
      a.kill('SIGCONT');
    }
    await eventually('the agent running again', () => procState(a.pid) !== 'T');
  }

  async function expectServing(a: AgentHandle): Promise<void> {
    expect(a.child.exitCode).toBeNull();
    expect(a.child.signalCode).toBeNull();
    // directly: node info and a whole map on the handle's own connection
    const info = await unary(a.client, a.client.getNodeInfo, {}, { deadline: deadlineIn(30000) });
    expect(info.node!.nodeName).toBe(a.nodeName);
    const chunks = await collect(
      a.client.getMemoryMap(memoryMapRequest({ pid: zoo.pid }), new grpc.Metadata(), {
        deadline: deadlineIn(30000),
      }),
    );
    expect(chunks[chunks.length - 1].totalVmas).toBeGreaterThan(20000);
    // through the gateway: the node is up again and its map whole
    const gw = gws[a.nodeName];
    await eventually(
      `node ${a.nodeName} up at the gateway`,
      async () => (await get(gw.port, `/v1/nodes/${a.nodeName}`)).body?.status === 'up',
      30000,
    );
    const map = await get(gw.port, `/v1/nodes/${a.nodeName}/processes/${zoo.pid}/maps?view=x`);
    expect(map.status).toBe(200);
    expect(map.body.header.pid).toBe(zoo.pid);
    expect(map.body.vmas.length).toBeGreaterThan(20000);
  }

  test.each([
    ['plaintext', false],
    ['mutual TLS', true],
  ])(`%s agent: ${CYCLES} stop/continue cycles, then health and a whole map`, async (_, secure) => {
    const a = secure ? tls : plain;
    for (let i = 0; i < CYCLES; i++) {
      await cycle(a, secure);
      await expectServing(a);
    }
    // no crash and nothing unexpected in its log
    expect(a.logs.join('\n')).not.toMatch(/uncaught|unhandled|internal error/i);
  });
});
