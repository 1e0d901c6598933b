/**
 * GET /v1/histograms end to end: the built gateway in front of four real agents on 127.0.0.8-11:
 *   n1, n2 — healthy, reading this machine's /proc;
 *   gone   — reads a fixture proc root holding a copy of one test process without its pagemap:
 *            listed by ListProcesses, then GetHistogram answers NOT_FOUND exactly as for a
 *            process that exited between the list and the scan;
 *   dead   — a real agent killed after the gateway saw it.
 * The processes are three copies of test/fixtures/layouts (stopped, so their pages stay put) run
 * under a name unique to this test run. Expected sums are computed from each agent's own
 * GetHistogram answers, asked directly over gRPC.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   response bodies are untyped JSON; the assertions are the type check. */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import {
  GetHistogramRequest,
  HistogramKind,
  histogramTotalsFromProto,
  type PmapServiceClient,
} from '@app/proto';
import { type HistogramTotals } from '@app/domain';
import { startAgent, type AgentHandle } from './helpers/agents';
import { startGateway, type GatewayHandle } from './helpers/gateway';
import { collect } from './helpers/grpc';
import { fixtureBinary, killAndReap, waitForJsonLine, waitForState } from './helpers/processes';

jest.setTimeout(60000);

const NAME = `fh${process.pid % 100000}`; // the comm of our processes (< 16 characters)
const COPIES = 3;

let dir: string;
const procs: ChildProcess[] = [];
const pids: number[] = [];
let n1: AgentHandle;
let n2: AgentHandle;
let gone: AgentHandle;
let dead: AgentHandle;
let gw: GatewayHandle;
let api: ReturnType<typeof request>;

/** The numbers of a JSON size (number, or a decimal string above 2^53) as bigint. */
const big = (v: number | string): bigint => BigInt(v);

/** Totals as the gateway writes them (orders or bins), from the agent's own answer. */
function totalsJson(t: HistogramTotals, order: boolean): Record<string, unknown> {
  const num = (v: bigint): number | string =>
    v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  const out: Record<string, unknown> = { vmas: t.vmas, presentPages: num(t.presentPages) };
  if (order) out.orders = t.orders.map(num);
  else {
    out.bins = t.bins.map((b) => ({
      key: b.key,
      pageSize: num(b.pageSize),
      category: b.category,
      count: num(b.count),
      bytes: num(b.bytes),
      ...(b.numaNode !== undefined ? { numaNode: b.numaNode } : {}),
    }));
  }
  return out;
}

async function directTotals(
  client: PmapServiceClient,
  pid: number,
  kind: HistogramKind,
): Promise<HistogramTotals> {
  const msgs = await collect(client.getHistogram(GetHistogramRequest.fromPartial({ pid, kind })));
  const last = msgs[msgs.length - 1];
  expect(last.last).toBe(true);
  return histogramTotalsFromProto(last.totals!);
}

function sumOrders(lists: (number | string)[][]): bigint[] {
  const out: bigint[] = [];
  for (const l of lists) l.forEach((v, i) => (out[i] = (out[i] ?? 0n) + big(v)));
  return out;
}

function binsByKey(bins: { key: string; count: number | string; bytes: number | string }[]) {
  const m = new Map<string, { count: bigint; bytes: bigint }>();
  for (const b of bins) {
    const s = m.get(b.key) ?? { count: 0n, bytes: 0n };
    s.count += big(b.count);
    s.bytes += big(b.bytes);
    m.set(b.key, s);
  }
  return m;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pmapd-fleet-hist-'));
  const bin = join(dir, NAME);
  copyFileSync(fixtureBinary('layouts'), bin);
  for (let i = 0; i < COPIES; i++) {
    procs.push(spawn(bin, [], { stdio: ['ignore', 'pipe', 'inherit'] }));
  }
  for (const p of procs) {
    const info = await waitForJsonLine<{ pid: number }>(
      p,
      'stdout',
      (o) => typeof o.pid === 'number',
    );
    await waitForState(info.pid, 'T');
    pids.push(info.pid);
  }
  pids.sort((a, b) => a - b);

  // The vanished process: a copy of the first one's files, without pagemap.
  const fixture = join(dir, 'proc');
  const pdir = join(fixture, String(pids[0]));
  mkdirSync(pdir, { recursive: true });
  for (const f of ['stat', 'status', 'cmdline', 'cgroup', 'maps']) {
    writeFileSync(join(pdir, f), readFileSync(`/proc/${pids[0]}/${f}`));
  }
  writeFileSync(join(fixture, 'stat'), readFileSync('/proc/stat'));

  [n1, n2, gone, dead] = await Promise.all([
    startAgent({ host: '127.0.0.8', nodeName: 'n1' }),
    startAgent({ host: '127.0.0.9', nodeName: 'n2' }),
    startAgent({ host: '127.0.0.10', nodeName: 'gone', extraArgs: ['--proc-root', fixture] }),
    startAgent({ host: '127.0.0.11', nodeName: 'dead' }),
  ]);
  gw = await startGateway(
    [n1, n2, gone, dead].map((a) => ({ name: a.nodeName, address: a.address })),
  );
  api = request(gw.url);
  await dead.stop(); // seen by the gateway, then gone
}, 60000);

afterAll(async () => {
  await Promise.all([
    gw?.stop(),
    ...[n1, n2, gone, dead].map((a) => a?.stop()),
    ...procs.map((p) => killAndReap(p)),
  ]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('GET /v1/histograms', () => {
  it('kind=order: per-process totals are the agents own, summed per node and for the fleet', async () => {
    const res = await api.get(`/v1/histograms?kind=order&name=^${NAME}$`).expect(200);
    const body = res.body;
    expect(body).toMatchObject({ kind: 'order', maxOrder: 9, compat: 'none', range: null });
    expect(body.queried).toBe(4);
    expect(body.responded).toBe(3);
    expect(body.failed).toEqual([expect.objectContaining({ node: 'dead', code: 'UNAVAILABLE' })]);
    expect(body.maxProcesses).toBe(16);
    expect(body.nodes.map((n: any) => n.node)).toEqual(['gone', 'n1', 'n2']);
    const byName = new Map<string, any>(body.nodes.map((n: any) => [n.node, n]));

    // The vanished process: listed in the node's failures, not fatal, not in the totals.
    const g = byName.get('gone');
    expect(g.matched).toBe(1);
    expect(g.processes).toEqual([]);
    expect(g.failures).toEqual([
      {
        pid: pids[0],
        comm: NAME,
        code: 'NOT_FOUND',
        // the agent's reason: gone before its scan (or during it)
        reason: expect.stringMatching(/^PROCESS_(NOT_FOUND|EXITED)$/),
        message: expect.stringContaining(String(pids[0])),
      },
    ]);
    expect(g.totals).toEqual({
      processes: 0,
      vmas: 0,
      presentPages: 0,
      orders: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    });

    const fleetOrders: (number | string)[][] = [];
    let fleetPages = 0n;
    let fleetVmas = 0;
    for (const a of [n1, n2]) {
      const node = byName.get(a.nodeName);
      expect(node.matched).toBe(COPIES);
      expect(node.truncated).toBe(false);
      expect(node.failures).toEqual([]);
      expect(node.processes.map((p: any) => p.pid)).toEqual(pids);
      for (const p of node.processes) {
        expect(p.comm).toBe(NAME);
        const direct = await directTotals(a.client, p.pid, HistogramKind.HISTOGRAM_KIND_ORDER);
        expect(p.totals).toEqual(totalsJson(direct, true));
        expect(direct.presentPages).toBeGreaterThan(1000n); // layouts touches > 2900 pages
      }
      const orders = sumOrders(node.processes.map((p: any) => p.totals.orders));
      expect(node.totals.orders.map(big)).toEqual(orders);
      expect(node.totals.processes).toBe(COPIES);
      expect(big(node.totals.presentPages)).toBe(
        node.processes.reduce((s: bigint, p: any) => s + big(p.totals.presentPages), 0n),
      );
      expect(node.totals.vmas).toBe(
        node.processes.reduce((s: number, p: any) => s + p.totals.vmas, 0),
      );
      fleetOrders.push(node.totals.orders);
      fleetPages += big(node.totals.presentPages);
      fleetVmas += node.totals.vmas;
    }
    expect(body.totals.processes).toBe(2 * COPIES);
    expect(body.totals.orders.map(big)).toEqual(sumOrders(fleetOrders));
    expect(big(body.totals.presentPages)).toBe(fleetPages);
    expect(body.totals.vmas).toBe(fleetVmas);
    // Correct counting: every present page is in exactly one block.
    const inBlocks = body.totals.orders.reduce(
      (s: bigint, c: number | string, i: number) => s + big(c) * (1n << BigInt(i)),
      0n,
    );
    expect(inBlocks).toBe(fleetPages);
  });

  it('kind=pagesize: bins summed by key per node and for the fleet', async () => {
    const res = await api.get(`/v1/histograms?kind=pagesize&name=^${NAME}$&nodes=n*`).expect(200);
    expect(res.body.queried).toBe(2);
    expect(res.body.failed).toEqual([]);
    const fleet = new Map<string, { count: bigint; bytes: bigint }>();
    for (const node of res.body.nodes) {
      expect(node.processes).toHaveLength(COPIES);
      const expected = binsByKey(node.processes.flatMap((p: any) => p.totals.bins));
      expect(binsByKey(node.totals.bins)).toEqual(expected);
      expect(node.totals.bins.map((b: any) => b.key)).toContain('4K');
      for (const [k, v] of expected) {
        const f = fleet.get(k) ?? { count: 0n, bytes: 0n };
        fleet.set(k, { count: f.count + v.count, bytes: f.bytes + v.bytes });
      }
    }
    expect(binsByKey(res.body.totals.bins)).toEqual(fleet);
    expect(res.body.totals.orders).toBeUndefined();
  });

  it('caps the processes per node (largest RSS first) and says so', async () => {
    const res = await api
      .get(`/v1/histograms?kind=order&name=^${NAME}$&nodes=n1&maxProcesses=2`)
      .expect(200);
    expect(res.body.maxProcesses).toBe(2);
    const [node] = res.body.nodes;
    expect(node).toMatchObject({ node: 'n1', matched: COPIES, truncated: true });
    expect(node.processes).toHaveLength(2);
    expect(node.totals.processes).toBe(2);
  });

  it('limit alone selects the N largest processes of each node', async () => {
    const res = await api.get('/v1/histograms?kind=order&limit=1&nodes=n1,n2').expect(200);
    expect(res.body.maxProcesses).toBe(1);
    for (const node of res.body.nodes) {
      expect(node.processes.length + node.failures.length).toBe(1);
      expect(node.matched).toBeGreaterThan(1);
      expect(node.truncated).toBe(true);
    }
  });

  it('rejects an unbounded or malformed query', async () => {
    const none = await api.get('/v1/histograms?kind=order').expect(400);
    expect(none.body).toMatchObject({ parameter: 'limit' });
    expect(none.body.message).toMatch(/process selector .* or limit is required/);
    const noKind = await api.get(`/v1/histograms?name=^${NAME}$`).expect(400);
    expect(noKind.body).toMatchObject({ parameter: 'kind' });
    const many = await api.get(`/v1/histograms?kind=order&name=x&maxProcesses=257`).expect(400);
    expect(many.body).toMatchObject({ parameter: 'maxProcesses' });
    const compat = await api.get(`/v1/histograms?kind=numa&name=x&compat=memhist`).expect(400);
    expect(compat.body).toMatchObject({ parameter: 'compat' });
    const node = await api.get(`/v1/histograms?kind=order&name=x&nodes=nope`).expect(404);
    expect(node.body.allowed).toEqual(['dead', 'gone', 'n1', 'n2']);
  });
});
