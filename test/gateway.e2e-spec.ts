/**
 * Gateway e2e: the real gateway (spawned from dist, as in production) in front of three real
 * agents on 127.0.0.2-4 plus an unprivileged agent, reading the mapping zoo. Text answers are
 * compared byte for byte with /usr/bin/pmap run here on the same pid.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   response bodies are untyped JSON; the assertions are the type check. */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants as fsConstants,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startAgent, type AgentHandle } from './helpers/agents';
import { GATEWAY_MAIN, spawnGateway, startGateway, type GatewayHandle } from './helpers/gateway';
import {
  eventually,
  REPO_ROOT,
  sleep,
  spawnZoo,
  startAll,
  waitForState,
  type Zoo,
} from './helpers/processes';

const PMAP = '/usr/bin/pmap';

function pmap(args: string[]): string {
  return execFileSync(PMAP, args, { encoding: 'utf8' });
}

/**
 * PSS and the shared/private split of a file page depend on who else maps that page at the
 * instant of the read, and a local pmap run is itself one more process mapping libc: a libc page
 * only the zoo used is Private_Clean for the agent and Shared_Clean for pmap, and Pss* figures
 * are an observer apart. For -X/-XX comparisons those columns (named from the header of the same
 * view) are masked together with their leading padding, so a figure that gains or loses a digit
 * still compares equal; every other byte must match. (The fidelity e2e compares them too, read
 * while pmap itself is blocked, and the unit tests against captured pmap output.)
 */
function maskObserverDependent(text: string, columns: string[]): string {
  const pss = columns.flatMap((c, i) =>
    /^(Pss|SwapPss|Shared_Clean|Private_Clean)/.test(c) ? [i] : [],
  );
  if (pss.length === 0) return text;
  return text
    .split('\n')
    .map((line) => {
      const parts = line.split(/(\s+)/); // tokens at even indices, whitespace at odd ones
      const lead = parts[0] === '' ? 2 : 0; // a leading run of spaces
      const tokens = (parts.length - lead + 1) >> 1;
      // A totals row has no Address..Inode tokens: its first token is under column 5.
      const shift = /^\s+\d/.test(line) && !/^\s*[0-9a-f]+ [-r][-w][-x][ps-] /.test(line) ? 5 : 0;
      for (const col of pss) {
        const t = col - shift;
        if (t < 0 || t >= tokens) continue;
        const at = lead + 2 * t;
        // The figure and the padding in front of it: a Pss column is right-aligned, so a figure
        // that gains or loses a digit (or widens the column) moves only this padding.
        parts[at] = '#';
        if (at > 0) parts[at - 1] = ' ';
      }
      return parts.join('');
    })
    .join('\n');
}

function xColumns(view: string, pid: number): string[] {
  const header = pmap([`-${view}`, String(pid)]).split('\n')[1];
  return header.trim().split(/\s+/);
}

const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

describe('gateway (spawned) over three agents', () => {
  let agents: AgentHandle[] = [];
  let unpriv: AgentHandle | undefined;
  let gw: GatewayHandle;
  let zoo: Zoo;
  let dir: string;
  let api: ReturnType<typeof request>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pmapd-gw-'));
    const [a2, a3, a4, up, z] = await startAll([
      startAgent({ host: '127.0.0.2', nodeName: 'n2' }),
      startAgent({ host: '127.0.0.3', nodeName: 'n3' }),
      startAgent({ host: '127.0.0.4', nodeName: 'n4' }),
      setpriv
        ? startAgent({
            host: '127.0.0.5',
            nodeName: 'unpriv',
            wrapper: [
              setpriv,
              '--reuid=65534',
              '--regid=65534',
              '--clear-groups',
              '--inh-caps=-all',
            ],
          })
        : Promise.resolve(undefined),
      spawnZoo(),
    ]);
    agents = [a2, a3, a4];
    unpriv = up;
    zoo = z;
    const yaml = [
      'nodes:',
      `  - { name: n2, address: "${a2.address}", labels: { rack: r1, zone: a } }`,
      `  - { name: n3, address: "${a3.address}", labels: { rack: r2 } }`,
      `  - name: n4`,
      `    address: "${a4.address}"`,
      ...(up ? [`  - { name: unpriv, address: "${up.address}" }`] : []),
      `  - { name: ghost, address: "127.0.0.9:1" }`,
      'healthIntervalMs: 300',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'cluster.yaml'), yaml);
    gw = await spawnGateway({ args: ['--config', join(dir, 'cluster.yaml')] });
    api = request(gw.url);
  }, 60000);

  afterAll(async () => {
    await Promise.all([gw?.stop(), zoo?.stop(), unpriv?.stop(), ...agents.map((a) => a.stop())]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('GET /v1/nodes lists every configured node with health, info and labels', async () => {
    const res = await api.get('/v1/nodes').expect(200).expect('content-type', /json/);
    const byName = new Map<string, any>(res.body.nodes.map((n: any) => [n.name, n]));
    expect([...byName.keys()].sort()).toEqual(
      ['ghost', 'n2', 'n3', 'n4', ...(unpriv ? ['unpriv'] : [])].sort(),
    );
    const n2 = byName.get('n2');
    expect(n2).toMatchObject({
      address: agents[0].address,
      status: 'up',
      labels: { rack: 'r1', zone: 'a' },
      source: 'config',
      pageSize: 4096,
    });
    expect(typeof n2.latencyMs).toBe('number');
    expect(Date.parse(n2.lastSeen)).toBeGreaterThan(Date.now() - 60000);
    expect(n2.arch).toBe(process.arch === 'x64' ? 'x86_64' : n2.arch);
    expect(n2.kernel).toBe(execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
    expect(n2.capabilities.features).toEqual(expect.arrayContaining(['maps', 'smaps']));
    expect(Array.isArray(n2.veNodes)).toBe(true);
    const ghost = byName.get('ghost');
    expect(ghost.status).toBe('down');
    expect(ghost.lastSeen).toBeNull();
    expect(ghost.error).toEqual(expect.any(String));
  });

  test('GET /v1/nodes/{node}: one node; unknown node 404 naming the known ones', async () => {
    const res = await api.get('/v1/nodes/n3').expect(200);
    expect(res.body).toMatchObject({ name: 'n3', status: 'up', labels: { rack: 'r2' } });
    const nf = await api.get('/v1/nodes/nope').expect(404).expect('content-type', /json/);
    expect(nf.body).toMatchObject({ statusCode: 404, error: 'Not Found', parameter: 'node' });
    expect(nf.body.message).toContain("'nope'");
    expect(nf.body.allowed).toEqual(expect.arrayContaining(['n2', 'n3', 'n4']));
    await api.get('/v1/nodes/nope/processes/1/maps').expect(404);
  });

  test('processes: find the zoo by name, sorted and limited; ps-like text', async () => {
    const res = await api.get('/v1/nodes/n2/processes').query({ name: '/zoo( |$)' }).expect(200);
    const zp = res.body.processes.find((p: any) => p.pid === zoo.pid);
    expect(zp).toBeDefined();
    expect(zp.user).toBe('root');
    expect(typeof zp.rss).toBe('number');
    expect(zp.rss).toBeGreaterThan(32 * 1024 * 1024); // anon64's touched half
    expect(typeof zp.pss).toBe('number');
    expect(res.body.node).toBe('n2');
    expect(
      res.body.processes.every((p: any) => /zoo( |$)/.test(p.cmdline) || /zoo/.test(p.comm)),
    ).toBe(true);

    const sorted = await api
      .get('/v1/nodes/n3/processes')
      .query({ sort: 'rss', limit: 3 })
      .expect(200);
    expect(sorted.body.processes).toHaveLength(3);
    const rss = sorted.body.processes.map((p: any) => Number(p.rss));
    expect([...rss].sort((a, b) => b - a)).toEqual(rss);

    const byUser = await api
      .get('/v1/nodes/n4/processes')
      .query({ user: 'root', limit: 5 })
      .expect(200);
    expect(byUser.body.processes.every((p: any) => p.user === 'root')).toBe(true);

    const text = await api
      .get('/v1/nodes/n2/processes')
      .query({ name: '/zoo( |$)' })
      .set('Accept', 'text/plain')
      .expect(200)
      .expect('content-type', /text\/plain/);
    const lines = text.text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\s+PID USER\s+RSS\s+PSS\s+SWAP COMMAND$/);
    const row = lines.find((l) => l.trimStart().startsWith(`${zoo.pid} `));
    expect(row).toBeDefined();
    expect(row!).toContain(String(Math.floor(zp.rss / 1024)));
    expect(row!).toContain(`${zoo.dir}`);

    const bad = await api.get('/v1/nodes/n2/processes').query({ sort: 'size' }).expect(400);
    expect(bad.body).toMatchObject({ parameter: 'sort', allowed: ['pid', 'rss', 'pss', 'swap'] });
    const badRe = await api.get('/v1/nodes/n2/processes').query({ name: '(' }).expect(400);
    expect(badRe.body.parameter).toBe('name');
  });

  test('hugetlb (MAP_HUGETLB): anonymous 2 MiB pages in the map and in the page-size and order histograms', async () => {
    // test/global-setup.ts reserves hugetlb pages whenever the sysctl is writable (root)
    let writable = true;
    try {
      accessSync('/proc/sys/vm/nr_hugepages', fsConstants.W_OK);
    } catch {
      writable = false;
    }
    if (zoo.regions.hugetlb === '(nil)') {
      expect(writable).toBe(false); // only skipped where no pool could be reserved
      return;
    }
    const start = zoo.regions.hugetlb;
    const map = (
      await api.get(`/v1/nodes/n2/processes/${zoo.pid}/maps`).query({ range: start, view: 'XX' })
    ).body;
    expect(map.vmas).toHaveLength(1);
    const v = map.vmas[0];
    // anonymous memory on the kernel's internal hugetlbfs file: not a "deleted file"
    expect(v).toMatchObject({
      start,
      name: '/anon_hugepage (deleted)',
      kind: 'anon',
      size: 4 << 20,
    });
    expect(v.fields).toMatchObject({
      KernelPageSize: 2 << 20,
      MMUPageSize: 2 << 20,
      Private_Hugetlb: 4 << 20,
      Rss: 0, // hugetlb pages are not in Rss: the kernel counts them in *_Hugetlb
    });
    expect(v.vmFlags).toContain('ht');
    const hist = (kind: string): Promise<any> =>
      api
        .get(`/v1/nodes/n2/processes/${zoo.pid}/histogram`)
        .query({ kind, range: start })
        .expect(200)
        .then((r) => r.body);
    const ps = await hist('pagesize');
    expect(ps.vmas[0].bins.map((b: any) => [b.key, b.count, b.bytes])).toEqual([
      ['2M', 2, 4 << 20],
    ]);
    const order = await hist('order');
    expect(order.vmas[0].presentPages).toBe(1024); // in base pages
    expect(order.vmas[0].orders[9]).toBe(2); // two whole 2 MiB blocks
  });

  test('map JSON: header, VMAs with "0x…" addresses, bytes, totals over the VMAs', async () => {
    const res = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ view: 'x' })
      .expect(200);
    const m = res.body;
    expect(m).toMatchObject({ node: 'n2', view: 'x', detail: 'smaps', range: null });
    expect(m.header.pid).toBe(zoo.pid);
    expect(m.header.startStack).toMatch(/^0x[0-9a-f]+$/);
    const anon = m.vmas.find((v: any) => v.start === zoo.regions.anon64);
    expect(anon).toBeDefined();
    expect(anon).toMatchObject({ perms: 'rwxp', size: 64 * 1024 * 1024, kind: 'anon', inode: '0' });
    expect(anon.end).toBe('0x' + (BigInt(zoo.regions.anon64) + 64n * 1024n * 1024n).toString(16));
    expect(anon.fields.Rss).toBeGreaterThanOrEqual(32 * 1024 * 1024);
    expect(anon.fields.Size).toBe(64 * 1024 * 1024);
    expect(anon.vmFlags).toEqual(expect.arrayContaining(['rd', 'wr', 'ex']));
    for (const v of m.vmas) {
      expect(v.start).toMatch(/^0x[0-9a-f]+$/);
      expect(v.offset).toMatch(/^0x[0-9a-f]+$/);
    }
    const sum = (k: string): number =>
      m.vmas.reduce((s: number, v: any) => s + (v.fields[k] ?? 0), 0);
    expect(m.totals.vmas).toBe(m.vmas.length);
    expect(m.totals.rss).toBe(sum('Rss'));
    expect(m.totals.pss).toBe(sum('Pss'));
    expect(m.totals.dirty).toBe(sum('Shared_Dirty') + sum('Private_Dirty'));
    expect(m.totals.size).toBe(m.vmas.reduce((s: number, v: any) => s + v.size, 0));
    // The -x footer in KiB equals the JSON totals in bytes.
    const footer = pmap(['-x', String(zoo.pid)])
      .trimEnd()
      .split('\n')
      .pop()!;
    const [kb, rss, dirty] = footer.replace('total kB', '').trim().split(/\s+/).map(Number);
    expect(m.totals.size).toBe(kb * 1024);
    expect(m.totals.rss).toBe(rss * 1024);
    expect(m.totals.dirty).toBe(dirty * 1024);

    const plain = await api.get(`/v1/nodes/n3/processes/${zoo.pid}/maps`).expect(200);
    expect(plain.body.detail).toBe('maps');
    expect(plain.body.vmas[0].fields).toBeUndefined();
    expect(plain.body.vmas.length).toBe(m.vmas.length);
  });

  const variants: [string, Record<string, string>, string[]][] = [
    ['default', {}, []],
    ['-x', { view: 'x' }, ['-x']],
    ['-X', { view: 'X' }, ['-X']],
    ['-XX', { view: 'XX' }, ['-XX']],
    ['-d', { view: 'd' }, ['-d']],
    ['-q', { quiet: 'true' }, ['-q']],
    ['-x -q', { view: 'x', quiet: 'true' }, ['-x', '-q']],
    ['-XX -q', { view: 'XX', quiet: '1' }, ['-XX', '-q']],
    ['-d -q', { view: 'd', quiet: 'true' }, ['-d', '-q']],
    ['-p', { showPath: 'true' }, ['-p']],
    ['-x -p', { view: 'x', showPath: 'true' }, ['-x', '-p']],
    ['-X -p', { view: 'X', showPath: 'true' }, ['-X', '-p']],
    ['-d -p', { view: 'd', showPath: 'true' }, ['-d', '-p']],
  ];
  test.each(variants)(
    'text pmap %s is byte-identical to /usr/bin/pmap',
    async (_name, q, flags) => {
      const view = flags.find((f) => f === '-X' || f === '-XX');
      const cols = view ? xColumns(view.slice(1), zoo.pid) : [];
      if (view) expect(cols).toEqual(expect.arrayContaining(['Address', 'Rss', 'Pss', 'Mapping']));
      const norm = (t: string): string => (view ? maskObserverDependent(t, cols) : t);
      // smaps figures (Referenced, a reclaimed file page's Rss) may move between the agent's read
      // and the local pmap run when the machine is busy: a renderer defect repeats every time, a
      // race does not, so up to three attempts.
      let remote = '';
      let local = '';
      for (let attempt = 0; attempt < 3; attempt++) {
        const res = await api
          .get(`/v1/nodes/n4/processes/${zoo.pid}/maps`)
          .query({ ...q, format: 'text' })
          .expect(200)
          .expect('content-type', /text\/plain/);
        remote = norm(res.text);
        local = norm(pmap([...flags, String(zoo.pid)]));
        if (remote === local) break;
      }
      expect(remote).toBe(local);
    },
  );

  test('kernelNames (pmap -k, newer than the local 4.0.2): kernel names instead of [ anon ]', async () => {
    const plain = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ format: 'text' })
      .expect(200);
    const k = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ format: 'text', kernelNames: 'true' })
      .expect(200);
    expect(plain.text).not.toContain('[heap]');
    expect(k.text).toContain('[heap]');
    expect(k.text.split('\n').length).toBe(plain.text.split('\n').length);
  });

  test('Accept: text/plain selects text; format=json wins over it', async () => {
    const res = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .set('Accept', 'text/plain')
      .expect(200);
    expect(res.text).toBe(pmap([String(zoo.pid)]));
    const json = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ format: 'json' })
      .set('Accept', 'text/plain')
      .expect(200)
      .expect('content-type', /json/);
    expect(json.body.header.pid).toBe(zoo.pid);
  });

  test('range queries: JSON whole VMAs, text equal to pmap -A (default, -d, -x -q)', async () => {
    const a = BigInt(zoo.regions.anon64);
    const one = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ range: (a + 0x1234n).toString(16) })
      .expect(200);
    expect(one.body.vmas.map((v: any) => v.start)).toEqual([zoo.regions.anon64]);
    expect(one.body.range).toEqual({
      low: '0x' + (a + 0x1234n).toString(16),
      high: '0x' + (a + 0x1234n).toString(16),
      clip: false,
    });

    const locked = BigInt(zoo.regions.locked);
    const lo = a < locked ? a : locked;
    const hi = a < locked ? locked : a;
    const span = `0x${lo.toString(16)},0x${hi.toString(16)}`;
    const two = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ range: span })
      .expect(200);
    const starts = two.body.vmas.map((v: any) => v.start);
    expect(starts).toContain(zoo.regions.anon64);
    expect(starts).toContain(zoo.regions.locked);

    for (const [q, flags] of [
      [{}, []],
      [{ view: 'd' }, ['-d']],
      [{ view: 'x', quiet: 'true' }, ['-x', '-q']],
    ] as [Record<string, string>, string[]][]) {
      const res = await api
        .get(`/v1/nodes/n3/processes/${zoo.pid}/maps`)
        .query({ ...q, range: span, format: 'text' })
        .expect(200);
      expect(res.text).toBe(pmap([...flags, '-A', span, String(zoo.pid)]));
    }

    const open = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ range: `,${lo.toString(16)}`, format: 'text' })
      .expect(200);
    expect(open.text).toBe(pmap(['-A', `,${lo.toString(16)}`, String(zoo.pid)]));
  });

  test('illumos clipping: rows clipped to the page-rounded range', async () => {
    const a = BigInt(zoo.regions.anon64);
    const low = a + 0x10123n;
    const high = a + 0x20fffn;
    const res = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ range: `${low.toString(16)},${high.toString(16)}`, clip: 'true' })
      .expect(200);
    expect(res.body.vmas).toHaveLength(1);
    expect(res.body.vmas[0].start).toBe('0x' + (a + 0x10000n).toString(16));
    expect(res.body.vmas[0].end).toBe('0x' + (a + 0x21000n).toString(16));
    expect(res.body.vmas[0].size).toBe(0x11000);

    const text = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ view: 'illumos', range: `${low.toString(16)},${high.toString(16)}`, format: 'text' })
      .expect(200);
    expect(text.text).toContain((a + 0x10000n).toString(16).toUpperCase());
    expect(text.text).not.toContain(a.toString(16).toUpperCase() + ' ');
  });

  test('bad pid, bad range, bad view, unknown parameter: 400 naming the parameter', async () => {
    const pid = await api.get('/v1/nodes/n2/processes/abc/maps').expect(400);
    expect(pid.body).toMatchObject({ statusCode: 400, error: 'Bad Request', parameter: 'pid' });
    expect(pid.body.allowed).toEqual(expect.stringContaining('decimal'));
    await api.get('/v1/nodes/n2/processes/0/maps').expect(400);
    await api.get('/v1/nodes/n2/processes/-5/maps').expect(400);
    await api.get('/v1/nodes/n2/processes/99999999999/maps').expect(400);

    const range = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ range: 'zz' })
      .expect(400);
    expect(range.body).toMatchObject({ parameter: 'range' });
    expect(range.body.message).toContain("'zz'");
    const inverted = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ range: '2000,1000' })
      .expect(400);
    expect(inverted.body.parameter).toBe('range');
    await api.get(`/v1/nodes/n2/processes/${zoo.pid}/maps`).query({ range: '1,2,3' }).expect(400);

    const view = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ view: 'xx' })
      .expect(400);
    expect(view.body).toMatchObject({
      statusCode: 400,
      parameter: 'view',
      allowed: ['default', 'x', 'X', 'XX', 'd', 'illumos'],
    });
    expect(view.body.message).toContain("'xx'");

    const unknown = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ veiw: 'x' })
      .expect(400);
    expect(unknown.body).toMatchObject({ parameter: 'veiw' });
    expect(unknown.body.allowed).toEqual(expect.arrayContaining(['view', 'range', 'quiet']));

    const bool = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ quiet: 'yes' })
      .expect(400);
    expect(bool.body).toMatchObject({ parameter: 'quiet', allowed: ['true', 'false', '1', '0'] });
    const timeout = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ timeout: '0' })
      .expect(400);
    expect(timeout.body.parameter).toBe('timeout');
    await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/maps`)
      .query({ timeout: '600001' })
      .expect(400);
    for (const res of [pid, range, view, unknown])
      expect(JSON.stringify(res.body)).not.toMatch(/\bat .*\.js:\d+/);
  });

  test('missing process 404', async () => {
    // Highest possible pid: never a live process here (pid_max is below 2^22).
    const res = await api.get('/v1/nodes/n2/processes/2147483647/maps').expect(404);
    expect(res.body).toMatchObject({ statusCode: 404, error: 'Not Found', node: 'n2' });
    expect(res.body.message).toContain('2147483647');
  });

  test('not permitted 403 from an unprivileged agent', async () => {
    if (!unpriv) throw new Error('setpriv (util-linux) is required for this test');
    const res = await api
      .get(`/v1/nodes/unpriv/processes/${zoo.pid}/maps`)
      .query({ view: 'x' })
      .expect(403);
    expect(res.body).toMatchObject({ statusCode: 403, error: 'Forbidden', node: 'unpriv' });
  });

  describe('an agent that never answers (SIGSTOPped)', () => {
    // Its own agent and gateway: stopping n2-n4 would turn them down in the shared gateway's
    // health checks and disturb the tests after this one.
    let frozen: AgentHandle | undefined;
    let frozenGw: GatewayHandle | undefined;

    afterEach(async () => {
      // A stopped process acts on nothing but SIGKILL: resume it first, whatever happened.
      frozen?.kill('SIGCONT');
      await Promise.all([frozenGw?.stop(), frozen?.stop()]);
      frozen = undefined;
      frozenGw = undefined;
    });

    test('deadline 504: the timeout passes, the body names the node and the timeout', async () => {
      frozen = await startAgent({ host: '127.0.0.6', nodeName: 'frozen' });
      frozenGw = await startGateway([{ name: 'frozen', address: frozen.address }]);
      const path = `/v1/nodes/frozen/processes/${zoo.pid}/maps`;
      // Running, it answers: the 504 below is the stop's doing.
      await request(frozenGw.url).get(path).query({ view: 'XX', timeout: 20000 }).expect(200);
      frozen.kill('SIGSTOP');
      let res: request.Response;
      try {
        await waitForState(frozen.pid, 'T');
        res = await request(frozenGw.url).get(path).query({ view: 'XX', timeout: 1500 });
      } finally {
        frozen.kill('SIGCONT');
      }
      expect(res.status).toBe(504);
      expect(res.body).toMatchObject({
        statusCode: 504,
        error: 'Gateway Timeout',
        node: 'frozen',
        message: "the agent of node 'frozen' did not answer within 1500 ms",
      });
      // Resumed, the same agent over the same channel answers again.
      await request(frozenGw.url).get(path).query({ view: 'XX', timeout: 20000 }).expect(200);
    });

    test('a client that goes away cancels the call to the agent', async () => {
      frozen = await startAgent({ host: '127.0.0.6', nodeName: 'frozen' });
      frozenGw = await startGateway([{ name: 'frozen', address: frozen.address }]);
      const gwUrl = frozenGw.url;
      const cancelled = async (): Promise<number> => {
        const text = (await request(gwUrl).get('/metrics').expect(200)).text;
        const m = /pmapd_gateway_agent_calls_cancelled_total\{node="frozen"\} (\d+)/.exec(text);
        return m ? Number(m[1]) : 0;
      };
      const path = `/v1/nodes/frozen/processes/${zoo.pid}/maps?view=XX&format=text&timeout=30000`;
      await request(gwUrl).get(path).expect(200);
      const before = await cancelled();
      // Stopped, the agent cannot finish the call: it is in flight for as long as the client
      // waits, so the wait before hanging up can be generous (it only has to let the gateway
      // start the call; longer on each attempt, for a busy machine).
      frozen.kill('SIGSTOP');
      let after = before;
      let attempts = 0;
      try {
        await waitForState(frozen.pid, 'T');
        for (const wait of [300, 1500, 5000]) {
          attempts++;
          const req = http.get(new URL(path, gwUrl));
          req.on('error', () => undefined);
          await sleep(wait);
          req.destroy();
          for (let i = 0; i < 100 && after === before; i++) {
            await sleep(50);
            after = await cancelled();
          }
          if (after !== before) break;
        }
      } finally {
        frozen.kill('SIGCONT');
      }
      // one cancelled call per client that hung up after the gateway had called the agent (an
      // earlier attempt's may be counted late, during a later one)
      expect(after - before).toBeGreaterThanOrEqual(1);
      expect(after - before).toBeLessThanOrEqual(attempts);
      // The gateway and the agent are fine afterwards.
      await request(gwUrl).get(path).expect(200);
    });
  });

  test('histogram: kind required (400 naming it), kind=order answers JSON', async () => {
    const res = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/histogram`)
      .query({ kind: 'order' })
      .expect(200);
    expect(res.body.header.pid).toBe(zoo.pid);
    expect(res.body.vmas[0].start).toMatch(/^0x[0-9a-f]+$/);
    const bad = await api
      .get(`/v1/nodes/n2/processes/${zoo.pid}/histogram`)
      .query({ kind: 'x' })
      .expect(400);
    expect(bad.body).toMatchObject({
      parameter: 'kind',
      allowed: ['order', 'physical', 'pagesize', 'numa'],
    });
  });

  test('/healthz, /readyz, /docs', async () => {
    expect((await api.get('/healthz').expect(200)).body).toEqual({ status: 'ok' });
    const ready = await api.get('/readyz').expect(200);
    expect(ready.body.nodesUp).toBeGreaterThanOrEqual(3);
    const docs = await api.get('/docs').expect(200);
    expect(docs.text).toMatch(/swagger/i);
  });

  test('/metrics: request counter by route template (no pids), agent up gauge', async () => {
    const res = await api.get('/metrics').expect(200);
    expect(res.text).toContain(
      'pmapd_gateway_http_requests_total{method="GET",route="/v1/nodes/:node/processes/:pid/maps",status="200"}',
    );
    expect(res.text).toMatch(
      /pmapd_gateway_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/nodes"/,
    );
    expect(res.text).toContain('pmapd_gateway_agent_up{node="n2"} 1');
    expect(res.text).toContain('pmapd_gateway_agent_up{node="ghost"} 0');
    expect(res.text).not.toContain(String(zoo.pid) + '"');
  });

  test('/openapi.json documents every route and parameter', async () => {
    const doc = (await api.get('/openapi.json').expect(200)).body;
    const expected: Record<string, string[]> = {
      '/v1/nodes': [],
      '/v1/nodes/{node}': ['node'],
      '/v1/nodes/{node}/processes': [
        'node',
        'name',
        'user',
        'cgroup',
        've',
        'sort',
        'limit',
        'kernelThreads',
        'format',
        'timeout',
      ],
      '/v1/nodes/{node}/processes/{pid}/maps': [
        'node',
        'pid',
        'view',
        'range',
        'clip',
        'showPath',
        'kernelNames',
        'quiet',
        've',
        'side',
        'format',
        'timeout',
      ],
      '/v1/nodes/{node}/processes/{pid}/histogram': [
        'node',
        'pid',
        'kind',
        'range',
        'clip',
        'omitFileBacked',
        'omitUnfaulted',
        'maxOrder',
        'compat',
        'runs',
        've',
        'format',
        'timeout',
      ],
      '/healthz': [],
      '/readyz': [],
      '/metrics': [],
    };
    for (const [path, params] of Object.entries(expected)) {
      const op = doc.paths[path]?.get;
      expect({ path, op: op !== undefined }).toEqual({ path, op: true });
      const documented = (op.parameters ?? []) as any[];
      expect(documented.map((p) => p.name).sort()).toEqual([...params].sort());
      for (const p of documented) {
        expect({
          path,
          name: p.name,
          described: typeof p.description === 'string' && p.description.length > 10,
        }).toEqual({ path, name: p.name, described: true });
      }
    }
    // The checked-in snapshot (docs/openapi.json, npm run build then --export-openapi) is current.
    const snapshot = JSON.parse(readFileSync(join(REPO_ROOT, 'docs', 'openapi.json'), 'utf8'));
    expect(doc).toEqual(snapshot);
    const viewParam = doc.paths['/v1/nodes/{node}/processes/{pid}/maps'].get.parameters.find(
      (p: any) => p.name === 'view',
    );
    expect(viewParam.schema.enum).toEqual(['default', 'x', 'X', 'XX', 'd', 'illumos']);
  });

  test('agent down: SIGKILL one agent mid-test -> 503, node down, readyz still 200', async () => {
    const n4 = agents[2];
    n4.kill('SIGKILL');
    await n4.exited;
    const res = await api.get(`/v1/nodes/n4/processes/${zoo.pid}/maps`).expect(503);
    expect(res.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable', node: 'n4' });
    expect(res.body.message).toContain(n4.address);
    await api.get('/v1/nodes/n4/processes').expect(503);
    const node = await api.get('/v1/nodes/n4').expect(200);
    expect(node.body.status).toBe('down');
    // The periodic health check agrees and the gauge follows.
    await eventually('the gauge to follow', async () =>
      (await api.get('/metrics')).text.includes('pmapd_gateway_agent_up{node="n4"} 0'),
    );
    expect((await api.get('/v1/nodes/n4').expect(200)).body.status).toBe('down');
    await api.get('/readyz').expect(200);
  });

  test('unknown route 404 JSON; no stack traces in any answer', async () => {
    const res = await api.get('/v2/whatever').expect(404).expect('content-type', /json/);
    expect(res.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    const enc = await api
      .get('/v1/nodes/%E0%A4%A')
      .expect((r) => expect(r.status).toBeLessThan(500));
    expect(enc.text).not.toMatch(/\.js:\d+/);
  });
});

describe('gateway: readiness, discovery and configuration', () => {
  test('/readyz 503 when no agent is reachable', async () => {
    const gw = await spawnGateway({
      args: ['--agent', '127.0.0.9:1', '--health-interval-ms', '200'],
    });
    try {
      const res = await request(gw.url).get('/readyz').expect(503);
      expect(res.body).toMatchObject({ status: 'not ready', nodesUp: 0, nodesTotal: 1 });
      const nodes = await request(gw.url).get('/v1/nodes').expect(200);
      expect(nodes.body.nodes).toEqual([
        expect.objectContaining({ name: 'local', status: 'down' }),
      ]);
      await request(gw.url).get('/v1/nodes/local/processes').expect(503);
    } finally {
      await gw.stop();
    }
  });

  test('DNS discovery: localhost resolves to an agent on 127.0.0.1', async () => {
    const agent = await startAgent({ host: '127.0.0.1', nodeName: 'dns-node' });
    const dir = mkdtempSync(join(tmpdir(), 'pmapd-gw-dns-'));
    const file = join(dir, 'dns.yaml');
    writeFileSync(
      file,
      `discovery:\n  dns:\n    name: localhost\n    port: ${agent.port}\n    intervalMs: 500\n    labels: { pool: lo }\n`,
    );
    const gw = await spawnGateway({ env: { PMAPD_GATEWAY_CONFIG: file } });
    try {
      const res = await request(gw.url).get('/v1/nodes').expect(200);
      expect(res.body.nodes).toEqual([
        expect.objectContaining({
          name: '127.0.0.1',
          address: `127.0.0.1:${agent.port}`,
          source: 'dns',
          status: 'up',
          labels: { pool: 'lo', discovery: 'dns' },
        }),
      ]);
      const procs = await request(gw.url)
        .get('/v1/nodes/127.0.0.1/processes')
        .query({ name: 'main\\.js', limit: 50 })
        .expect(200);
      expect(procs.body.processes.some((p: any) => p.pid === agent.pid)).toBe(true);
    } finally {
      await gw.stop();
      await agent.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('invalid configuration: exit 2 naming every problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmapd-gw-bad-'));
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(
        file,
        'nodes:\n  - { name: a, address: nowhere }\n  - { address: "1.2.3.4:5" }\nbogus: 1\n',
      );
      const r = spawnSync(process.execPath, [GATEWAY_MAIN, '--config', file], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('address must be host:port');
      expect(r.stderr).toContain('config.nodes.1.name');
      expect(r.stderr).toContain('bogus');
      const env = spawnSync(process.execPath, [GATEWAY_MAIN], {
        encoding: 'utf8',
        env: {
          ...process.env,
          PMAPD_GATEWAY_LISTEN: 'nope',
          PMAPD_GATEWAY_REQUEST_TIMEOUT_MS: 'x',
        },
      });
      expect(env.status).toBe(2);
      expect(env.stderr).toContain('listen must be host:port');
      expect(env.stderr).toContain('request-timeout-ms');
      const flag = spawnSync(process.execPath, [GATEWAY_MAIN, '--bogus', '1'], {
        encoding: 'utf8',
      });
      expect(flag.status).toBe(2);
      expect(flag.stderr).toContain("unknown option '--bogus'");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
