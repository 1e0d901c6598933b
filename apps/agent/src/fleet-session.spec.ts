import * as grpc from '@grpc/grpc-js';
import { Writable } from 'node:stream';
import pino from 'pino';
import { ProcReader } from '@app/procfs';
import {
  ListProcessesRequest,
  NodeInfo,
  PmapServiceClient,
  PmapServiceService,
  type FleetSessionResponse,
  type FleetSessionRequest,
  type ListProcessesResponse,
} from '@app/proto';
import { FleetSessions } from './fleet-session';
import type { NodeInfoService } from './node-info.service';
import { PmapGrpcService } from './pmap.service';
import { ProcessesService } from './processes.service';
import { ReadLimiter } from './read-limiter';
import { VeService } from './ve.service';

const NODE = NodeInfo.fromPartial({ nodeName: 'spec-node' });

/** A real agent server (unary handlers and FleetSession) over this machine's /proc. */
async function serve(maxInFlight = 4) {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
        cb();
      },
    }),
  );
  const processes = new ProcessesService(new ProcReader(), VeService.of(undefined, 'spec'));
  const nodeInfo = { getNodeInfo: () => NODE } as unknown as NodeInfoService;
  // one heavy read at a time: a spec holds the permit to keep queries in flight
  const limiter = new ReadLimiter(1, 16);
  const counted: string[] = [];
  const metrics = {
    rpcs: { inc: (l: { rpc: string; code: string }) => counted.push(`${l.rpc} ${l.code}`) },
    rpcDuration: { observe: () => undefined },
  } as never;
  const fleet = new FleetSessions({ processes, nodeInfo, limiter, log, metrics, maxInFlight });
  const unary = new PmapGrpcService(
    nodeInfo,
    processes,
    undefined as never,
    log,
    undefined as never,
    undefined as never,
    VeService.of(undefined, 'spec'),
    limiter,
    undefined as never,
    fleet,
  );
  const server = new grpc.Server();
  server.addService(PmapServiceService, unary.asServer());
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? rej(e) : res(p),
    ),
  );
  const client = new PmapServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return { server, client, fleet, limiter, lines, counted };
}

type Served = Awaited<ReturnType<typeof serve>>;

/** An open session: queries in, answers collected by id. */
function session(s: Served) {
  const call = s.client.fleetSession();
  const answers: FleetSessionResponse[] = [];
  const waiters = new Map<number, (a: FleetSessionResponse) => void>();
  const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('data', (a: FleetSessionResponse) => {
    answers.push(a);
    waiters.get(a.id)?.(a);
  });
  call.on('error', () => undefined);
  return {
    call,
    answers,
    send: (q: Partial<FleetSessionRequest> & { id: number }) =>
      call.write({ deadlineMs: 5000, requestId: '', ...q }),
    answer: (id: number) =>
      new Promise<FleetSessionResponse>((resolve) => {
        const got = answers.find((a) => a.id === id);
        if (got) resolve(got);
        else waiters.set(id, resolve);
      }),
    ended,
  };
}

const mine = (): ListProcessesRequest =>
  ListProcessesRequest.fromPartial({ pids: [process.pid], totals: true });

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

describe('FleetSessions', () => {
  let s: Served;
  beforeEach(async () => {
    s = await serve();
  });
  afterEach(() => {
    s.client.close();
    s.server.forceShutdown();
  });

  it('answers a ListProcesses query as the unary RPC does, and GetNodeInfo, on one stream', async () => {
    const unary = await new Promise<ListProcessesResponse>((res, rej) =>
      s.client.listProcesses(mine(), (e, r) => (e ? rej(e) : res(r))),
    );
    const sess = session(s);
    sess.send({ id: 7, requestId: 'req-1', listProcesses: mine() });
    sess.send({ id: 8, getNodeInfo: {} });
    const [a, b] = await Promise.all([sess.answer(7), sess.answer(8)]);
    expect(a.error).toBeUndefined();
    expect(a.listProcesses!.processes.map((p) => [p.pid, p.comm])).toEqual(
      unary.processes.map((p) => [p.pid, p.comm]),
    );
    expect(a.listProcesses!.totals!.processes).toBe(1);
    expect(b.nodeInfo).toEqual({ node: NODE });
    expect(s.lines).toContainEqual(
      expect.objectContaining({ rpc: 'ListProcesses', requestId: 'req-1', code: 'OK', session: 7 }),
    );
    expect(s.counted).toEqual(expect.arrayContaining(['ListProcesses OK', 'GetNodeInfo OK']));
    sess.call.end();
    expect((await sess.ended).code).toBe(grpc.status.OK);
  });

  it("an error answer carries the unary status's code, reason and field", async () => {
    const bad = ListProcessesRequest.fromPartial({ pids: [-1] });
    const unary = await new Promise<grpc.ServiceError>((res) =>
      s.client.listProcesses(bad, (e) => res(e!)),
    );
    const sess = session(s);
    sess.send({ id: 1, listProcesses: bad });
    const { error } = await sess.answer(1);
    expect(error).toEqual({
      code: unary.code,
      message: unary.details,
      reason: unary.metadata.get('pmap-reason')[0],
      field: 'pids',
      pid: 0,
    });
    expect(error!.reason).toBe('INVALID_FIELD');
    sess.call.end();
  });

  it('beyond maxInFlight a query is answered AGENT_BUSY at once; the others are served', async () => {
    const release = await s.limiter.acquire(); // every heavy query waits behind this permit
    const sess = session(s);
    for (let id = 1; id <= 5; id++) sess.send({ id, listProcesses: mine() });
    const busy = await sess.answer(5);
    expect(busy.error).toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
      reason: 'AGENT_BUSY',
    });
    expect(s.fleet.stats()).toMatchObject({ sessions: 1, inFlight: 4, busy: 1 });
    release();
    const rest = await Promise.all([1, 2, 3, 4].map((id) => sess.answer(id)));
    expect(rest.every((a) => a.listProcesses?.processes[0]?.pid === process.pid)).toBe(true);
    sess.call.end();
  });

  it("a query's deadline ends it DEADLINE_EXCEEDED (reason DEADLINE) while it waits for a permit", async () => {
    const release = await s.limiter.acquire();
    const sess = session(s);
    sess.send({ id: 3, deadlineMs: 50, listProcesses: mine() });
    const a = await sess.answer(3);
    expect(a.error).toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED, reason: 'DEADLINE' });
    release();
    sess.call.end();
  });

  it('a cancel by id ends the query without an answer; it is logged and counted CANCELLED', async () => {
    const release = await s.limiter.acquire();
    const sess = session(s);
    sess.send({ id: 1, requestId: 'gone', listProcesses: mine() });
    await until(() => s.fleet.stats().inFlight === 1);
    sess.send({ id: 1, cancel: {} });
    await until(() => s.fleet.stats().inFlight === 0);
    release();
    sess.send({ id: 2, getNodeInfo: {} });
    await sess.answer(2);
    expect(sess.answers.map((a) => a.id)).toEqual([2]);
    expect(s.fleet.stats().cancelled).toBe(1);
    expect(s.counted).toContain('ListProcesses CANCELLED');
    expect(s.lines).toContainEqual(
      expect.objectContaining({ rpc: 'ListProcesses', requestId: 'gone', code: 'CANCELLED' }),
    );
    sess.call.end();
  });

  it('the gateway going away aborts every query of its session', async () => {
    const release = await s.limiter.acquire();
    const sess = session(s);
    sess.send({ id: 1, listProcesses: mine() });
    sess.send({ id: 2, listProcesses: mine() });
    await until(() => s.fleet.stats().inFlight === 2);
    sess.call.cancel();
    await until(() => s.fleet.stats().sessions === 0 && s.fleet.stats().inFlight === 0);
    expect(s.fleet.stats().cancelled).toBe(2);
    // the aborted queries left the limiter's queue: the next holder is not behind them
    expect(s.limiter.stats().queued).toBe(0);
    release();
  });

  it('closeAll (agent stopping) answers the queries in flight, then ends the stream OK', async () => {
    const release = await s.limiter.acquire();
    const sess = session(s);
    sess.send({ id: 1, listProcesses: mine() });
    await until(() => s.fleet.stats().inFlight === 1);
    s.fleet.closeAll();
    sess.send({ id: 2, getNodeInfo: {} });
    const refused = await sess.answer(2);
    expect(refused.error).toMatchObject({ code: grpc.status.UNAVAILABLE, reason: '' });
    release();
    expect((await sess.answer(1)).listProcesses?.processes[0]?.pid).toBe(process.pid);
    expect((await sess.ended).code).toBe(grpc.status.OK);
    expect(s.fleet.stats().sessions).toBe(0);
  });
});
