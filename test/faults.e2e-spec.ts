/**
 * Faults (the fast subset of `npm run soak`, docs/RELIABILITY.md): the built gateway in front of
 * real agents on 127.0.0.44-48 and a 20,000-VMA zoo.
 *   - kill -9 an agent during a fleet query and during a streamed map: the gateway answers with that
 *     node failed UNAVAILABLE / 503 (not at its deadline: that would be DEADLINE_EXCEEDED / 504)
 *     and marks it down; restarted on the same address it is served again;
 *   - processes exiting while their maps stream: a complete map or 404, never a 500 or a hang;
 *   - an agent whose /proc reads stall (a FIFO in a fixture proc root): 504 / DEADLINE_EXCEEDED
 *     naming the agent's own read timeout, not the gateway's deadline;
 *   - the heavy-read limiter: a queue bound of 1 refuses the third concurrent smaps read with
 *     RESOURCE_EXHAUSTED "agent busy" (429 through the gateway), a queued call leaves at its
 *     deadline.
 */
import { Metadata, status } from '@grpc/grpc-js';
import { DetailLevel, type GetMemoryMapRequest } from '@app/proto';
import { startAgent, type AgentHandle } from './helpers/agents';
import { NO_RATE_LIMIT_YAML, startGateway, type GatewayHandle } from './helpers/gateway';
import { collectSettled, deadlineIn } from './helpers/grpc';
import { sleep, spawnZoo, startAll, type Zoo } from './helpers/processes';
import { makeStalledProc, type StalledProc } from './helpers/stalled-proc';
import { httpGet, type HttpAnswer as Res } from './helpers/http';

function get(port: number, path: string, timeoutMs = 30000): Promise<Res> {
  return httpGet(port, path, { timeoutMs });
}

function mapRequest(pid: number): GetMemoryMapRequest {
  return {
    pid,
    detail: DetailLevel.DETAIL_LEVEL_SMAPS,
    batchSize: 0,
    threadStacks: false,
    range: undefined,
  };
}

describe('faults: dead, restarted and stalled agents, exiting processes, the read limiter', () => {
  const agents: Record<string, AgentHandle> = {};
  let big: Zoo;
  let gw: GatewayHandle;
  let port: number;
  let stalled: StalledProc;

  beforeAll(async () => {
    // pid 4242's maps and smaps_rollup block every read (FIFOs nobody writes)
    stalled = makeStalledProc(['smaps_rollup', 'maps']);
    const started = await startAll([
      startAgent({ host: '127.0.0.44', nodeName: 'k1' }),
      startAgent({ host: '127.0.0.45', nodeName: 'k2' }),
      startAgent({ host: '127.0.0.46', nodeName: 'k3' }),
      startAgent({
        host: '127.0.0.47',
        nodeName: 'stalled',
        extraArgs: [
          '--proc-root',
          stalled.procRoot,
          '--proc-read-timeout-ms',
          '5000',
          '--metrics-listen',
          '127.0.0.47:0',
        ],
      }),
      startAgent({
        host: '127.0.0.48',
        nodeName: 'tight',
        extraArgs: ['--max-heavy-reads', '1', '--max-queued-reads', '1'],
      }),
      spawnZoo({ vmas: 20000 }),
    ]);
    for (const a of started.slice(0, 5) as AgentHandle[]) agents[a.nodeName] = a;
    big = started[5];
    gw = await startGateway(
      Object.values(agents).map((a) => ({ name: a.nodeName, address: a.address })),
      [],
      NO_RATE_LIMIT_YAML,
      1000,
    );
    port = gw.port;
  });

  afterAll(async () => {
    if (gw) await gw.stop('SIGKILL');
    // the stalled agent's reads are still blocked in the kernel: it ends on SIGTERM by the signal
    await Promise.all(Object.values(agents).map((a) => a.stop()));
    await big?.stop();
    stalled?.remove();
  }, 30000);

  /**
   * Restarts a killed agent on its old address and polls (a generous bound: the outcome is
   * asserted, not the time) until the gateway serves a map from it again. Resolves with the last
   * answer and the statuses seen before it.
   */
  async function restartAndWaitServed(name: string): Promise<{ last: Res; before: number[] }> {
    const old = agents[name];
    const b = await startAgent({
      host: old.host,
      nodeName: name,
      extraArgs: ['--listen', `${old.host}:${old.port}`],
    });
    agents[name] = b;
    const before: number[] = [];
    for (let i = 0; ; i++) {
      const last = await get(port, `/v1/nodes/${name}/processes/${big.pid}/maps?range=0,1`);
      if (last.status === 200 || i === 200) return { last, before };
      before.push(last.status);
      await sleep(100);
    }
  }

  async function expectServedAgain(name: string): Promise<void> {
    const { last, before } = await restartAndWaitServed(name);
    expect(last.status).toBe(200);
    expect(last.body.header.pid).toBe(big.pid);
    // until the channel reconnects: 503 (unavailable), never a 500 or a timeout
    expect(before.filter((s) => s !== 503)).toEqual([]);
  }

  async function nodeStatus(name: string): Promise<string> {
    return (await get(port, `/v1/nodes/${name}`)).body.status as string;
  }

  test('kill -9 during a fleet query: the node fails UNAVAILABLE, the others answer; restarted, it is served again', async () => {
    // Stopped first, k3 certainly has not answered when it dies: the query is in flight.
    agents.k3.kill('SIGSTOP');
    try {
      const q = get(port, '/v1/maps?mapping=.&nodes=k1,k2,k3&timeout=20000');
      await sleep(50);
      agents.k3.kill('SIGKILL');
      await agents.k3.exited;
      const r = await q;
      expect(r.status).toBe(200);
      expect(r.body.queried).toBe(3);
      expect(r.body.responded).toBe(2);
      // UNAVAILABLE: the gateway saw the connection drop; waiting for the 20 s deadline would
      // have been DEADLINE_EXCEEDED
      expect(r.body.failed).toEqual([expect.objectContaining({ node: 'k3', code: 'UNAVAILABLE' })]);
      // the transport's failure: no agent reason
      expect(r.body.failed[0].reason).toBeUndefined();
      expect(await nodeStatus('k3')).toBe('down');
    } finally {
      agents.k3.kill('SIGKILL'); // still stopped if the test failed before the kill
      await agents.k3.exited;
    }
    await expectServedAgain('k3');
  });

  test('kill -9 during a streamed 20,000-VMA map: 503 naming the node (or the whole map); restarted, it is served again', async () => {
    const q = get(port, `/v1/nodes/k2/processes/${big.pid}/maps?view=XX&timeout=20000`);
    await sleep(120);
    agents.k2.kill('SIGKILL');
    await agents.k2.exited;
    const r = await q;
    // 504 would mean the gateway waited for its 20 s deadline instead of seeing the agent die
    expect([200, 503]).toContain(r.status);
    if (r.status === 503) {
      expect(r.body).toMatchObject({ statusCode: 503, node: 'k2' });
      expect(r.body.message).toContain('unavailable');
      expect(await nodeStatus('k2')).toBe('down');
    } else {
      expect(r.body.vmas.length).toBeGreaterThan(20000);
    }
    await expectServedAgain('k2');
  });

  test('processes exiting while their maps stream: a complete map (empty for a zombie) or 404, never 5xx, a truncated map or a hang', async () => {
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const victim = await spawnZoo({ vmas: 20000 });
      let r: Res;
      try {
        const q = get(port, `/v1/nodes/k1/processes/${victim.pid}/maps?view=x&timeout=20000`);
        await sleep(10 + i * 40);
        await victim.stop();
        r = await q;
      } finally {
        await victim.stop(); // idempotent: also when the test failed before the kill
      }
      seen.push(r.status);
      // a hang would be the gateway's 504 at its deadline (or the client's timeout, status 0)
      if (r.status === 404) {
        expect(r.body.message).toMatch(/no such process|exited/);
        expect(['PROCESS_EXITED', 'PROCESS_NOT_FOUND']).toContain(r.body.reason);
      } else expect(r.status).toBe(200);
      // 200: the whole map, or none at all when the read began on the zombie the kill left
      // before it was reaped (pmap prints no rows for a zombie either) — never a truncated one
      if (r.status === 200) {
        const n: number = r.body.vmas.length;
        expect([n, n === 0 || n > 20000]).toEqual([n, true]);
      }
    }
    expect(seen.length).toBe(3);
    // a process gone before the read: 404 with the agent's reason
    const gone = await spawnZoo({ vmas: 0 });
    await gone.stop();
    const r404 = await get(port, `/v1/nodes/k1/processes/${gone.pid}/maps`);
    expect(r404.body).toMatchObject({ statusCode: 404, node: 'k1', reason: 'PROCESS_NOT_FOUND' });
  });

  test('stalled /proc: the stuck read fails alone (504), the agent keeps serving, the fleet answers whole', async () => {
    // 4242's maps and smaps_rollup are FIFOs nobody writes: a read of them blocks in the kernel,
    // as a read of a process stuck holding its mmap_lock does.
    // The agent's own 5 s read timeout answers (every read that returns is far within it), well
    // ahead of the gateway's 20 s deadline, whose
    // 504 would say "did not answer within 20000 ms" instead.
    const r = await get(port, '/v1/nodes/stalled/processes/4242/maps?timeout=20000');
    expect(r.status).toBe(504);
    expect(r.body).toMatchObject({ statusCode: 504, node: 'stalled', reason: 'READ_STUCK' });
    expect(r.body.message).toMatch(/proc\/4242\/maps did not return within 5000 ms/);
    // the same stuck path again: refused at once, no second blocked read
    const again = await get(port, '/v1/nodes/stalled/processes/4242/maps?timeout=20000');
    expect(again.status).toBe(504);
    expect(again.body.reason).toBe('READ_STUCK');
    expect(again.body.message).toMatch(
      /an earlier read of .*4242\/maps has not returned for \d+ ms/,
    );
    // the agent itself stays up: health, node info, other reads
    const node = await get(port, '/v1/nodes/stalled');
    expect(node.body).toMatchObject({ status: 'up' });
    const list = await get(port, '/v1/nodes/stalled/processes');
    expect(list.status).toBe(200);
    expect(list.body.processes).toEqual([
      expect.objectContaining({ pid: 4242, rollupError: expect.stringMatching(/smaps_rollup/) }),
    ]);
    // a fleet audit (rollups: 4242's smaps_rollup is stuck too) answers with the node responding,
    // the stuck process counted unreadable
    const f = await get(port, '/v1/audit?nodes=k1,stalled&timeout=20000');
    expect(f.status).toBe(200);
    expect(f.body.failed).toEqual([]);
    expect(f.body.responded).toBe(2);
    const stalledNode = f.body.nodes.find((n: { node: string }) => n.node === 'stalled');
    expect(stalledNode).toMatchObject({ processes: 1, unreadable: 1 });
    // a fleet map search: the stuck process is unreadable, its node answers
    const search = await get(port, '/v1/maps?nodes=k1,stalled&mapping=.&timeout=20000');
    expect(search.status).toBe(200);
    expect(search.body.failed).toEqual([]);
    expect(search.body.nodes.find((n: { node: string }) => n.node === 'stalled')).toMatchObject({
      scanned: 0,
      unreadable: 1,
    });
    // both stuck reads (maps, smaps_rollup) are visible to the operator
    const startup = agents.stalled.logs
      .map((l) => JSON.parse(l) as { metricsListening?: string })
      .find((o) => o.metricsListening !== undefined)!;
    const metrics = await (await fetch(`http://${startup.metricsListening}/metrics`)).text();
    expect(metrics).toMatch(/^pmapd_agent_proc_reads_stuck 2$/m);
    expect(metrics).toMatch(/^pmapd_agent_proc_read_timeouts_total 2$/m);
    expect(agents.stalled.logs.join('\n')).toMatch(/"msg":"proc read stuck"/);
  });

  test('heavy-read limiter: RESOURCE_EXHAUSTED beyond the queue (429 via the gateway), deadline while queued', async () => {
    const c = agents.tight.client;
    const calls = [0, 1, 2].map(() =>
      collectSettled(
        c.getMemoryMap(mapRequest(big.pid), new Metadata(), { deadline: deadlineIn(20000) }),
      ),
    );
    const res = await Promise.all(calls);
    const codes = res.map((s) => s.error?.code ?? status.OK);
    expect(codes.filter((x) => x === status.OK).length).toBe(2);
    const refused = res.find((s) => s.error?.code === status.RESOURCE_EXHAUSTED);
    expect(refused?.error?.details).toMatch(/^agent busy: 1 heavy reads running and 1 queued/);
    expect(refused?.error?.metadata.get('pmap-reason')).toEqual(['AGENT_BUSY']);

    // a queued call whose deadline passes leaves the queue without its read
    const first = collectSettled(
      c.getMemoryMap(mapRequest(big.pid), new Metadata(), { deadline: deadlineIn(20000) }),
    );
    await sleep(5);
    const late = await collectSettled(
      c.getMemoryMap(mapRequest(big.pid), new Metadata(), { deadline: deadlineIn(30) }),
    );
    expect(late.error?.code).toBe(status.DEADLINE_EXCEEDED);
    // the agent's queue gave up at the deadline (reason DEADLINE), or grpc-js ended the call at
    // it first (no reason)
    expect([['DEADLINE'], []]).toContainEqual(late.error?.metadata.get('pmap-reason'));
    expect(late.messages).toEqual([]);
    expect((await first).error).toBeUndefined();

    // through the gateway: the third concurrent read is a 429
    const http3 = await Promise.all(
      [0, 1, 2].map(() =>
        get(port, `/v1/nodes/tight/processes/${big.pid}/maps?view=x&timeout=20000`),
      ),
    );
    const st = http3.map((r) => r.status).sort();
    expect(st).toEqual([200, 200, 429]);
    expect(http3.find((r) => r.status === 429)?.body).toMatchObject({
      statusCode: 429,
      node: 'tight',
      reason: 'AGENT_BUSY',
    });
  });
});
