/**
 * VE end to end through the product: a real agent wired to the libveosinfo stand-in (spawned with
 * VEOSINFO_STUB_DIR, --ve-library test/.build/libveosinfo.so, --ve-sysfs/--ve-socket-dir of a
 * fixture tree whose pids are real ve_exec stand-in pseudo processes), a second agent without the
 * library, and the real gateway in front of both. The seed's VE processes come back as JSON and as
 * VE pmap text byte-identical to test/fixtures/ve/pmap; the host map of a pseudo process links to
 * its VE process.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   response bodies are untyped JSON; the assertions are the type check. */
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent, type AgentHandle } from './helpers/agents';
import { startGateway, type GatewayHandle } from './helpers/gateway';
import { killAndReap, sleep } from './helpers/processes';
import { openStream, parseSse } from './helpers/sse';
import {
  makeVeStubTree,
  spawnPseudoProcess,
  stubLibraryPath,
  veRecords,
  veSeedPmap as seed,
  type StubTree,
} from './fixtures/ve/stub-tree';

interface Res {
  status: number;
  type: string;
  text: string;
  body: any;
}

async function get(url: string, accept = 'application/json'): Promise<Res> {
  const r = await fetch(url, { headers: { accept } });
  const text = await r.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: r.status, type: r.headers.get('content-type') ?? '', text, body };
}

describe('VE through agent and gateway (libveosinfo stand-in)', () => {
  let tree: StubTree;
  let p: ChildProcess;
  let dgemm: ChildProcess;
  let veAgent: AgentHandle;
  let plainAgent: AgentHandle;
  let gw: GatewayHandle;
  let base: string;

  beforeAll(async () => {
    const lib = stubLibraryPath();
    p = await spawnPseudoProcess(0, ['./p']);
    dgemm = await spawnPseudoProcess(0, ['./dgemm']);
    tree = makeVeStubTree(
      [
        { node: 0, osState: 0 },
        { node: 1, osState: 1 },
      ],
      [
        { node: 0, pid: p.pid!, records: veRecords('p') },
        { node: 0, pid: dgemm.pid!, records: veRecords('dgemm') },
      ],
    );
    [veAgent, plainAgent] = await Promise.all([
      startAgent({
        host: '127.0.0.31',
        nodeName: 've-host',
        extraArgs: [
          '--ve-library',
          lib,
          '--ve-sysfs',
          tree.sysfsRoot,
          '--ve-socket-dir',
          tree.socketDir,
        ],
        env: { VEOSINFO_STUB_DIR: tree.dir },
      }),
      startAgent({
        host: '127.0.0.32',
        nodeName: 'plain-host',
        env: { PMAPD_VE_LIBRARY: '/nonexistent/libveosinfo.so.3' },
      }),
    ]);
    gw = await startGateway(
      [
        { name: 've-host', address: veAgent.address },
        { name: 'plain-host', address: plainAgent.address },
      ],
      [],
      'nodeInfoMaxAgeMs: 1000\n',
    );
    base = `${gw.url}/v1/nodes`;
    // node info is fetched when a node comes up
    for (let i = 0; i < 100; i++) {
      const { body } = await get(base);
      if (body.nodes.every((n: any) => n.capabilities !== null)) break;
      await sleep(100);
    }
  }, 60000);

  afterAll(async () => {
    await gw?.stop();
    await Promise.all([veAgent?.stop(), plainAgent?.stop()]);
    await Promise.all([p, dgemm].filter(Boolean).map((c) => killAndReap(c)));
    tree?.cleanup();
  });

  it('lists the VE nodes of a VE host; a host without the library says why', async () => {
    const { status, body } = await get(base);
    expect(status).toBe(200);
    const ve = body.nodes.find((n: any) => n.name === 've-host');
    expect(ve.capabilities.veLibrary).toBe(true);
    expect(ve.capabilities.features).toContain('ve');
    expect(ve.veNodes).toEqual([
      { node: 0, state: 'online', osState: 0, processCount: 2 },
      { node: 1, state: 'offline', osState: 1, processCount: 0 },
    ]);
    const plain = body.nodes.find((n: any) => n.name === 'plain-host');
    expect(plain.capabilities.veLibrary).toBe(false);
    expect(plain.capabilities.features).not.toContain('ve');
    expect(plain.veNodes).toEqual([]);
    expect(plain.capabilities.notes).toContainEqual(
      expect.stringMatching(
        /^VE nodes not served: libveosinfo not found \(looked for \/nonexistent\/libveosinfo\.so\.3\)/,
      ),
    );
    // the agent logs it at startup too
    expect(plainAgent.logs.join('\n')).toMatch(/VE nodes not served: libveosinfo not found/);
  });

  it('lists the VE processes of VE node 0 with the VE program and VE memory', async () => {
    const { status, body } = await get(`${base}/ve-host/processes?ve=0`);
    expect(status).toBe(200);
    const byPid = new Map<number, any>(body.processes.map((x: any) => [x.pid, x]));
    expect([...byPid.keys()].sort((a, b) => a - b)).toEqual(
      [p.pid!, dgemm.pid!].sort((a, b) => a - b),
    );
    expect(byPid.get(p.pid!)).toMatchObject({
      comm: 'p',
      cmdline: './p',
      veNode: 0,
      vsize: 15020032 * 1024,
      rss: 15020032 * 1024,
    });
    // VEOS has no smaps_rollup: the rollup is the sum of the VE map
    expect(byPid.get(p.pid!).rollup).toMatchObject({ rss: 15020032 * 1024, swap: 0 });
    expect(byPid.get(dgemm.pid!)).toMatchObject({
      comm: 'dgemm',
      cmdline: './dgemm',
      veNode: 0,
      rss: 20066304 * 1024,
    });
    // the host filters apply to VE processes: name regex, sort, limit
    const one = await get(`${base}/ve-host/processes?ve=0&name=^dgemm$`);
    expect(one.body.processes.map((x: any) => x.pid)).toEqual([dgemm.pid]);
    const top = await get(`${base}/ve-host/processes?ve=0&sort=rss&limit=1`);
    expect(top.body.totalMatched).toBe(2);
    expect(top.body.processes.map((x: any) => x.pid)).toEqual([dgemm.pid]);
    expect((await get(`${base}/ve-host/processes?ve=1`)).body.processes).toEqual([]);
  });

  it('answers ./p and ./dgemm maps as JSON with every VEOS field and the not-provided ones', async () => {
    const pm = await get(`${base}/ve-host/processes/${p.pid}/maps?ve=0`);
    expect(pm.status).toBe(200);
    expect(pm.body.detail).toBe('smaps');
    expect(pm.body.header).toMatchObject({
      pid: p.pid,
      cmdline: './p',
      comm: 'p',
      veNode: 0,
      pageSize: 2097152,
    });
    expect(pm.body.vmas).toHaveLength(9);
    expect(pm.body.vmas[0]).toMatchObject({
      start: '0x600000000000',
      end: '0x600004000000',
      perms: 'r-xp',
      name: '/home/focht/Tests/samples/p',
      kind: 'file',
      veNode: 0,
    });
    expect(pm.body.vmas[2].kind).toBe('stack');
    expect(pm.body.totals.size).toBe(15020032 * 1024);
    expect(pm.body.links).toEqual({
      hostProcess: `/v1/nodes/ve-host/processes/${p.pid}/maps`,
      both: `/v1/nodes/ve-host/processes/${p.pid}/maps?side=both&ve=0`,
    });

    const dm = await get(`${base}/ve-host/processes/${dgemm.pid}/maps?ve=0&view=XX`);
    expect(dm.status).toBe(200);
    expect(dm.body.vmas).toHaveLength(17);
    const stack = dm.body.vmas[2];
    expect(stack).toMatchObject({ start: '0x60fb84000000', kind: 'stack', device: '00:00' });
    expect(stack.fields).toMatchObject({
      Size: 18743296 * 1024,
      Rss: 18743296 * 1024,
      Anonymous: 18743296 * 1024,
      KernelPageSize: 65536 * 1024,
      MMUPageSize: 65536 * 1024,
    });
    expect(stack.notProvided).toEqual([
      'Shared_Clean',
      'Shared_Dirty',
      'Private_Clean',
      'Private_Dirty',
      'Referenced',
      'Swap',
      'Locked',
    ]);
    expect(stack.vmFlags).toEqual(['wr', 'mr', 'mw', 'me', 'gd', 'ht']);
    expect(dm.body.vmas.filter((v: any) => v.kind === 'stack')).toHaveLength(9);
    expect(dm.body.totals.rss).toBe(20066304 * 1024);
    // the range filter applies at VE page granularity
    const ranged = await get(
      `${base}/ve-host/processes/${dgemm.pid}/maps?ve=0&range=7f3ec0000000,7f3ec0ffffff`,
    );
    expect(ranged.body.vmas.map((v: any) => v.start)).toEqual([
      '0x7f3ec0000000',
      '0x7f3ec0400000',
      '0x7f3ec0600000',
      '0x7f3ec0800000',
      '0x7f3ec0a00000',
    ]);
  });

  it('renders VE pmap text byte-identical to the seed outputs', async () => {
    const plain = await get(`${base}/ve-host/processes/${p.pid}/maps?ve=0`, 'text/plain');
    expect(plain.status).toBe(200);
    expect(plain.type).toMatch(/^text\/plain/);
    expect(plain.text).toBe(seed('ve-pmap-default.txt', 280646, p.pid!));
    const xx = await get(`${base}/ve-host/processes/${dgemm.pid}/maps?ve=0&view=XX&format=text`);
    expect(xx.status).toBe(200);
    expect(xx.text).toBe(seed('ve-pmap-XX.txt', 396729, dgemm.pid!));
    // views the VE pmap does not have
    const bad = await get(`${base}/ve-host/processes/${p.pid}/maps?ve=0&view=x&format=text`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ parameter: 'view', allowed: ['default', 'XX'] });
    expect(bad.body.message).toMatch(/for a VE process/);
  });

  it('links the host map of a pseudo process to its VE process, and shows both side by side', async () => {
    const procs = await get(`${base}/ve-host/processes?name=ve_exec`);
    const pseudo = procs.body.processes.find((x: any) => x.pid === p.pid);
    expect(pseudo).toMatchObject({ vePseudoOf: 0 });
    expect(pseudo.veNode).toBeUndefined();

    const host = await get(`${base}/ve-host/processes/${p.pid}/maps`);
    expect(host.status).toBe(200);
    expect(host.body.header.vePseudoOf).toBe(0);
    expect(host.body.header.cmdline).toMatch(/ve_exec .* -- \.\/p$/);
    const veRegions = host.body.vmas.filter((v: any) => v.kind === 've_memory');
    // the stand-in's VEMMR reservation; nothing outside VEMMR overlaps ./p's VE VMAs here
    expect(veRegions).toEqual([
      expect.objectContaining({
        start: '0x600000000000',
        end: '0x610000000000',
        perms: '---p',
        veNode: 0,
      }),
    ]);
    expect(host.body.vmas.filter((v: any) => v.kind !== 've_memory').length).toBeGreaterThan(0);
    expect(host.body.links).toEqual({
      veProcess: `/v1/nodes/ve-host/processes/${p.pid}/maps?ve=0`,
      both: `/v1/nodes/ve-host/processes/${p.pid}/maps?side=both`,
    });
    // following the link gives the VE process
    const followed = await get(gw.url + String(host.body.links.veProcess));
    expect(followed.body.header).toMatchObject({ pid: p.pid, veNode: 0, cmdline: './p' });

    const both = await get(gw.url + String(host.body.links.both));
    expect(both.status).toBe(200);
    expect(both.body.node).toBe('ve-host');
    expect(both.body.veNode).toBe(0);
    expect(both.body.host.header.vePseudoOf).toBe(0);
    expect(both.body.ve.header.veNode).toBe(0);
    expect(both.body.ve.vmas).toHaveLength(9);
    expect(both.body.host.vmas.length).toBe(host.body.vmas.length);

    // a process with no VE side
    const none = await get(`${base}/ve-host/processes/${veAgent.pid}/maps?side=both`);
    expect(none.status).toBe(404);
    expect(none.body).toMatchObject({ parameter: 'side' });
    expect(none.body.message).toMatch(/not a VE pseudo process/);
    const text = await get(`${base}/ve-host/processes/${p.pid}/maps?side=both`, 'text/plain');
    expect(text.status).toBe(400);
    // an ordinary host process has no links
    const plain = await get(`${base}/ve-host/processes/${veAgent.pid}/maps`);
    expect(plain.body.links).toBeUndefined();
    expect(plain.body.header.vePseudoOf).toBeUndefined();
  });

  it('answers VE histograms it can compute honestly and 501 for the others', async () => {
    const ps = await get(`${base}/ve-host/processes/${dgemm.pid}/histogram?ve=0&kind=pagesize`);
    expect(ps.status).toBe(200);
    const bins = Object.fromEntries(ps.body.totals.bins.map((b: any) => [b.key, b]));
    // 64M pages: the program, the stacks, the big anon; 2M pages: libraries and the small anon
    expect(bins['64M'].bytes).toBe((65536 * 2 + 18743296 + 65536 + 7 * 131072 + 196608) * 1024);
    expect(bins['2M'].bytes).toBe((4096 + 2048 * 4) * 1024);
    expect(bins['64M'].count).toBe(bins['64M'].bytes / (64 * 1024 * 1024));
    expect(ps.body.header.veNode).toBe(0);
    expect(ps.body.vmas).toHaveLength(17);

    const order = await get(`${base}/ve-host/processes/${p.pid}/histogram?ve=0&kind=order`);
    expect(order.status).toBe(200);
    // every VMA of ./p is wholly resident: present 2M VE pages = total size / 2M
    expect(order.body.totals.presentPages).toBe(15020032 / 2048);
    const orders: number[] = order.body.totals.orders;
    expect(orders.reduce((s, c, i) => s + c * 2 ** i, 0)).toBe(15020032 / 2048);

    for (const kind of ['physical', 'numa']) {
      const r = await get(`${base}/ve-host/processes/${p.pid}/histogram?ve=0&kind=${kind}`);
      expect(r.status).toBe(501);
      expect(r.body.message).toMatch(/not supported on VE/);
    }
  });

  it('refuses VE targets on an agent without the library, saying why', async () => {
    const r = await get(`${base}/plain-host/processes?ve=0`);
    expect(r.status).toBe(501);
    expect(r.body.message).toMatch(/VE targets are not available on this agent: .*libveosinfo/);
    const m = await get(`${base}/plain-host/processes/${p.pid}/maps?ve=0`);
    expect(m.status).toBe(501);
    // the host view still knows a pseudo process from its command line
    const host = await get(`${base}/plain-host/processes/${p.pid}/maps`);
    expect(host.body.header.vePseudoOf).toBe(0);
    expect(host.body.vmas.some((v: any) => v.kind === 've_memory')).toBe(true);
  });

  it('maps VE errors: unknown VE process 404, offline VE node 503', async () => {
    const nf = await get(`${base}/ve-host/processes/${veAgent.pid}/maps?ve=0`);
    expect(nf.status).toBe(404);
    expect(nf.body.message).toMatch(new RegExp(`no VE process ${veAgent.pid} on VE node 0`));
    const off = await get(`${base}/ve-host/processes/${p.pid}/maps?ve=1`);
    expect(off.status).toBe(503);
    expect(off.body.message).toMatch(/VE node 1 is offline/);
  });

  it('re-reads node info by age: a VE node that comes online shows up without a restart', async () => {
    const first = (await get(`${base}/ve-host`)).body;
    expect(first.veNodes[1]).toMatchObject({ node: 1, state: 'offline' });
    const readAt = Date.parse(first.infoReadAt);
    expect(readAt).toBeGreaterThan(0);
    writeFileSync(join(tree.sysfsRoot, 've1', 'os_state'), '0\n');
    writeFileSync(join(tree.socketDir, 'veos1.sock'), '');
    let now = first;
    for (let i = 0; i < 100 && now.veNodes[1].state !== 'online'; i++) {
      await sleep(100);
      now = (await get(`${base}/ve-host`)).body;
    }
    expect(now.veNodes[1]).toEqual({ node: 1, state: 'online', osState: 0, processCount: 0 });
    expect(Date.parse(now.infoReadAt)).toBeGreaterThan(readAt);
  });

  it('watches a VE process: its VE map, a change when VEOS shows a new VMA, exited when it is gone', async () => {
    const w = await spawnPseudoProcess(0, ['./watched']);
    const maps = join(tree.dir, 'node0', `pid${w.pid}.maps`);
    const records = veRecords('p');
    writeFileSync(maps, records);
    const vmaLines = records.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    const rssKb = vmaLines.reduce((s, l) => s + Number(l.split('\t')[7]), 0);
    // a VMA VEOS did not show before, 2 MiB resident
    const added =
      '610000000000\t610000200000\trw-p\t00000000\t0:0\t0\t2048\t2048\t2048\t2048\t0\t2048\t2048\trd wr mr mw me ac \t\n';
    try {
      const { res } = await openStream(
        `${base}/ve-host/processes/${w.pid}/maps/watch?ve=0&interval=100&detail=smaps`,
      );
      expect(res.statusCode).toBe(200);
      let text = '';
      let stage = 0;
      const t0 = Date.now();
      for await (const chunk of res) {
        text += (chunk as Buffer).toString();
        const evs = parseSse(text);
        if (stage === 0 && evs.length >= 2) {
          stage = 1;
          appendFileSync(maps, added);
        } else if (stage === 1 && evs.some((e) => e.event === 'change')) {
          stage = 2;
          rmSync(maps); // VEOS no longer knows the process
        }
        if (Date.now() - t0 > 15000) break;
      }
      const evs = parseSse(text);
      expect(evs[0]).toMatchObject({ event: 'snapshot', data: { pid: w.pid, veNode: 0 } });
      expect(evs[0].data.cmdline).toBe('./watched');
      expect(evs[0].data.vmas).toHaveLength(vmaLines.length);
      expect(evs[0].data.vmas[0].start).toBe('0x600000000000');
      // VEOS has no rollup: the sum of the VE map, not the host pseudo process's smaps_rollup
      expect(evs[0].data.rollup.rss).toBe(rssKb * 1024);
      expect(evs[1].event).toBe('heartbeat');
      const change = evs.find((e) => e.event === 'change')!;
      expect(change.data.added.map((v: any) => v.start)).toEqual(['0x610000000000']);
      expect(change.data).toMatchObject({ removed: [], changed: [] });
      expect(change.data.rollupDelta.rss).toBe(2048 * 1024);
      expect(evs[evs.length - 1].event).toBe('exited');
    } finally {
      rmSync(maps, { force: true });
      await killAndReap(w);
    }
  });
});
