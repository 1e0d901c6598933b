/**
 * Fleet e2e: the real gateway in front of six real agents on 127.0.0.2-7:
 *   n1, n2, n3 — healthy, reading this machine's /proc (labels rack=r1/r1/r2);
 *   slow       — reads a fixture proc root whose one process has a FIFO as smaps_rollup, with
 *                the stuck-read guard at its 10-minute maximum: the agent waits on that read
 *                (a stalled /proc), so it never answers in time (the guard at its default is
 *                tested in faults.e2e-spec.ts);
 *   dead       — a real agent, killed after the gateway saw it (connection refused);
 *   spare      — healthy, for the selector tests.
 * Processes are placed in real cgroup v2 groups named like Slurm's and Kubernetes' when the
 * kernel lets us (root with a writable cgroup2 mount); otherwise those tests are skipped with a
 * message.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   response bodies are untyped JSON; the assertions are the type check. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startAgent, type AgentHandle } from './helpers/agents';
import { spawnGateway, type GatewayHandle } from './helpers/gateway';
import { openStream, parseSse } from './helpers/sse';
import {
  eventually,
  fixtureBinary,
  killAndReap,
  sleep,
  spawnZoo,
  startAll,
  waitForState,
  type Zoo,
} from './helpers/processes';

/** The cgroup2 mount point, when we may create groups and move processes. */
function cgroup2Root(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n');
  for (const m of mounts) {
    const f = m.split(' ');
    if (f[2] !== 'cgroup2') continue;
    const probe = join(f[1], `pmapd-probe-${process.pid}`);
    try {
      mkdirSync(probe);
      rmdirSync(probe);
      return f[1];
    } catch {
      // read-only or not delegated: try the next
    }
  }
  return undefined;
}

/** Creates nested cgroups and moves `pid` into the leaf; returns the directories to remove. */
function placeInCgroup(root: string, path: string, pid: number): string[] {
  const parts = path.split('/');
  const made: string[] = [];
  let dir = root;
  for (const p of parts) {
    dir = join(dir, p);
    if (!existsSync(dir)) {
      mkdirSync(dir);
      made.push(dir);
    }
  }
  writeFileSync(join(dir, 'cgroup.procs'), String(pid));
  return made;
}

const SLURM_JOB = String(900000 + (process.pid % 99999));
const POD_UID = `6f1c7a52-0d7e-4b1e-9a55-${(process.pid % 1e6).toString().padStart(12, '0')}`;

describe('fleet queries over six agents (fan-out, partial results, selectors, cgroups, watch)', () => {
  const agents: AgentHandle[] = [];
  let slow: AgentHandle;
  let gw: GatewayHandle;
  let api: ReturnType<typeof request>;
  let zoo: Zoo;
  let dir: string;
  let podProc: ChildProcess | undefined;
  const cgroupDirs: string[] = [];
  const cgRoot = cgroup2Root();
  const cgBase = `pmapd-e2e-${process.pid}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pmapd-fleet-'));
    // The stalled /proc: one process (copied from a real one) whose smaps_rollup is a FIFO.
    const fixture = join(dir, 'proc');
    const pdir = join(fixture, '4242');
    mkdirSync(pdir, { recursive: true });
    for (const f of ['stat', 'status', 'cmdline', 'cgroup']) {
      writeFileSync(join(pdir, f), readFileSync(`/proc/self/${f}`));
    }
    writeFileSync(join(fixture, 'stat'), readFileSync('/proc/stat'));
    execFileSync('mkfifo', [join(pdir, 'smaps_rollup')]);

    const started = await startAll([
      startAgent({ host: '127.0.0.2', nodeName: 'n1' }),
      startAgent({ host: '127.0.0.3', nodeName: 'n2' }),
      startAgent({ host: '127.0.0.4', nodeName: 'n3' }),
      startAgent({
        host: '127.0.0.5',
        nodeName: 'slow',
        extraArgs: ['--proc-root', fixture, '--proc-read-timeout-ms', '600000'],
      }),
      startAgent({ host: '127.0.0.6', nodeName: 'dead' }),
      startAgent({ host: '127.0.0.7', nodeName: 'spare' }),
      spawnZoo(),
    ]);
    agents.push(...(started.slice(0, 6) as AgentHandle[]));
    slow = agents[3];
    zoo = started[6];
    const labels: Record<string, string> = {
      n1: '{ rack: r1, zone: a }',
      n2: '{ rack: r1, zone: b }',
      n3: '{ rack: r2 }',
      slow: '{ rack: r3 }',
      dead: '{ rack: r3 }',
      spare: '{ pool: spare }',
    };
    const yaml = [
      'nodes:',
      ...agents.map(
        (a) =>
          `  - { name: ${a.nodeName}, address: "${a.address}", labels: ${labels[a.nodeName]} }`,
      ),
      'healthIntervalMs: 1000',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'cluster.yaml'), yaml);
    gw = await spawnGateway({ args: ['--config', join(dir, 'cluster.yaml')] });
    api = request(gw.url);
    // The dead agent: seen up by the gateway at boot, then gone (a real crash).
    await agents[4].stop();

    if (cgRoot) {
      cgroupDirs.push(
        ...placeInCgroup(
          cgRoot,
          `${cgBase}/system.slice/slurmstepd.scope/job_${SLURM_JOB}/step_0`,
          zoo.pid,
        ),
      );
      podProc = spawn('sleep', ['120'], { stdio: 'ignore' });
      await new Promise((r) => podProc!.once('spawn', r));
      cgroupDirs.push(
        ...placeInCgroup(
          cgRoot,
          `${cgBase}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_UID.replace(/-/g, '_')}.slice/cri-containerd-0123abcd.scope`,
          podProc.pid!,
        ),
      );
    } else {
      console.warn('cgroup v2 is not writable here: the Slurm/Kubernetes cgroup tests are skipped');
    }
  }, 60000);

  afterAll(async () => {
    slow?.kill('SIGKILL'); // blocked in open() on the FIFO: only SIGKILL ends it
    if (podProc) await killAndReap(podProc);
    await Promise.all([gw?.stop(), zoo?.stop(), ...agents.map((a) => a.stop())]);
    // Leaf first; a group can go once its processes have exited.
    for (const d of cgroupDirs.reverse()) {
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(d);
          break;
        } catch {
          await sleep(20);
        }
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('audit: top-N by rss with per-node totals; the slow node hits its deadline while the others answer; the dead node fails UNAVAILABLE', async () => {
    // The slow agent never answers (its read blocks for 10 minutes): the answer comes at all only
    // because the gateway gives up on it at the deadline, with that node failed and the others in.
    const res = await api.get('/v1/audit').query({ top: 5, timeout: 15000 }).expect(200);
    const b = res.body;
    expect(b.queried).toBe(6);
    expect(b.responded).toBe(4);
    expect(b.timeoutMs).toBe(15000);
    const failed = Object.fromEntries(b.failed.map((f: any) => [f.node, f]));
    expect(Object.keys(failed).sort()).toEqual(['dead', 'slow']);
    expect(failed.slow.code).toBe('DEADLINE_EXCEEDED');
    expect(failed.slow.message).toContain('15000 ms');
    expect(failed.dead.code).toBe('UNAVAILABLE');
    expect(b.by).toBe('rss');
    expect(b.processes).toHaveLength(5);
    const values = b.processes.map((p: any) => p.value);
    expect(values).toEqual([...values].sort((x: number, y: number) => y - x));
    expect(b.nodes.map((n: any) => n.node)).toEqual(['n1', 'n2', 'n3', 'spare']);
    // Every node reads the same /proc: the zoo is there, and its rollup is what the kernel says.
    const zr = /^Rss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${zoo.pid}/smaps_rollup`, 'utf8'))!;
    const zooRss = Number(zr[1]) * 1024;
    const again = await api
      .get('/v1/audit')
      .query({ nodes: 'n1', name: '/zoo( |$)', by: 'rss' })
      .expect(200);
    const z = again.body.processes.find((p: any) => p.pid === zoo.pid);
    expect(z).toMatchObject({ node: 'n1', rss: zooRss, value: zooRss });
    const n1 = b.nodes.find((n: any) => n.node === 'n1');
    expect(n1.processes).toBeGreaterThan(3);
    expect(n1.rss).toBeGreaterThanOrEqual(zooRss);
    expect(b.totals.processes).toBe(b.nodes.reduce((s: number, n: any) => s + n.processes, 0));
  });

  test('audit by pss/swap/anonHuge/locked; top bounds', async () => {
    for (const by of ['pss', 'swap', 'anonHuge', 'locked']) {
      const res = await api.get('/v1/audit').query({ by, top: 3, nodes: 'n*' }).expect(200);
      expect(res.body.by).toBe(by);
      expect(res.body.queried).toBe(3);
      expect(res.body.processes.length).toBeLessThanOrEqual(3);
    }
    const bad = await api.get('/v1/audit').query({ by: 'vsz' }).expect(400);
    expect(bad.body).toMatchObject({
      parameter: 'by',
      allowed: ['rss', 'pss', 'swap', 'anonHuge', 'locked'],
    });
    await api.get('/v1/audit').query({ top: 0 }).expect(400);
  });

  test('node selectors: names, globs, labels; nothing matching is 404 naming the nodes', async () => {
    const byLabel = await api.get('/v1/audit').query({ labels: 'rack=r1', top: 1 }).expect(200);
    expect(byLabel.body.nodes.map((n: any) => n.node)).toEqual(['n1', 'n2']);
    const neq = await api.get('/v1/audit').query({ labels: 'rack=r1,zone!=a', top: 1 }).expect(200);
    expect(neq.body.nodes.map((n: any) => n.node)).toEqual(['n2']);
    const glob = await api.get('/v1/audit').query({ nodes: 'n?,sp*', top: 1 }).expect(200);
    expect(glob.body.nodes.map((n: any) => n.node)).toEqual(['n1', 'n2', 'n3', 'spare']);
    const arch = await api
      .get('/v1/audit')
      .query({ nodes: 'n1', arch: execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim() })
      .expect(200);
    expect(arch.body.queried).toBe(1);
    const none = await api.get('/v1/audit').query({ labels: 'rack=r9' }).expect(404);
    expect(none.body).toMatchObject({ statusCode: 404, parameter: 'labels' });
    expect(none.body.allowed).toEqual(expect.arrayContaining(['n1', 'slow', 'dead']));
    await api.get('/v1/maps').query({ nodes: 'zz*', mapping: 'x' }).expect(404);
    const bad = await api.get('/v1/audit').query({ labels: '=x' }).expect(400);
    expect(bad.body.parameter).toBe('labels');
    // A process selector matching nothing is an empty answer, not an error.
    const empty = await api
      .get('/v1/audit')
      .query({ nodes: 'n1', name: '^no-such-process-name$' })
      .expect(200);
    expect(empty.body).toMatchObject({ responded: 1, processes: [], totals: { processes: 0 } });
  });

  test('maps: a mapping regex finds the zoo still mapping its deleted file', async () => {
    const res = await api
      .get('/v1/maps')
      .query({ mapping: '\\(deleted\\)$', nodes: 'n1,n2', name: '/zoo( |$)' })
      .expect(200);
    const b = res.body;
    expect(b).toMatchObject({ queried: 2, responded: 2, failed: [], mapping: '\\(deleted\\)$' });
    const mine = b.matches.filter((m: any) => m.pid === zoo.pid);
    expect(mine.map((m: any) => m.node)).toEqual(['n1', 'n2']);
    const deleted = mine[0].vmas.find((v: any) => v.start === zoo.regions.deleted);
    expect(deleted).toMatchObject({ kind: 'deleted_file' });
    expect(deleted.name).toMatch(/ \(deleted\)$/);
    expect(mine[0].vmas.every((v: any) => / \(deleted\)$/.test(v.name))).toBe(true);
  });

  test('maps: a regex that could backtrack catastrophically is refused with 400 naming mapping', async () => {
    // a backreference: RE2 (linear time) cannot run it
    const bad = await api.get('/v1/maps').query({ mapping: '(a+)+\\1$', nodes: 'n1' }).expect(400);
    expect(bad.body).toMatchObject({ statusCode: 400, parameter: 'mapping' });
    expect(bad.body.message).toMatch(/mapping/);
    const syntax = await api.get('/v1/maps').query({ mapping: '([', nodes: 'n1' }).expect(400);
    expect(syntax.body).toMatchObject({ parameter: 'mapping' });
  });

  test('maps: an address range finds the process mapping it, VMAs whole (pmap -A)', async () => {
    const at = BigInt(zoo.regions.private) + 0x10n;
    const res = await api
      .get('/v1/maps')
      .query({ range: at.toString(16), nodes: 'n3', name: '/zoo( |$)' })
      .expect(200);
    const m = res.body.matches.find((x: any) => x.pid === zoo.pid);
    expect(m.vmas).toHaveLength(1);
    expect(m.vmas[0].start).toBe(zoo.regions.private);
    expect(BigInt(m.vmas[0].end)).toBeGreaterThan(at);
    expect(res.body.range).toEqual({ low: `0x${at.toString(16)}`, high: `0x${at.toString(16)}` });
    const miss = await api
      .get('/v1/maps')
      .query({ range: '1000,1fff', nodes: 'n3', name: '/zoo( |$)' })
      .expect(200);
    expect(miss.body.matches).toEqual([]);
    expect(miss.body.totals.scanned).toBeGreaterThanOrEqual(1);
    const bad = await api.get('/v1/maps').query({ range: 'zz' }).expect(400);
    expect(bad.body.parameter).toBe('range');
    const none = await api.get('/v1/maps').expect(400);
    expect(none.body.message).toBe('range or mapping is required');
  });

  test('maps as NDJSON: one line per node as it answers, progress, then a summary', async () => {
    const { res } = await openStream(
      `${gw.url}/v1/maps?mapping=zoo&name=${encodeURIComponent('/zoo( |$)')}&nodes=n1,n2,dead&timeout=30000`,
      { accept: 'application/x-ndjson' },
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    let text = '';
    for await (const chunk of res) text += (chunk as Buffer).toString();
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const types = lines.map((l) => l.type);
    expect(types.filter((t) => t === 'progress')).toHaveLength(3);
    expect(types[types.length - 1]).toBe('summary');
    expect(
      lines
        .filter((l) => l.type === 'node')
        .map((l) => l.node)
        .sort(),
    ).toEqual(['n1', 'n2']);
    expect(lines.find((l) => l.type === 'failed')).toMatchObject({
      node: 'dead',
      code: 'UNAVAILABLE',
    });
    const progress = lines.filter((l) => l.type === 'progress').map((l) => l.done);
    expect(progress).toEqual([1, 2, 3]);
    const summary = lines[lines.length - 1];
    expect(summary).toMatchObject({ queried: 3, responded: 2 });
    expect(summary.matched).toBeGreaterThanOrEqual(2);
  });

  const cg = cgRoot ? test : test.skip;

  cg('slurmJob and k8sPod selectors match real cgroup v2 groups by their path', async () => {
    const job = await api.get('/v1/audit').query({ nodes: 'n1', slurmJob: SLURM_JOB }).expect(200);
    expect(job.body.processes.map((p: any) => p.pid)).toEqual([zoo.pid]);
    expect(job.body.processes[0].cgroup).toMatch(new RegExp(`/job_${SLURM_JOB}/step_0$`));
    const other = await api
      .get('/v1/audit')
      .query({ nodes: 'n1', slurmJob: SLURM_JOB.slice(0, -1) })
      .expect(200);
    expect(other.body.processes).toEqual([]);
    for (const uid of [POD_UID, POD_UID.replace(/-/g, '_')]) {
      const pod = await api.get('/v1/audit').query({ nodes: 'n2', k8sPod: uid }).expect(200);
      expect(pod.body.processes.map((p: any) => p.pid)).toEqual([podProc!.pid]);
    }
    const maps = await api
      .get('/v1/maps')
      .query({ nodes: 'n1', slurmJob: SLURM_JOB, mapping: '\\(deleted\\)' })
      .expect(200);
    expect(maps.body.matches.map((m: any) => m.pid)).toEqual([zoo.pid]);
    await api.get('/v1/audit').query({ slurmJob: 'abc' }).expect(400);
  });

  cg(
    'GET /v1/jobs/slurm/{id}/memory sums the job by mapping kind, THP share, per node',
    async () => {
      const res = await api
        .get(`/v1/jobs/slurm/${SLURM_JOB}/memory`)
        .query({ nodes: 'n1,n3,slow,dead', timeout: 15000 })
        .expect(200);
      const b = res.body;
      // slow answers: its one process, whose smaps_rollup read would block, is not in the job, so
      // nothing of it is read (and its event loop is never held by a stuck read)
      expect(b).toMatchObject({ job: SLURM_JOB, queried: 4, responded: 3 });
      expect(b.failed).toEqual([expect.objectContaining({ node: 'dead', code: 'UNAVAILABLE' })]);
      expect(b.nodes.map((n: any) => n.node)).toEqual(['n1', 'n3']);
      expect(b.totals).toMatchObject({ processes: 2, nodes: 2 });
      // The zoo is stopped: its smaps are stable. Oracle: sum of Rss over /proc/PID/smaps.
      let rss = 0;
      let thp = 0;
      for (const line of readFileSync(`/proc/${zoo.pid}/smaps`, 'utf8').split('\n')) {
        const m = /^(Rss|AnonHugePages|ShmemPmdMapped|FilePmdMapped):\s+(\d+) kB$/.exec(line);
        if (!m) continue;
        if (m[1] === 'Rss') rss += Number(m[2]) * 1024;
        else thp += Number(m[2]) * 1024;
      }
      const n1 = b.nodes[0];
      expect(n1.processes).toHaveLength(1);
      expect(n1.processes[0]).toMatchObject({ pid: zoo.pid, rss, thp });
      expect(n1.totals.rss).toBe(rss);
      expect(b.totals.rss).toBe(2 * rss);
      expect(n1.totals.thpShare).toBeCloseTo(thp / rss, 3);
      expect(Object.keys(n1.byKind)).toEqual(expect.arrayContaining(['anon', 'file', 'stack']));
      const kindRss = Object.values(n1.byKind).reduce((s: number, k: any) => s + k.rss, 0);
      expect(kindRss).toBe(rss);
      const nobody = await api.get('/v1/jobs/slurm/1/memory').query({ nodes: 'n1' }).expect(200);
      expect(nobody.body).toMatchObject({ nodes: [], totals: { processes: 0 } });
      await api.get('/v1/jobs/slurm/x1/memory').expect(400);
    },
  );

  test('watch (SSE): snapshot, heartbeats, change with rollup deltas; exited ends the stream', async () => {
    // A process that maps and touches 48 MiB when told to (a line on its stdin), then lives on
    // until killed: the test tells it once the snapshot is in, so the growth is certainly a change.
    const proc = spawn(
      process.execPath,
      [
        '-e',
        "process.stdin.once('data', () => { globalThis.b = Buffer.alloc(48 << 20, 1); }); setInterval(() => {}, 1000);",
      ],
      { stdio: ['pipe', 'ignore', 'ignore'] },
    );
    // The change event by which the RSS has grown by more than 32 MiB since the snapshot: filling
    // 48 MiB may span samples, so the deltas are summed.
    const grown = (evs: ReturnType<typeof parseSse>) => {
      let sum = 0;
      return evs.find((e) => e.event === 'change' && (sum += e.data.rollupDelta.rss) > 32 << 20);
    };
    let text = '';
    let told = false;
    let killed = false;
    let stream: http.ClientRequest | undefined;
    try {
      await new Promise((r) => proc.once('spawn', r));
      const { res, req } = await openStream(
        `${gw.url}/v1/nodes/n1/processes/${proc.pid}/maps/watch?interval=200`,
      );
      stream = req;
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
      const giveUp = Date.now() + 40000; // only bounds the wait; the events are what is asserted
      for await (const chunk of res) {
        text += (chunk as Buffer).toString();
        const evs = parseSse(text);
        if (!told && evs.some((e) => e.event === 'snapshot')) {
          told = true;
          proc.stdin.write('grow\n');
        }
        if (grown(evs) && !killed) {
          killed = true;
          proc.kill('SIGKILL');
        }
        if (Date.now() > giveUp) break;
      }
    } finally {
      stream?.destroy();
      await killAndReap(proc);
    }
    const evs = parseSse(text);
    expect(evs[0]).toMatchObject({ id: '1', event: 'snapshot' });
    expect(evs[0].data.vmas.length).toBeGreaterThan(10);
    expect(evs[0].data.rollup.rss).toBeGreaterThan(0);
    expect(evs[0].data).toMatchObject({ node: 'n1', pid: proc.pid, seq: 1 });
    const ids = evs.map((e) => Number(e.id));
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    const change = grown(evs)!;
    expect(change).toBeDefined();
    // The new mapping shows up as added/changed VMAs in that event or an earlier one: a sample can
    // see the mapping before its pages are touched, and the RSS jump in the next.
    const mapped = evs.filter(
      (e) =>
        e.event === 'change' &&
        Number(e.id) <= Number(change.id) &&
        e.data.added.length + e.data.changed.length > 0,
    );
    expect(mapped.length).toBeGreaterThan(0);
    expect(evs[evs.length - 1].event).toBe('exited');
    expect(killed).toBe(true);
  });

  test('watch: heartbeats while nothing changes; the client leaving cancels the agent stream', async () => {
    // Statically linked and asleep: neither its map nor its PSS can change (it shares no library
    // pages), however busy the machine is.
    const idle = spawn(fixtureBinary('static-idle'), [], { stdio: 'ignore' });
    let text = '';
    let stream: http.ClientRequest | undefined;
    try {
      await new Promise((r) => idle.once('spawn', r));
      await waitForState(idle.pid!, 'S');
      const { res, req } = await openStream(
        `${gw.url}/v1/nodes/n2/processes/${idle.pid}/maps/watch?interval=100`,
      );
      stream = req;
      for await (const chunk of res) {
        text += (chunk as Buffer).toString();
        if (parseSse(text).length >= 4) break;
      }
    } finally {
      stream?.destroy(); // the client leaving: what the rest of the test is about
      await killAndReap(idle);
    }
    // a slow reader may get more than four events in its last chunk: the first four are the test
    const evs = parseSse(text).slice(0, 4);
    expect(evs.map((e) => e.event)).toEqual(['snapshot', 'heartbeat', 'heartbeat', 'heartbeat']);
    expect(evs.map((e) => e.data.seq)).toEqual([1, 2, 3, 4]);
    const cancelled = await eventually('the cancelled agent stream to be counted', async () => {
      const m = await api.get('/metrics').expect(200);
      const line = /pmapd_gateway_agent_calls_cancelled_total\{node="n2"\} (\d+)/.exec(m.text);
      return line && Number(line[1]) >= 1 ? Number(line[1]) : undefined;
    });
    expect(cancelled).toBeGreaterThanOrEqual(1);
  });

  test('watch: errors before the first event are JSON errors', async () => {
    const nf = await api.get('/v1/nodes/n1/processes/999999999/maps/watch').expect(404);
    expect(nf.body).toMatchObject({ statusCode: 404, node: 'n1' });
    const bad = await api
      .get(`/v1/nodes/n1/processes/${zoo.pid}/maps/watch?interval=20`)
      .expect(400);
    expect(bad.body.parameter).toBe('interval');
    const down = await api.get(`/v1/nodes/dead/processes/${zoo.pid}/maps/watch`).expect(503);
    expect(down.body.node).toBe('dead');
    await api
      .get(`/v1/nodes/n1/processes/${zoo.pid}/maps/watch?maxEvents=2`)
      .expect(200)
      .expect((r) => {
        const events = parseSse(r.text).map((e) => e.event);
        expect(events).toHaveLength(2);
        expect(events[0]).toBe('snapshot');
        expect(['heartbeat', 'change']).toContain(events[1]);
      });
  });
});
