/**
 * Histograms end to end: the real gateway in front of a real agent (root) and an agent with
 * CAP_SYS_PTRACE but no CAP_SYS_ADMIN (setpriv), reading test/fixtures/layouts.c. Expected values
 * are computed here from the layout definition, from raw pagemap reads and from smaps — never by
 * the histogram library.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   response bodies are untyped JSON; the assertions are the type check. */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { startAgent, type AgentHandle } from './helpers/agents';
import { startGateway, type GatewayHandle } from './helpers/gateway';
import {
  ANON_4K,
  expectedPhysical,
  ordersFromPresence,
  PS,
  rawPagemapEntries,
  regionOrders,
  spawnLayouts,
  touchedCount,
  TOUCHED,
  type Region,
} from './helpers/layouts';
import { killAndReap } from './helpers/processes';

const hex = (n: bigint): string => '0x' + n.toString(16);

function smapsKb(text: string, start: bigint, field: string): number {
  const head = start.toString(16) + '-';
  const at = text.indexOf('\n' + head);
  const from = at < 0 ? (text.startsWith(head) ? 0 : -1) : at + 1;
  if (from < 0) throw new Error(`no smaps entry at ${head}`);
  const m = new RegExp(`\\n${field}:\\s+(\\d+) kB`).exec(text.slice(from, from + 4000));
  return m ? Number(m[1]) : 0;
}

const setpriv = spawnSync('setpriv', ['--version']).status === 0;

let layouts: ChildProcess;
let pid: number;
let regions: Record<string, Region | null>;
let agent: AgentHandle;
let unprivAgent: AgentHandle | undefined;
let nobodyLayouts: ChildProcess | undefined;
let nobodyPid = 0;
let nobodyFull = 0n;
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];
let gw: GatewayHandle;
let api: ReturnType<typeof request>;
let smaps: string;

const path = (): string => `/v1/nodes/root/processes/${pid}/histogram`;

beforeAll(async () => {
  const [l, a, up] = await Promise.all([
    spawnLayouts(),
    startAgent({ host: '127.0.0.6', nodeName: 'root' }),
    // An agent without any capability (nobody) reads nobody's processes, but not their PFNs.
    setpriv
      ? startAgent({ host: '127.0.0.7', nodeName: 'unpriv', wrapper: [...NOBODY] })
      : Promise.resolve(undefined),
  ]);
  layouts = l.child;
  if (setpriv) {
    const n = await spawnLayouts(NOBODY);
    nobodyLayouts = n.child;
    nobodyPid = n.pid;
    nobodyFull = n.regions.full!.start;
  }
  pid = l.pid;
  regions = l.regions;
  agent = a;
  unprivAgent = up;
  smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  gw = await startGateway([
    { name: 'root', address: agent.address },
    ...(up ? [{ name: 'unpriv', address: up.address }] : []),
  ]);
  api = request(gw.url);
}, 60000);

afterAll(async () => {
  await Promise.all([
    gw?.stop(),
    layouts && killAndReap(layouts),
    nobodyLayouts && killAndReap(nobodyLayouts),
    agent?.stop(),
    unprivAgent?.stop(),
  ]);
});

function vmaAt(body: any, start: bigint): any {
  const v = body.vmas.find((x: any) => x.start === hex(start));
  if (!v) throw new Error(`no VMA at ${hex(start)} in the answer`);
  return v;
}

describe('kind=order', () => {
  it('JSON: per-VMA orders indexed by order match the layout, correct and memhist', async () => {
    const res = await api.get(path()).query({ kind: 'order' }).expect(200);
    expect(res.body).toMatchObject({ node: 'root', kind: 'order', maxOrder: 9, compat: 'none' });
    expect(res.body.header.pid).toBe(pid);
    const mh = (await api.get(path()).query({ kind: 'order', compat: 'memhist' }).expect(200)).body;
    for (const name of [...ANON_4K, 'thp', 'file', 'memfd']) {
      const r = regions[name]!;
      const v = vmaAt(res.body, r.start);
      expect({ name, orders: v.orders }).toEqual({ name, orders: regionOrders(r, name) });
      expect(v.end).toBe(hex(r.start + BigInt(r.pages * PS)));
      expect(v.presentPages).toBe(touchedCount(name, r.pages));
      expect({ name, orders: vmaAt(mh, r.start).orders }).toEqual({
        name,
        orders: regionOrders(r, name, 9, true),
      });
    }
    expect(vmaAt(res.body, regions.full!.start).orders).toEqual([0, 0, 1, 1, 0, 1, 0, 0, 1, 0]);
    expect(vmaAt(mh, regions.full!.start).orders).toEqual([1, 1, 2, 2, 1, 2, 1, 1, 0, 0]);
    expect(vmaAt(res.body, regions.file!.start)).toMatchObject({ perms: 'r--p', fileBacked: true });
    // Sorted as mem_hist.py sorts: ascending by the reversed histogram.
    const rev = res.body.vmas.map((v: any) => [...v.orders].reverse());
    for (let i = 1; i < rev.length; i++) {
      const k = rev[i - 1].findIndex((n: number, j: number) => n !== rev[i][j]);
      if (k >= 0) expect(rev[i - 1][k] < rev[i][k]).toBe(true);
    }
    // Per-process totals: the sum over every VMA.
    const sum = new Array<number>(10).fill(0);
    for (const v of res.body.vmas) v.orders.forEach((n: number, i: number) => (sum[i] += n));
    expect(res.body.totals.orders).toEqual(sum);
    expect(res.body.totals.vmas).toBe(res.body.vmas.length);
  });

  it('maxOrder, omitFileBacked and omitUnfaulted', async () => {
    const r = regions.blocks!;
    const small = (await api.get(path()).query({ kind: 'order', maxOrder: 3 }).expect(200)).body;
    expect(vmaAt(small, r.start).orders).toEqual(regionOrders(r, 'blocks', 3));
    expect(small.totals.orders).toHaveLength(4);
    const all = (await api.get(path()).query({ kind: 'order' }).expect(200)).body;
    const some = (
      await api
        .get(path())
        .query({ kind: 'order', omitFileBacked: true, omitUnfaulted: 'true' })
        .expect(200)
    ).body;
    const starts = new Set(some.vmas.map((v: any) => v.start));
    expect(starts.has(hex(regions.file!.start))).toBe(false);
    expect(starts.has(hex(regions.memfd!.start))).toBe(true); // memfds count as anonymous
    expect(starts.has(hex(regions.reserve!.start))).toBe(false);
    expect(starts.has(hex(regions.full!.start))).toBe(true);
    expect(some.vmas.length).toBeLessThan(all.vmas.length);
    expect(some.totals).toEqual(all.totals); // totals count the omitted VMAs, as the script does
  });

  it('text: mem_hist.py lines', async () => {
    const res = await api.get(path()).query({ kind: 'order', format: 'text' }).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const json = (await api.get(path()).query({ kind: 'order' }).expect(200)).body;
    const lines = res.text.split('\n');
    const py = (a: number[]): string => '[' + a.join(', ') + ']';
    expect(lines[0]).toBe(
      'process ' +
        String(pid).padEnd(18) +
        ' ' +
        'layouts'.padEnd(25) +
        ' ' +
        py(json.totals.orders).padEnd(50),
    );
    const r = regions.full!;
    const end = r.start + BigInt(r.pages * PS);
    const want =
      '  ' +
      r.start.toString(16).padStart(16, '0') +
      '-' +
      end.toString(16).padStart(16, '0') +
      ' ' +
      '1200k'.padEnd(8) +
      ' rw-p ' +
      py(regionOrders(r, 'full')).padEnd(50) +
      ' ' +
      ''.padEnd(40);
    expect(lines).toContain(want);
    expect(lines.length).toBe(json.vmas.length + 2);
    // Accept: text/plain works too.
    const viaAccept = await api
      .get(path())
      .query({ kind: 'order' })
      .set('Accept', 'text/plain')
      .expect(200);
    expect(viaAccept.text.split('\n')[0]).toBe(lines[0]);
  });

  it('range (pmap -A) selects VMAs; clip=true cuts them to the range', async () => {
    const r = regions.alternate!;
    const whole = (
      await api
        .get(path())
        .query({ kind: 'order', range: `${hex(r.start)},${hex(r.start + 4096n)}` })
        .expect(200)
    ).body;
    expect(whole.vmas.map((v: any) => v.start)).toEqual([hex(r.start)]);
    expect(whole.range).toEqual({ low: hex(r.start), high: hex(r.start + 4096n), clip: false });
    expect(whole.vmas[0].orders).toEqual(regionOrders(r, 'alternate'));
    const s = regions.sparse!;
    const half = s.start + 16n * 4096n;
    const clipped = (
      await api
        .get(path())
        .query({ kind: 'order', range: `${hex(s.start)},${hex(half - 1n)}`, clip: true })
        .expect(200)
    ).body;
    expect(clipped.vmas).toHaveLength(1);
    expect(clipped.vmas[0]).toMatchObject({ start: hex(s.start), end: hex(half) });
    const present = Array.from({ length: 16 }, (_, i) => TOUCHED.sparse(i));
    expect(clipped.vmas[0].orders).toEqual(
      ordersFromPresence(present, Number(s.start / BigInt(PS)), 9),
    );
    expect(clipped.totals.presentPages).toBe(present.filter(Boolean).length);
  });

  // That it costs no per-page work is asserted in histogram-layouts; its speed is in bench/.
  it('a 64 GiB PROT_NONE reservation: one VMA, no present pages', async () => {
    const r = regions.reserve!;
    const res = await api
      .get(path())
      .query({ kind: 'order', range: hex(r.start) })
      .expect(200);
    expect(res.body.vmas).toHaveLength(1);
    expect(BigInt(res.body.vmas[0].end) - BigInt(res.body.vmas[0].start)).toBeGreaterThanOrEqual(
      64n << 30n,
    );
    expect(res.body.totals.presentPages).toBe(0);
  });
});

describe('kind=physical', () => {
  it('JSON bins per VMA agree with raw pagemap reads; text shows them per category', async () => {
    const res = await api.get(path()).query({ kind: 'physical' }).expect(200);
    for (const name of [...ANON_4K, 'file', 'memfd']) {
      const r = regions[name]!;
      const v = vmaAt(res.body, r.start);
      expect(v.orders).toBeUndefined();
      expect(v.bins).toHaveLength(20);
      const want = expectedPhysical(rawPagemapEntries(pid, r.start, r.pages));
      for (const b of v.bins) {
        expect({ name, key: b.key, count: b.count }).toEqual({
          name,
          key: b.key,
          count: want.get(b.key) ?? 0,
        });
        expect(b.bytes).toBe(b.count * b.pageSize);
        expect(b.category).toBe(b.key.startsWith('Anon') ? 'anon' : 'file');
      }
      const bytes = v.bins.reduce((t: number, b: any) => t + b.bytes, 0);
      expect(bytes).toBe(touchedCount(name, r.pages) * PS);
    }
    const text = (await api.get(path()).query({ kind: 'physical', format: 'text' }).expect(200))
      .text;
    const lines = text.split('\n');
    expect(lines[0]).toBe(`${pid}:\t${String(res.body.header.cmdline)}`);
    expect(lines[1]).toMatch(/^ +Address +Kbytes Cat +4K +8K .* +2M Mapped File$/);
    const memfdRow = lines.find((l) =>
      l.startsWith(regions.memfd!.start.toString(16).toUpperCase().padStart(16, '0')),
    );
    expect(memfdRow).toMatch(/^[0-9A-F]{16} +32 file .*\/memfd:layouts \(deleted\)$/);
  });

  it('without CAP_SYS_ADMIN: 412 naming CAP_SYS_ADMIN, never zeros (order still works)', async () => {
    if (!unprivAgent) return; // no setpriv here
    const p = `/v1/nodes/unpriv/processes/${nobodyPid}/histogram`;
    const res = await api.get(p).query({ kind: 'physical' }).expect(412);
    expect(res.body).toMatchObject({ statusCode: 412, node: 'unpriv' });
    expect(res.body.message).toContain('CAP_SYS_ADMIN');
    const order = await api.get(p).query({ kind: 'order' }).expect(200);
    expect(vmaAt(order.body, nobodyFull).orders).toEqual([0, 0, 1, 1, 0, 1, 0, 0, 1, 0]);
    // Another user's process: 403, not a silent empty answer.
    await api
      .get(`/v1/nodes/unpriv/processes/${pid}/histogram`)
      .query({ kind: 'order' })
      .expect(403);
    const node = (await api.get('/v1/nodes/unpriv').expect(200)).body;
    expect(node.capabilities.features).toContain('histogram:order');
    expect(node.capabilities.features).not.toContain('histogram:physical');
    const rootNode = (await api.get('/v1/nodes/root').expect(200)).body;
    expect(rootNode.capabilities.features).toContain('histogram:physical');
  });
});

describe('kind=pagesize', () => {
  it('bytes per page size agree with the layout and smaps; runs are illumos -s rows', async () => {
    const res = await api.get(path()).query({ kind: 'pagesize', runs: true }).expect(200);
    for (const name of [...ANON_4K, 'file', 'memfd']) {
      const r = regions[name]!;
      const v = vmaAt(res.body, r.start);
      expect({ name, bins: v.bins.map((b: any) => [b.key, b.bytes]) }).toEqual({
        name,
        bins: [
          ['4K', touchedCount(name, r.pages) * PS],
          ['2M', 0],
        ],
      });
    }
    const alt = vmaAt(res.body, regions.alternate!.start);
    expect(alt.runs).toHaveLength(64);
    expect(alt.runs.map((x: any) => x.present)).toEqual(
      Array.from({ length: 64 }, (_, i) => i % 2 === 0),
    );
    const thp = regions.thp!;
    const hugeKb = smapsKb(smaps, thp.start, 'AnonHugePages');
    const t = vmaAt(res.body, thp.start);
    expect(t.bins.find((b: any) => b.key === '2M').bytes).toBe(hugeKb * 1024);
    expect(t.bins.find((b: any) => b.key === '4K').bytes).toBe(1024 * PS - hugeKb * 1024);

    const text = (
      await api.get(path()).query({ kind: 'pagesize', runs: true, format: 'text' }).expect(200)
    ).text;
    const lines = text.split('\n');
    expect(lines[1]).toBe('         Address     Kbytes Pgsz Mode   Mapped File');
    const a = regions.alternate!.start;
    const row = (addr: bigint, kb: number, pgsz: string): string =>
      `${addr.toString(16).toUpperCase().padStart(16, '0')} ${String(kb).padStart(10)} ${pgsz.padStart(4)} rw---  [ anon ]`;
    expect(lines).toContain(row(a, 4, '4K'));
    expect(lines).toContain(row(a + 4096n, 4, '-'));
    expect(lines).toContain(row(regions.full!.start, 1200, '4K'));
    if (hugeKb === 4096) expect(lines).toContain(row(thp.start, 4096, '2M'));
    expect(lines[lines.length - 2]).toMatch(/^ +total Kb +\d+$/);

    const plain = (await api.get(path()).query({ kind: 'pagesize', format: 'text' }).expect(200))
      .text;
    expect(plain.split('\n')[1]).toMatch(/^ +Address +Kbytes +4K +2M Mode +Mapped File$/);
  });
});

describe('kind=numa', () => {
  it('pages per node from numa_maps; runs are illumos -L rows', async () => {
    const single = readFileSync('/sys/devices/system/node/online', 'utf8').trim() === '0';
    const res = await api.get(path()).query({ kind: 'numa', runs: true }).expect(200);
    for (const name of [...ANON_4K, 'memfd']) {
      const r = regions[name]!;
      const v = vmaAt(res.body, r.start);
      const n = touchedCount(name, r.pages);
      expect(v.bins.reduce((t: number, b: any) => t + b.count, 0)).toBe(n);
      expect(
        v.bins.every((b: any) => b.key === `N${String(b.numaNode)}` && b.bytes === b.count * PS),
      ).toBe(true);
      const present = v.runs.filter((x: any) => x.present);
      expect(present.reduce((t: number, x: any) => t + x.size, 0)).toBe(n * PS);
      expect(v.runs[0].start).toBe(v.start);
      expect(v.runs[v.runs.length - 1].end).toBe(v.end);
      if (single) expect(present.every((x: any) => x.numaNode === 0)).toBe(true);
    }
    const text = (
      await api.get(path()).query({ kind: 'numa', runs: true, format: 'text' }).expect(200)
    ).text;
    const lines = text.split('\n');
    expect(lines[1]).toBe('         Address     Kbytes Lgrp Mode   Mapped File');
    const full = regions.full!.start.toString(16).toUpperCase().padStart(16, '0');
    if (single) expect(lines).toContain(`${full}       1200    0 rw---  [ anon ]`);
    const alt = regions.alternate!.start + 4096n;
    expect(lines).toContain(
      `${alt.toString(16).toUpperCase().padStart(16, '0')}          4    - rw---  [ anon ]`,
    );
    const plain = (await api.get(path()).query({ kind: 'numa', format: 'text' }).expect(200)).text;
    expect(plain.split('\n')[1]).toMatch(/^ +Address +Kbytes +N0 .*Mode +Mapped File$/);
  });
});

describe('bad requests', () => {
  it('a missing or unknown kind -> 400 naming kind and the allowed values', async () => {
    for (const q of [{}, { kind: 'contiguity' }]) {
      const res = await api.get(path()).query(q).expect(400);
      expect(res.body).toMatchObject({
        parameter: 'kind',
        allowed: ['order', 'physical', 'pagesize', 'numa'],
      });
      expect(res.body.message).toMatch(/^kind must be one of order, physical, pagesize, numa/);
    }
  });

  it('options that do not fit the kind, a bad maxOrder or range -> 400 naming them', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ kind: 'physical', compat: 'memhist' }, 'compat'],
      [{ kind: 'order', runs: 'true' }, 'runs'],
      [{ kind: 'order', maxOrder: '31' }, 'maxOrder'],
      [{ kind: 'order', range: 'zz' }, 'range'],
      [{ kind: 'order', bogus: '1' }, 'bogus'],
    ];
    for (const [q, parameter] of cases) {
      const res = await api.get(path()).query(q);
      expect({ q, status: res.status, parameter: res.body.parameter }).toEqual({
        q,
        status: 400,
        parameter,
      });
    }
  });

  it('a process that does not exist -> 404', async () => {
    const res = await api
      .get('/v1/nodes/root/processes/2147483000/histogram')
      .query({ kind: 'order' })
      .expect(404);
    expect(res.body.message).toContain('2147483000');
  });
});
