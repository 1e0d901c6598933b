import * as grpc from '@grpc/grpc-js';
import {
  ListProcessesRequest,
  PmapServiceService,
  type FleetSessionResponse,
  type FleetSessionRequest,
  type PmapServiceServer,
} from '@app/proto';
import { AgentCallError, AgentConnection } from './agent-connection';
import type { SessionQueryHooks } from './fleet-session-client';

type SessionCall = grpc.ServerDuplexStream<FleetSessionRequest, FleetSessionResponse>;

/** A scripted agent: every FleetSession stream and query it gets, answered by `script`. */
async function agent(script: (q: FleetSessionRequest, call: SessionCall) => void) {
  const streams: SessionCall[] = [];
  const queries: FleetSessionRequest[] = [];
  const server = new grpc.Server();
  const impl: Partial<PmapServiceServer> = {
    fleetSession: (call: SessionCall) => {
      streams.push(call);
      call.on('data', (q: FleetSessionRequest) => {
        queries.push(q);
        script(q, call);
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  };
  server.addService(PmapServiceService, impl as PmapServiceServer);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? rej(e) : res(p),
    ),
  );
  return { server, streams, queries, address: `127.0.0.1:${port}` };
}

const list = (pid: number): FleetSessionResponse['listProcesses'] => ({
  processes: [
    {
      pid,
      ppid: 1,
      comm: 'x',
      cmdline: `/secret/path --token ${pid}`,
      uid: 0,
      user: 'root',
      state: 'S',
      threads: 1,
      startTimeMs: 0n,
      vsize: 0n,
      rollup: undefined,
      rollupError: '',
      cgroup: '/',
      kernelThread: false,
      rss: 4096n,
      cmdlineTruncated: false,
    },
  ],
  totalMatched: 1,
  unreadable: 0,
  totals: undefined,
  nextOffset: 0,
});

const REQ = ListProcessesRequest.fromPartial({ totals: true, limit: 20 });

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

async function rejection(p: Promise<unknown>): Promise<AgentCallError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AgentCallError);
    return e as AgentCallError;
  }
  throw new Error('expected a rejection');
}

describe('FleetSessionClient (through AgentConnection)', () => {
  let a: Awaited<ReturnType<typeof agent>>;
  let conn: AgentConnection;
  afterEach(() => {
    conn.close();
    a.server.forceShutdown();
  });

  it('one stream for every query; answers matched by id in any order; request id, redaction and metrics per query', async () => {
    const held: FleetSessionRequest[] = [];
    a = await agent((q, call) => {
      held.push(q);
      // answer in reverse order once three are in
      if (held.length === 3) {
        for (const h of [...held].reverse()) {
          call.write({ id: h.id, listProcesses: list(h.listProcesses!.limit) });
        }
      }
    });
    const ended: string[] = [];
    const hooks: SessionQueryHooks = {
      begin: (rpc) => ({
        requestId: `req-${rpc}`,
        redact: (m) => {
          for (const p of (m as { processes: { cmdline: string }[] }).processes) p.cmdline = 'x';
          return m;
        },
        end: (code) => ended.push(`${rpc} ${code}`),
      }),
    };
    conn = new AgentConnection('n1', a.address, undefined, {
      credentials: grpc.credentials.createInsecure(),
      interceptors: [],
      channelOptions: {},
      session: hooks,
    });
    const answers = await Promise.all(
      [1, 2, 3].map((limit) => conn.listProcesses({ ...REQ, limit }, { timeoutMs: 20_000 })),
    );
    expect(answers.map((r) => r.processes[0].pid)).toEqual([1, 2, 3]);
    expect(answers.every((r) => r.processes[0].cmdline === 'x')).toBe(true);
    expect(a.streams).toHaveLength(1);
    expect(conn.session.opened).toBe(1);
    expect(
      a.queries.map((q) => [q.requestId, q.deadlineMs > 19_000 && q.deadlineMs <= 20_000]),
    ).toEqual([
      ['req-ListProcesses', true],
      ['req-ListProcesses', true],
      ['req-ListProcesses', true],
    ]);
    expect(new Set(a.queries.map((q) => q.id)).size).toBe(3);
    expect(ended).toEqual(['ListProcesses OK', 'ListProcesses OK', 'ListProcesses OK']);
  });

  it("an answer's error is the AgentCallError a unary status would give (code, reason, field, pid)", async () => {
    a = await agent((q, call) =>
      call.write({
        id: q.id,
        error: {
          code: grpc.status.INVALID_ARGUMENT,
          message: 'pids: bad',
          reason: 'INVALID_FIELD',
          field: 'pids',
          pid: 0,
        },
      }),
    );
    conn = new AgentConnection('n1', a.address);
    const e = await rejection(conn.listProcesses(REQ, { timeoutMs: 20_000 }));
    expect(e).toMatchObject({
      node: 'n1',
      code: grpc.status.INVALID_ARGUMENT,
      details: 'pids: bad',
      reason: 'INVALID_FIELD',
      field: 'pids',
    });
    expect(e.pid).toBeUndefined();
    // a busy agent: RESOURCE_EXHAUSTED with its reason, as the unary trailers say it
    a.server.forceShutdown();
    a = await agent((q, call) =>
      call.write({
        id: q.id,
        error: {
          code: grpc.status.RESOURCE_EXHAUSTED,
          message: 'busy',
          reason: 'AGENT_BUSY',
          field: '',
          pid: 0,
        },
      }),
    );
    conn.close();
    conn = new AgentConnection('n1', a.address);
    await expect(rejection(conn.listProcesses(REQ, { timeoutMs: 20_000 }))).resolves.toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
      reason: 'AGENT_BUSY',
    });
  });

  it('a query nobody answers fails at its deadline (no reason: deadlinePassed); the session stays', async () => {
    a = await agent((q, call) => {
      if (q.listProcesses?.limit === 2) call.write({ id: q.id, listProcesses: list(2) });
    });
    conn = new AgentConnection('n1', a.address);
    const e = await rejection(conn.listProcesses({ ...REQ, limit: 1 }, { timeoutMs: 200 }));
    expect(e.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(e.deadlinePassed).toBe(true);
    expect(conn.session.inFlight).toBe(0);
    await expect(
      conn.listProcesses({ ...REQ, limit: 2 }, { timeoutMs: 20_000 }),
    ).resolves.toMatchObject({
      totalMatched: 1,
    });
    expect(conn.session.opened).toBe(1);
  });

  it('the client leaving sends a cancel by id and fails the query CANCELLED', async () => {
    a = await agent(() => undefined);
    let gone = 0;
    conn = new AgentConnection('n1', a.address, () => gone++);
    const ac = new AbortController();
    const p = rejection(conn.listProcesses(REQ, { timeoutMs: 20_000, signal: ac.signal }));
    await until(() => a.queries.length === 1);
    ac.abort();
    expect((await p).code).toBe(grpc.status.CANCELLED);
    await until(() => a.queries.length === 2);
    expect(a.queries[1]).toMatchObject({ id: a.queries[0].id, cancel: {} });
    expect(gone).toBe(1);
  });

  it('the agent ending the session fails what is in flight UNAVAILABLE (unreachable); the next query reopens', async () => {
    a = await agent((q, call) => {
      if (q.listProcesses?.limit === 1) call.write({ id: q.id, listProcesses: list(1) });
      else call.end();
    });
    conn = new AgentConnection('n1', a.address);
    await conn.listProcesses({ ...REQ, limit: 1 }, { timeoutMs: 20_000 });
    const e = await rejection(conn.listProcesses({ ...REQ, limit: 9 }, { timeoutMs: 20_000 }));
    expect(e.unreachable).toBe(true);
    // the session had answered: reopened at once
    await conn.listProcesses({ ...REQ, limit: 1 }, { timeoutMs: 20_000 });
    expect(conn.session.opened).toBe(2);
    expect(a.streams).toHaveLength(2);
  });

  it('an agent that is down: the stream fails, and queries within the backoff fail at once without a new stream', async () => {
    a = await agent(() => undefined);
    a.server.forceShutdown(); // nothing listens any more
    conn = new AgentConnection('n1', a.address);
    const first = await rejection(conn.listProcesses(REQ, { timeoutMs: 20_000 }));
    expect(first.unreachable).toBe(true);
    const second = await rejection(conn.listProcesses(REQ, { timeoutMs: 20_000 }));
    expect(second.unreachable).toBe(true);
    expect(second.details).toMatch(/reopening/);
    expect(conn.session.opened).toBe(1);
  });
});
