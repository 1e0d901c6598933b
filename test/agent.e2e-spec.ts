/**
 * The agent end to end: a real agent process on 127.0.0.2, the mapping zoo (stopped), and the
 * kernel's own files and `pmap -XX` as oracles.
 */
import * as os from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Vma } from '@app/domain';
import {
  DetailLevel,
  headerFromProto,
  rollupFromProto,
  SmapsLayoutDecoder,
  GetMemoryMapRequest,
  ListProcessesRequest,
  type GetMemoryMapResponse,
  type PmapServiceClient,
} from '@app/proto';
import { shareAgentAndZoo, type AgentHandle } from './helpers/agents';
import {
  collect,
  healthCheck,
  listServicesByReflection,
  memoryMapRequest,
  unary,
} from './helpers/grpc';
import { oracleParse, oracleRollup, pmapXX, readProc, type OracleVma } from './helpers/proc-text';
import { REPO_ROOT, type Zoo } from './helpers/processes';

jest.setTimeout(60000);

let agent: AgentHandle;
let zoo: Zoo;

shareAgentAndZoo({ host: '127.0.0.2', nodeName: 'e2e-a' }, (s) => ({ agent, zoo } = s));

async function getMap(
  client: PmapServiceClient,
  req: Partial<GetMemoryMapRequest>,
): Promise<{ messages: GetMemoryMapResponse[]; vmas: Vma[] }> {
  const messages = await collect(client.getMemoryMap(memoryMapRequest(req)));
  // The compact wire: each chunk's new smaps layouts, then its VMAs against them.
  const wire = new SmapsLayoutDecoder();
  const vmas: Vma[] = [];
  for (const m of messages) {
    wire.add(m);
    for (const v of m.vmas) vmas.push(wire.toDomain(v));
  }
  return { messages, vmas };
}

function addr(hex: string): bigint {
  return BigInt(hex);
}

function containing(vmas: Vma[], a: bigint): Vma {
  const v = vmas.find((x) => x.start <= a && a < x.end);
  if (!v) throw new Error(`no VMA contains 0x${a.toString(16)}`);
  return v;
}

function sameHeaderFields(v: Vma, o: OracleVma): void {
  expect({
    start: v.start,
    end: v.end,
    perms: v.perms,
    offset: v.offset,
    devMajor: v.devMajor,
    devMinor: v.devMinor,
    inode: v.inode,
    name: v.name,
  }).toEqual({
    start: o.start,
    end: o.end,
    perms: o.perms,
    offset: o.offset,
    devMajor: o.devMajor,
    devMinor: o.devMinor,
    inode: o.inode,
    name: o.name,
  });
}

/** "index:field" for every smaps figure that differs between two reads of the kernel file. */
function movingFields(before: OracleVma[], after: OracleVma[]): Set<string> {
  const moving = new Set<string>();
  after.forEach((a, i) => {
    const b = before[i];
    for (const f of a.fields) {
      const old = b?.start === a.start ? b.fields.find((x) => x.name === f.name) : undefined;
      if (old?.value !== f.value) moving.add(`${i}:${f.name}`);
    }
  });
  return moving;
}

/**
 * Reads the agent's map between two reads of the kernel file. When the two kernel reads agree the
 * comparison is exact. On a busy machine they rarely do: PSS and the shared/private split of
 * library pages move whenever any process maps or unmaps libc. A figure that differs between the
 * two kernel reads is racing and is returned in `moving`; every other figure must match, and the
 * read is retried (up to 6 times) until it does, so a change that came and went around the
 * agent's read cannot fail the test either.
 */
async function sandwichedMap(
  detail: DetailLevel,
): Promise<{ vmas: Vma[]; oracle: OracleVma[]; moving: Set<string> }> {
  const file = detail === DetailLevel.DETAIL_LEVEL_SMAPS ? 'smaps' : 'maps';
  for (let attempt = 0; ; attempt++) {
    const before = readProc(zoo.pid, file);
    const { vmas } = await getMap(agent.client, { pid: zoo.pid, detail });
    const after = readProc(zoo.pid, file);
    const oracle = oracleParse(after);
    if (before === after) return { vmas, oracle, moving: new Set() };
    const moving = movingFields(oracleParse(before), oracle);
    const settled = vmas.every((v, i) =>
      (v.fields ?? []).every(
        (f) =>
          moving.has(`${i}:${f.name}`) ||
          oracle[i]?.fields.find((x) => x.name === f.name)?.value === f.value,
      ),
    );
    if (settled || attempt >= 5) return { vmas, oracle, moving };
  }
}

describe('GetNodeInfo', () => {
  it('describes the node and what the agent can read', async () => {
    const res = await unary(agent.client, agent.client.getNodeInfo, {});
    const node = res.node!;
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(node.nodeName).toBe('e2e-a');
    expect(node.hostname).toBe(os.hostname());
    expect(node.kernelRelease).toBe(os.release());
    expect(node.arch).toBe(os.machine());
    expect(node.pageSize).toBe(4096n);
    expect(node.agentVersion).toBe(pkg.version);
    expect(node.cpuCount).toBeGreaterThan(0);
    expect(node.memTotal).toBeGreaterThan(0n);
    expect(node.veNodes).toEqual([]);
    const caps = node.capabilities!;
    // Every RPC feature, then the histogram kinds this machine supports (known independently of
    // the agent: root reads PFNs, PAGEMAP_SCAN came with Linux 6.7, NUMA nodes are in sysfs).
    const [major, minor] = os.release().split('.').map(Number);
    const scan = major > 6 || (major === 6 && minor >= 7);
    expect(caps.pagemapScan).toBe(scan);
    expect(caps.pfnsReadable).toBe(process.getuid?.() === 0);
    const numa = existsSync('/sys/devices/system/node/node0');
    expect(caps.features).toEqual([
      'maps',
      'smaps',
      'processes',
      'watch',
      'histogram:order',
      ...(process.getuid?.() === 0 ? ['histogram:physical'] : []),
      ...(scan ? ['histogram:pagesize'] : []),
      ...(numa ? ['histogram:numa'] : []),
    ]);
    expect(caps.veLibrary).toBe(false);
    // docs/ve.md: without the library the note is "VE nodes not served: <reason>".
    expect(caps.notes.filter((n) => n.startsWith('VE nodes not served: '))).toEqual([
      expect.stringMatching(/^VE nodes not served: libveosinfo not found \(looked for \/.+\)$/),
    ]);
    expect(caps.readOtherUsers).toBe(true); // we run as root
  });
});

describe('health and reflection', () => {
  it('reports SERVING for the server and for pmap.v1.PmapService', async () => {
    await expect(healthCheck(agent.address, '')).resolves.toBe('SERVING');
    await expect(healthCheck(agent.address, 'pmap.v1.PmapService')).resolves.toBe('SERVING');
    await expect(healthCheck(agent.address, 'no.such.Service')).rejects.toMatchObject({ code: 5 });
  });

  it('lists pmap.v1.PmapService through server reflection', async () => {
    const services = await listServicesByReflection(agent.address);
    expect(services).toContain('pmap.v1.PmapService');
  });
});

describe('GetMemoryMap against /proc and pmap', () => {
  it('returns every VMA of /proc/PID/maps with identical header fields', async () => {
    const { vmas, oracle } = await sandwichedMap(DetailLevel.DETAIL_LEVEL_MAPS);
    expect(vmas.length).toBe(oracle.length);
    vmas.forEach((v, i) => sameHeaderFields(v, oracle[i]));
    for (const v of vmas) expect(v.fields).toBeUndefined();
  });

  it('classifies every kind of mapping in the zoo', async () => {
    const { vmas } = await getMap(agent.client, { pid: zoo.pid });
    const r = zoo.regions;
    const at = (hex: string): Vma => containing(vmas, addr(hex));

    expect(at(r.private)).toMatchObject({ kind: 'file', perms: 'rw-p' });
    expect(at(r.private).name).toBe(join(zoo.dir, 'private.dat'));
    expect(at(r.shared)).toMatchObject({ kind: 'file', perms: 'rw-s' });
    expect(at(r.deleted)).toMatchObject({
      kind: 'deleted_file',
      name: `${join(zoo.dir, 'deleted.dat')} (deleted)`,
    });
    expect(at(r.space)).toMatchObject({ kind: 'file', name: join(zoo.dir, 'with space.dat') });
    expect(at(r.memfd)).toMatchObject({ kind: 'memfd', name: '/memfd:zoo_memfd (deleted)' });
    const shm = at(r.shm);
    expect(shm.kind).toBe('sysv_shm');
    expect(shm.shmId).toBe(BigInt(r.shmid));
    expect(shm.perms).toBe('rw-s');
    if (r.named_ok) {
      expect(at(r.named)).toMatchObject({ kind: 'named_anon', name: '[anon:zoo_named]' });
    } else {
      // The kernel lacks CONFIG_ANON_VMA_NAME: prctl failed, so it is plain anonymous memory.
      expect(at(r.named)).toMatchObject({ kind: 'anon', name: '' });
    }
    expect(at(r.anon64)).toMatchObject({ kind: 'anon', name: '', perms: 'rwxp' });
    expect(at(r.anon64).end - at(r.anon64).start).toBe(64n << 20n);
    expect(at(r.huge)).toMatchObject({ kind: 'anon', start: addr(r.huge) });
    expect(at(r.heap)).toMatchObject({ kind: 'heap', name: '[heap]' });
    const stack = vmas.filter((v) => v.kind === 'stack');
    expect(stack).toHaveLength(1);
    expect(stack[0].name).toBe('[stack]');
    expect(vmas.find((v) => v.name === '[vdso]')?.kind).toBe('vdso');
    expect(vmas.find((v) => v.name === '[vvar]')?.kind).toBe('vvar');
    expect(vmas.find((v) => v.name === '[vsyscall]')?.kind).toBe('vsyscall');
    // Without thread_stacks the threads' stacks are ordinary anonymous memory.
    expect(vmas.filter((v) => v.kind === 'thread_stack')).toHaveLength(0);
  });

  it('finds the three threads stacks with thread_stacks=true', async () => {
    const { vmas } = await getMap(agent.client, { pid: zoo.pid, threadStacks: true });
    const stacks = vmas.filter((v) => v.kind === 'thread_stack');
    expect(stacks.map((v) => v.threadId).sort()).toEqual([...zoo.regions.threads].sort());
    for (const s of stacks) {
      expect(s.name).toBe('');
      expect(s.perms).toBe('rw-p');
    }
  });

  it('returns every smaps field and VmFlags exactly as /proc/PID/smaps', async () => {
    const { vmas, oracle, moving } = await sandwichedMap(DetailLevel.DETAIL_LEVEL_SMAPS);
    expect(vmas.length).toBe(oracle.length);
    // A racing figure (see sandwichedMap) is masked on both sides; names, units and order are not.
    const steady = (i: number, fields: { name: string; value: bigint; kb: boolean }[]) =>
      fields.map((f) => ({ ...f, value: moving.has(`${i}:${f.name}`) ? -1n : f.value }));
    vmas.forEach((v, i) => {
      sameHeaderFields(v, oracle[i]);
      expect(steady(i, v.fields ?? [])).toEqual(steady(i, oracle[i].fields));
      expect(v.vmFlags).toBe(oracle[i].vmFlags);
    });
    // The zoo's own memory is never shared, so it never races: those VMAs are compared in full.
    for (const own of [zoo.regions.anon64, zoo.regions.private, zoo.regions.huge]) {
      const i = vmas.indexOf(containing(vmas, addr(own)));
      expect([...moving].filter((k) => k.startsWith(`${i}:`))).toEqual([]);
    }
    const huge = containing(vmas, addr(zoo.regions.huge));
    expect(huge.fields!.find((f) => f.name === 'AnonHugePages')!.value).toBeGreaterThan(0n);
    const locked = containing(vmas, addr(zoo.regions.locked));
    if (zoo.regions.mlocked) {
      expect(locked.fields!.find((f) => f.name === 'Locked')!.value).toBe(1024n);
    }
  });

  /*
   * pmap -XX is a second reader of the same smaps. For the zoo's private memory and its own files
   * every column must match exactly. Pages shared with other processes (libraries, the zoo binary,
   * [vdso]/[vvar]) change their Pss and their Shared/Private split whenever another process maps
   * them — pmap itself maps libc while it runs — so for those rows only the columns owned by the
   * zoo's own page tables (Size, page sizes, Rss, Anonymous, Swap, Locked, THPeligible) are
   * compared exactly.
   */
  it('matches every numeric column of pmap -XX', async () => {
    const { vmas } = await getMap(agent.client, {
      pid: zoo.pid,
      detail: DetailLevel.DETAIL_LEVEL_SMAPS,
    });
    const { columns, rows } = pmapXX(zoo.pid);
    expect(columns).toEqual(expect.arrayContaining(['Size', 'Rss', 'Pss', 'Locked']));
    expect(rows.length).toBe(vmas.length);
    const stable = new Set([
      'Size',
      'KernelPageSize',
      'MMUPageSize',
      'Rss',
      'Anonymous',
      'Swap',
      'Locked',
      'THPeligible',
    ]);
    let exactRows = 0;
    rows.forEach((row, i) => {
      const v = vmas[i];
      expect(v.start).toBe(row.address);
      expect(v.perms).toBe(row.perm);
      const own =
        v.inode === 0n
          ? !['vdso', 'vvar', 'vsyscall', 'other'].includes(v.kind)
          : v.name.startsWith(zoo.dir);
      if (own) exactRows++;
      for (const c of columns) {
        if (!own && !stable.has(c)) continue;
        const f = v.fields!.find((x) => x.name === c);
        expect({ vma: v.start.toString(16), column: c, value: f?.value }).toEqual({
          vma: v.start.toString(16),
          column: c,
          value: row.values.get(c),
        });
      }
    });
    expect(exactRows).toBeGreaterThan(10);
  });

  it('streams in batches: header only first, last flag, the total on the first and the last', async () => {
    const { messages, vmas } = await getMap(agent.client, { pid: zoo.pid, batchSize: 5 });
    const n = vmas.length;
    expect(messages.length).toBe(Math.ceil(n / 5));
    expect(messages.length).toBeGreaterThan(2);
    messages.forEach((m, i) => {
      expect(m.vmas.length).toBe(i < messages.length - 1 ? 5 : n - 5 * (messages.length - 1));
      expect(m.header !== undefined).toBe(i === 0);
      expect(m.last).toBe(i === messages.length - 1);
      expect(m.totalVmas).toBe(i === messages.length - 1 || i === 0 ? n : 0);
    });
    const h = headerFromProto(messages[0].header!);
    expect(h.pid).toBe(zoo.pid);
    expect(h.comm).toBe('zoo');
    expect(h.cmdline).toBe(`${join(REPO_ROOT, 'test', '.build', 'zoo')} ${zoo.dir}`);
    expect(h.uid).toBe(0);
    expect(h.startStack).toBeGreaterThan(0n);
    // The default batch (1000) fits the zoo in one message.
    const one = await getMap(agent.client, { pid: zoo.pid });
    expect(one.messages).toHaveLength(1);
    expect(one.messages[0].last).toBe(true);
    expect(one.messages[0].totalVmas).toBe(n);
  });

  it('applies pmap -A ranges: a single address, low only, high only', async () => {
    const { vmas: all } = await getMap(agent.client, { pid: zoo.pid });
    const shmStart = addr(zoo.regions.shm);
    const single = await getMap(agent.client, {
      pid: zoo.pid,
      range: { low: shmStart + 0x10n, high: shmStart + 0x10n, clip: false },
    });
    expect(single.vmas.map((v) => v.start)).toEqual([shmStart]);

    const pivot = addr(zoo.regions.anon64);
    const low = await getMap(agent.client, { pid: zoo.pid, range: { low: pivot, clip: false } });
    expect(low.vmas).toEqual(all.filter((v) => v.end > pivot));
    expect(low.vmas[0].start).toBe(pivot);

    const high = await getMap(agent.client, { pid: zoo.pid, range: { high: pivot, clip: false } });
    expect(high.vmas).toEqual(all.filter((v) => v.start <= pivot));
    expect(high.vmas[high.vmas.length - 1].start).toBe(pivot);
    expect(low.vmas.length + high.vmas.length).toBe(all.length + 1);
  });
});

describe('ListProcesses', () => {
  const big = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);
  const rollupNames: [keyof ReturnType<typeof rollupFromProto>, string][] = [
    ['rss', 'Rss'],
    ['pss', 'Pss'],
    ['pssAnon', 'Pss_Anon'],
    ['pssFile', 'Pss_File'],
    ['pssShmem', 'Pss_Shmem'],
    ['sharedClean', 'Shared_Clean'],
    ['sharedDirty', 'Shared_Dirty'],
    ['privateClean', 'Private_Clean'],
    ['privateDirty', 'Private_Dirty'],
    ['referenced', 'Referenced'],
    ['anonymous', 'Anonymous'],
    ['anonHugePages', 'AnonHugePages'],
    ['swap', 'Swap'],
    ['swapPss', 'SwapPss'],
    ['locked', 'Locked'],
  ];

  it('finds the zoo by pid with rollup figures equal to smaps_rollup', async () => {
    // Pss of shared library pages moves when other processes come and go. A figure that differs
    // between the kernel reads before and after the call is racing and is not compared; every
    // other one must match, retried (up to 6 times) so a change that came and went cannot fail it.
    for (let attempt = 0; ; attempt++) {
      const before = oracleRollup(zoo.pid);
      const res = await unary(
        agent.client,
        agent.client.listProcesses,
        ListProcessesRequest.fromPartial({
          pids: [zoo.pid],
        }),
      );
      const oracle = oracleRollup(zoo.pid);
      expect(res.processes).toHaveLength(1);
      expect(res.totalMatched).toBe(1);
      const p = res.processes[0];
      expect(p).toMatchObject({
        pid: zoo.pid,
        comm: 'zoo',
        state: 'T',
        threads: 4,
        uid: 0,
        user: 'root',
      });
      const rollup = rollupFromProto(p.rollup!);
      const steady = rollupNames.filter(([, name]) => before.get(name) === oracle.get(name));
      // Rss and the zoo's own anonymous memory are never shared: they never race.
      expect(steady.map(([, name]) => name)).toEqual(
        expect.arrayContaining(['Rss', 'Anonymous', 'AnonHugePages']),
      );
      const got = steady.map(([key, name]) => ({ name, value: rollup[key] }));
      const want = steady.map(([, name]) => ({ name, value: oracle.get(name) }));
      if (attempt < 5 && JSON.stringify(got, big) !== JSON.stringify(want, big)) continue;
      expect(got).toEqual(want);
      break;
    }
  });

  it('finds the zoo by name regex, sorts and limits', async () => {
    const res = await unary(
      agent.client,
      agent.client.listProcesses,
      ListProcessesRequest.fromPartial({
        nameRegex: '^zoo$',
      }),
    );
    expect(res.processes.map((p) => p.pid)).toContain(zoo.pid);
    expect(res.totalMatched).toBe(res.processes.length);

    const sorted = await unary(
      agent.client,
      agent.client.listProcesses,
      ListProcessesRequest.fromPartial({
        sort: 1, // RSS
        limit: 3,
      }),
    );
    expect(sorted.processes).toHaveLength(3);
    expect(sorted.totalMatched).toBeGreaterThan(3);
    const rss = sorted.processes.map((p) => p.rollup?.rss ?? p.rss);
    expect([...rss].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0))).toEqual(rss);
  });
});
