/**
 * Fleet at scale, e2e: the built gateway in front of a real agent (127.0.0.12) reading this
 * machine's /proc.
 *
 * - 36 processes started with 1.9 MB command lines each (over 64 MiB together, gRPC's message
 *   limit): the node's process list and the fleet audit still answer, every such command line
 *   capped at 4 KiB with cmdlineTruncated; the audit's top N and totals (computed by the agent)
 *   equal what the gateway's full process list of the node gives.
 * - 20 NDJSON clients that never read a large fleet search (the same agent under 60 node names,
 *   each answering a zoo process with 6000 VMAs: ~50 MB of NDJSON per client, ~1 GB in all if
 *   the gateway buffered it; fanoutConcurrency 1) keep the gateway's RSS (/proc/PID/status)
 *   under 768 MiB (2.4 GiB without backpressure), and are cut (logged) once they have not read
 *   for the per-node deadline; the gateway then still answers, the whole search to a reader.
 * - A second gateway with maxResponseBytes 3 MB: the same search as NDJSON stops at the limit
 *   with a RESPONSE_TOO_LARGE line; as JSON it is a 413.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   response bodies are untyped JSON; the assertions are the type check. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startAgent, type AgentHandle } from './helpers/agents';
import { NO_RATE_LIMIT_YAML, spawnGateway, type GatewayHandle } from './helpers/gateway';
import { killAndReap, sleep, spawnZoo, type Zoo } from './helpers/processes';

const LONG_PROCS = 36;
/** One argument may be 128 KiB at most (MAX_ARG_STRLEN): 15 of 126 000 bytes = 1.89 MB. */
const LONG_ARGS = 15;
const ARG_BYTES = 126_000;
const SEARCH_NODES = 60;
const ZOO_VMAS = 6000;
const CLIENTS = 20;
/**
 * The bound on the gateway's RSS. Measured on a busy 2-core machine: 300-410 MiB at the peak with
 * backpressure (about 140 MiB at rest; the rest is mostly garbage of the node answers produced
 * before the streams stalled, awaiting V8's major GC), ~2.4 GiB with the writes not awaited
 * (every line buffered in the gateway). The bound sits between, far from both.
 */
const RSS_BOUND_KIB = 768 * 1024;

function rssKib(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

describe('fleet at scale: long command lines, agent-side audit, NDJSON backpressure', () => {
  let agent: AgentHandle;
  let gw: GatewayHandle;
  let api: ReturnType<typeof request>;
  let zoo: Zoo;
  let dir: string;
  const marker = `pmapd-long-${process.pid}`;
  const longProcs: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pmapd-fleet-scale-'));
    [agent, zoo] = await Promise.all([
      startAgent({ host: '127.0.0.12', nodeName: 'n1' }),
      spawnZoo({ vmas: ZOO_VMAS }),
    ]);
    const nodes = [
      `  - { name: n1, address: "${agent.address}" }`,
      // the same agent under many names: a large fleet for the search
      ...Array.from(
        { length: SEARCH_NODES },
        (_, i) =>
          `  - { name: s${String(i).padStart(2, '0')}, address: "${agent.address}", labels: { pool: search } }`,
      ),
    ];
    writeFileSync(
      join(dir, 'cluster.yaml'),
      [
        'nodes:',
        ...nodes,
        'healthIntervalMs: 5000',
        'fanoutConcurrency: 1',
        NO_RATE_LIMIT_YAML,
      ].join('\n'),
    );
    gw = await spawnGateway({ args: ['--config', join(dir, 'cluster.yaml')] });
    api = request(gw.url);
  });

  afterAll(async () => {
    await gw?.stop();
    await agent?.stop();
    await zoo?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  describe('36 processes of 1.9 MB command lines (over 64 MiB together)', () => {
    beforeAll(() => {
      for (let i = 0; i < LONG_PROCS; i++) {
        const args = Array.from({ length: LONG_ARGS }, (_, k) =>
          String.fromCharCode(97 + ((i + k) % 26)).repeat(ARG_BYTES),
        );
        // the first one says a word past the 4 KiB cut, within what a name regex searches (64 KiB)
        if (i === 0) args.unshift('q'.repeat(5000), `past-the-cut-${marker}`);
        // sh stays (sleep is not its last command): its own command line is the long one
        longProcs.push(
          spawn('/bin/sh', ['-c', 'sleep 600; :', `${marker}-${i}`, ...args], {
            stdio: 'ignore',
            env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
          }),
        );
      }
    });

    afterAll(async () => {
      await Promise.all(longProcs.map((c) => killAndReap(c, 'SIGKILL')));
    });

    test('a node with 36 processes of 1.9 MB command lines lists them, each cut at 4 KiB with cmdlineTruncated', async () => {
      const res = await api.get('/v1/nodes/n1/processes').expect(200);
      const mine = res.body.processes.filter((p: any) => p.cmdline.includes(marker));
      expect(mine).toHaveLength(LONG_PROCS);
      for (const p of mine) {
        expect(p.cmdlineTruncated).toBe(true);
        expect(Buffer.byteLength(p.cmdline)).toBeLessThanOrEqual(4096);
        expect(p.cmdline.startsWith(`/bin/sh -c sleep 600; : ${marker}-`)).toBe(true);
      }
      // an ordinary process keeps its whole command line and no flag
      const me = res.body.processes.find((p: any) => p.pid === agent.pid);
      expect(me).toBeDefined();
      expect(me.cmdlineTruncated).toBeUndefined();
      // the name filter still searches past the 4 KiB cut (up to the regex search cap, 64 KiB)
      expect(mine.find((p: any) => p.pid === longProcs[0].pid).cmdline).not.toContain(
        'past-the-cut',
      );
      const byName = await api
        .get('/v1/nodes/n1/processes')
        .query({ name: `${marker}-0 q+ past-the-cut-${marker}` })
        .expect(200);
      expect(byName.body.processes.map((p: any) => p.pid)).toEqual([longProcs[0].pid]);
    });

    test("the audit answers (responded 1); its top N and totals equal the gateway's own count over the node's full list", async () => {
      const name = `${marker}-`;
      for (const by of ['rss', 'pss'] as const) {
        // the same selection both ways, compared once nothing changed in between (sleeping sh)
        let audit: any;
        let full: any;
        let expected: unknown;
        for (let attempt = 0; attempt < 10; attempt++) {
          [audit, full] = await Promise.all([
            api.get('/v1/audit').query({ by, top: 20, name, nodes: 'n1' }).expect(200),
            api.get('/v1/nodes/n1/processes').query({ name }).expect(200),
          ]);
          const ranked = full.body.processes
            .filter((p: any) => p[by] !== undefined)
            .sort((a: any, b: any) => (a[by] === b[by] ? a.pid - b.pid : b[by] - a[by]))
            .slice(0, 20);
          expected = ranked.map((p: any) => [p.pid, p[by], true]);
          const got = audit.body.processes.map((p: any) => [p.pid, p.value, p.cmdlineTruncated]);
          const sum = (k: string): number =>
            full.body.processes.reduce((n: number, p: any) => n + (p[k] ?? 0), 0);
          const same =
            JSON.stringify(got) === JSON.stringify(expected) &&
            audit.body.nodes[0]?.rss === sum('rss') &&
            audit.body.nodes[0]?.pss === sum('pss');
          if (same) break;
          await sleep(200);
        }
        expect(audit.body.responded).toBe(1);
        expect(audit.body.failed).toEqual([]);
        const procs = full.body.processes;
        expect(procs).toHaveLength(LONG_PROCS);
        expect(audit.body.processes.map((p: any) => [p.pid, p.value, p.cmdlineTruncated])).toEqual(
          expected,
        );
        const node = audit.body.nodes[0];
        expect(node.processes).toBe(LONG_PROCS);
        expect(node.rss).toBe(procs.reduce((n: number, p: any) => n + p.rss, 0));
        expect(node.pss).toBe(procs.reduce((n: number, p: any) => n + (p.pss ?? 0), 0));
        expect(audit.body.totals).toMatchObject({ processes: LONG_PROCS, rss: node.rss });
      }
      // the whole node too: every process, the audit asks the agent for its top 20 only
      const whole = await api
        .get('/v1/audit')
        .query({ by: 'rss', top: 20, nodes: 'n1' })
        .expect(200);
      expect(whole.body.responded).toBe(1);
      expect(whole.body.processes).toHaveLength(20);
    });
  });

  test('20 NDJSON clients that never read a large search keep the gateway RSS bounded; stalled streams are cut and logged', async () => {
    // a per-node deadline no busy agent comes near: only the stalled writes end these streams
    const query = `/v1/maps?labels=pool=search&mapping=^&timeout=15000&name=${encodeURIComponent(escapeRegex(zoo.dir))}`;
    const base = rssKib(gw.child.pid!);
    const sockets: net.Socket[] = [];
    let max = base;
    const cutsBefore = gw.logs.filter((l) => l.includes('fleet stream cut')).length;
    try {
      for (let i = 0; i < CLIENTS; i++) {
        const s = net.connect(gw.port, '127.0.0.1');
        s.on('error', () => undefined);
        s.pause(); // never read
        s.write(
          `GET ${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/x-ndjson\r\nConnection: close\r\n\r\n`,
        );
        sockets.push(s);
      }
      // watch the gateway while the streams are stuck, until it has cut every one of them
      const until = Date.now() + 200_000;
      while (Date.now() < until) {
        max = Math.max(max, rssKib(gw.child.pid!));
        const cuts = gw.logs.filter((l) => l.includes('fleet stream cut')).length - cutsBefore;
        if (cuts >= CLIENTS) break;
        await sleep(100);
      }
      expect(max).toBeLessThan(RSS_BOUND_KIB);
      const cut = gw.logs.filter((l) => l.includes('fleet stream cut')).slice(cutsBefore);
      expect(cut).toHaveLength(CLIENTS);
      expect(JSON.parse(cut[0])).toMatchObject({ route: '/v1/maps', why: 'stalled' });
    } finally {
      for (const s of sockets) s.destroy();
    }
    // then a client that reads gets the whole search: it is as large as intended
    const one = await api.get(query).set('Accept', 'application/x-ndjson').expect(200);
    const lines = one.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const nodeLines = lines.filter((l) => l.type === 'node');
    expect(nodeLines).toHaveLength(SEARCH_NODES);
    expect(nodeLines[0].matches.map((m: any) => [m.pid, m.comm])).toEqual([[zoo.pid, 'zoo']]);
    expect(nodeLines[0].matches[0].vmas.length).toBeGreaterThan(ZOO_VMAS);
    expect(lines.at(-1)).toMatchObject({ type: 'summary', responded: SEARCH_NODES });
    const perClient = Buffer.byteLength(one.text);
    // the bytes alone, buffered for 20 clients, pass the bound (as strings: ~2.4 GiB measured)
    expect(perClient * CLIENTS).toBeGreaterThan(RSS_BOUND_KIB * 1024);

    console.log(
      `gateway RSS: ${base} KiB before, at most ${max} KiB with ${CLIENTS} stalled NDJSON clients of ${(perClient / 1e6).toFixed(1)} MB each`,
    );
  }, 300_000);

  test('maxResponseBytes holds while streaming: the NDJSON search ends with a RESPONSE_TOO_LARGE line at the limit', async () => {
    const limit = 3_000_000;
    const limited = join(dir, 'limited.yaml');
    writeFileSync(
      limited,
      readFileSync(join(dir, 'cluster.yaml'), 'utf8').replace(
        'limits: { ratePerSecond: 100000, burst: 100000 }',
        `limits: { ratePerSecond: 100000, burst: 100000, maxResponseBytes: ${limit} }`,
      ),
    );
    const gw2 = await spawnGateway({ args: ['--config', limited] });
    try {
      const query = `/v1/maps?labels=pool=search&mapping=^&name=${encodeURIComponent(escapeRegex(zoo.dir))}`;
      const res = await request(gw2.url)
        .get(query)
        .set('Accept', 'application/x-ndjson')
        .expect(200);
      const lines = res.text.trim().split('\n');
      const last = JSON.parse(lines.at(-1)!);
      expect(last).toMatchObject({ type: 'error', code: 'RESPONSE_TOO_LARGE' });
      expect(lines.some((l) => l.startsWith('{"type":"node"'))).toBe(true);
      // every line before the error fits the limit
      expect(Buffer.byteLength(lines.slice(0, -1).join('\n')) + 1).toBeLessThanOrEqual(limit);
      // the JSON answer of the same search is a 413
      const json = await request(gw2.url).get(query).expect(413);
      expect(json.body).toMatchObject({ statusCode: 413 });
      expect(gw2.logs.some((l) => l.includes('"why":"too-large"'))).toBe(true);
    } finally {
      await gw2.stop();
    }
  }, 120_000);
});
