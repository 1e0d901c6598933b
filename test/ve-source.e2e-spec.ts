import type { ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { PmapError, type Vma } from '@app/domain';
import { renderVePmap } from '@app/pmap-format';
import { isVeUnavailable, openVeSource, type VeSource } from '@app/ve';
import {
  makeVeStubTree,
  setStubDir,
  spawnPseudoProcess,
  stubLibraryPath,
  veRecords,
  veSeedPmap,
  veSeedText,
  type StubTree,
} from './fixtures/ve/stub-tree';
import { fixturePath } from './fixtures/paths';

/**
 * VeSource end to end over the libveosinfo stand-in: the real koffi binding, the real temp-file
 * protocol (binary struct ve_mapinfo records, unlink), real sysfs-shaped files and real host
 * pseudo processes spawned here. Checked against the seed's VE pmap output.
 */

interface DefaultRow {
  start: bigint;
  kb: bigint;
  mode: string;
  name: string;
}

function parseDefault(): DefaultRow[] {
  const lines = veSeedText('ve-pmap-default.txt').split('\n');
  return lines
    .slice(2)
    .filter((l) => /^[0-9a-f]{16} /.test(l))
    .map((l) => {
      const m = /^([0-9a-f]{16}) +(\d+)K (\S{5}) (.*)$/.exec(l)!;
      return { start: BigInt('0x' + m[1]), kb: BigInt(m[2]), mode: m[3], name: m[4] };
    });
}

interface XXRow {
  start: bigint;
  perm: string;
  offset: bigint;
  dev: string;
  inode: bigint;
  fields: bigint[];
  flags: string;
  mapping: string;
}

function parseXX(): { names: string[]; rows: XXRow[] } {
  const lines = veSeedText('ve-pmap-XX.txt').split('\n');
  const header = lines[2].trim().split(/\s+/);
  // "Address Perm Offset Device Inode <14 fields> VmFlagsMapping"
  const names = header.slice(5, 19);
  const rows = lines
    .slice(3)
    .filter((l) => /^[0-9a-f]+ /.test(l))
    .map((l) => {
      const t = l.trim().split(/\s+/);
      return {
        start: BigInt('0x' + t[0]),
        perm: t[1],
        offset: BigInt('0x' + t[2]),
        dev: t[3],
        inode: BigInt(t[4]),
        fields: t.slice(5, 19).map((x) => BigInt(x)),
        flags: t.slice(19, -1).join(' '),
        mapping: t[t.length - 1],
      };
    });
  return { names, rows };
}

function field(v: Vma, name: string): bigint | undefined {
  return v.fields?.find((f) => f.name === name)?.value;
}

async function expectPmapError(fn: () => unknown, code: string, re?: RegExp): Promise<void> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PmapError);
  expect((err as PmapError).code).toBe(code);
  if (re) expect((err as PmapError).message).toMatch(re);
}

describe('VeSource over libveosinfo (stand-in)', () => {
  let lib: string;
  let p: ChildProcess;
  let dgemm: ChildProcess;
  let quiet: ChildProcess;
  let tree: StubTree;
  let ve: VeSource;
  let jestThread: number;

  beforeAll(async () => {
    lib = stubLibraryPath();
    p = await spawnPseudoProcess(0, ['./p']);
    dgemm = await spawnPseudoProcess(0, ['./dgemm']);
    quiet = await spawnPseudoProcess(0, ['./quiet']);
    // a non-leader thread of this (multi-threaded) test process: folds to process.pid
    jestThread = readdirSync(`/proc/${process.pid}/task`)
      .map(Number)
      .find((t) => t !== process.pid)!;
    tree = makeVeStubTree(
      [
        { node: 0, osState: 0, extraTasks: [jestThread] },
        { node: 1, osState: 1 },
        { node: 2, osState: 0, socket: false },
      ],
      [
        { node: 0, pid: p.pid!, records: veRecords('p') },
        { node: 0, pid: dgemm.pid!, records: veRecords('dgemm') },
        { node: 0, pid: quiet.pid!, records: '' },
        { node: 0, pid: process.pid, errno: osConstants.errno.EACCES, listed: false },
      ],
    );
    setStubDir(tree.dir);
    const src = openVeSource({
      libraryPath: lib,
      sysfsRoot: tree.sysfsRoot,
      socketDir: tree.socketDir,
    });
    if (isVeUnavailable(src)) throw new Error(src.unavailable);
    ve = src;
  });

  afterAll(() => {
    ve?.close();
    for (const c of [p, dgemm, quiet]) c?.kill('SIGKILL');
    tree?.cleanup();
  });

  it('says why when there is no library or no VE device class', () => {
    const noLib = openVeSource({ libraryPath: '/nonexistent/libveosinfo.so.3' });
    expect(isVeUnavailable(noLib)).toBe(true);
    expect((noLib as { unavailable: string }).unavailable).toMatch(
      /libveosinfo not found.*\/nonexistent\/libveosinfo\.so\.3/,
    );
    const noSysfs = openVeSource({ libraryPath: lib, sysfsRoot: '/nonexistent/class/ve' });
    expect((noSysfs as { unavailable: string }).unavailable).toMatch(
      /no Vector Engine devices: \/nonexistent\/class\/ve/,
    );
    const notALib = openVeSource({
      libraryPath: fixturePath('ve', 'pmap', 've-pmap-XX.txt'),
      sysfsRoot: tree.sysfsRoot,
    });
    expect((notALib as { unavailable: string }).unavailable).toMatch(/^cannot load /);
  });

  it('lists the VE nodes with their state and process count', () => {
    expect(ve.listNodes()).toEqual([
      { node: 0, state: 'online', osState: 0, processCount: 4, socketPresent: true },
      { node: 1, state: 'offline', osState: 1, processCount: 0, socketPresent: false },
      { node: 2, state: 'online', osState: 0, processCount: 0, socketPresent: false },
    ]);
  });

  it('lists the VE processes of a node with the VE program and VE memory', async () => {
    const list = await ve.listProcesses(0);
    const byPid = new Map(list.map((x) => [x.pid, x]));
    expect([...byPid.keys()].sort((a, b) => a - b)).toEqual(
      [p.pid!, dgemm.pid!, quiet.pid!, process.pid].sort((a, b) => a - b),
    );
    const pp = byPid.get(p.pid!)!;
    expect(pp).toMatchObject({
      cmdline: './p',
      comm: 'p',
      veNode: 0,
      vePseudoOf: p.pid,
      uid: process.getuid!(),
      ppid: process.pid,
      kernelThread: false,
    });
    // totals of the seed's pmap outputs
    expect(pp.vsize).toBe(15020032n * 1024n);
    expect(pp.rss).toBe(15020032n * 1024n);
    // the rollup is the sum of the VE map (VEOS has no smaps_rollup)
    expect(pp.rollup).toMatchObject({ rss: pp.rss, pss: pp.rss, swap: 0n });
    const dg = byPid.get(dgemm.pid!)!;
    expect(dg.cmdline).toBe('./dgemm');
    expect(dg.comm).toBe('dgemm');
    expect(dg.vsize).toBe(20066304n * 1024n);
    expect(dg.rss).toBe(20066304n * 1024n);
    expect(byPid.get(quiet.pid!)!.vsize).toBe(0n);
    // the test process itself is listed (through a thread id) but its map is refused
    expect(byPid.get(process.pid)!.rollupError).toMatch(/permission denied/);
    expect(list.every((x) => x.veNode === 0 && x.vePseudoOf === x.pid)).toBe(true);

    const fast = await ve.listProcesses(0, { skipMemory: true });
    expect(fast).toHaveLength(4);
    expect(fast.every((x) => x.vsize === 0n && x.rss === 0n && !x.rollupError)).toBe(true);
    expect(await ve.listProcesses(1)).toEqual([]);
    expect(await ve.listProcesses(7)).toEqual([]);
  });

  it('reads ./p: every VMA of the seed default output, full paths, and unlinks the file', async () => {
    const map = await ve.readMemoryMap(0, p.pid!);
    expect(map.header).toMatchObject({
      pid: p.pid,
      cmdline: './p',
      comm: 'p',
      veNode: 0,
      vePseudoOf: p.pid,
      kernelThread: false,
      startStack: 0n,
      pageSize: 2097152n,
    });
    expect(map.possiblyDenied).toBe(false);
    const rows = parseDefault();
    expect(map.vmas).toHaveLength(rows.length);
    rows.forEach((r, i) => {
      const v = map.vmas[i];
      expect(v.start).toBe(r.start);
      expect((v.end - v.start) / 1024n).toBe(r.kb);
      expect(field(v, 'Size')).toBe(r.kb);
      expect(v.perms.slice(0, 3) + (v.perms[3] === 's' ? 's' : '-') + '-').toBe(r.mode);
      expect(v.name).toBe(r.name);
      expect(v.veNode).toBe(0);
    });
    expect(map.vmas.map((v) => v.kind)).toEqual([
      'file',
      'file',
      'stack',
      'anon',
      'file',
      'file',
      'anon',
      'file',
      'file',
    ]);
    expect(readdirSync(tree.tmpDir(0))).toEqual([]);
  });

  it('reads ./dgemm: every field of the seed -XX output', async () => {
    const map = await ve.readMemoryMap(0, dgemm.pid!);
    expect(map.header.cmdline).toBe('./dgemm');
    const { names, rows } = parseXX();
    expect(names).toEqual([
      'Size',
      'Rss',
      'Pss',
      'Shared_Clean',
      'Shared_Dirty',
      'Private_Clean',
      'Private_Dirty',
      'Referenced',
      'Anonymous',
      'AnonHugePages',
      'Swap',
      'KernelPageSize',
      'MMUPageSize',
      'Locked',
    ]);
    expect(map.vmas).toHaveLength(rows.length);
    rows.forEach((r, i) => {
      const v = map.vmas[i];
      expect(v.start).toBe(r.start);
      expect(v.perms).toBe(r.perm);
      expect(v.offset).toBe(r.offset);
      expect(`${v.devMajor.toString(16)}:${v.devMinor.toString(16)}`).toBe(r.dev);
      expect(v.inode).toBe(r.inode);
      expect(v.fields!.map((f) => f.name)).toEqual(names);
      expect(v.fields!.map((f) => f.value)).toEqual(r.fields);
      expect(v.fields!.every((f) => f.kb)).toBe(true);
      expect(v.end - v.start).toBe(r.fields[0] * 1024n);
      expect(v.vmFlags!.trim()).toBe(r.flags);
      expect(v.name.slice(v.name.lastIndexOf('/') + 1)).toBe(r.mapping);
      expect(v.notProvided).toEqual([
        'Shared_Clean',
        'Shared_Dirty',
        'Private_Clean',
        'Private_Dirty',
        'Referenced',
        'Swap',
        'Locked',
      ]);
    });
    // the totals row of the seed
    const sums = names.map((n) => map.vmas.reduce((s, v) => s + field(v, n)!, 0n));
    const totals = veSeedText('ve-pmap-XX.txt')
      .trimEnd()
      .split('\n')
      .pop()!
      .trim()
      .split(/\s+/)
      .slice(0, 14)
      .map((x) => BigInt(x));
    expect(sums).toEqual(totals);
    expect(map.vmas.filter((v) => v.kind === 'stack')).toHaveLength(9); // OpenMP threads
    expect(readdirSync(tree.tmpDir(0))).toEqual([]);
  });

  it('renders byte-identical to the seed VE pmap outputs (renderVePmap)', async () => {
    const pMap = await ve.readMemoryMap(0, p.pid!);
    expect(renderVePmap(pMap, { mode: 'default' })).toBe(
      veSeedPmap('ve-pmap-default.txt', 280646, p.pid!),
    );
    const dgemmMap = await ve.readMemoryMap(0, dgemm.pid!);
    expect(renderVePmap(dgemmMap, { mode: 'XX' })).toBe(
      veSeedPmap('ve-pmap-XX.txt', 396729, dgemm.pid!),
    );
  });

  it('answers an empty map as empty, flagged possiblyDenied only for a non-root caller', async () => {
    const asRoot = await ve.readMemoryMap(0, quiet.pid!);
    expect(asRoot.vmas).toEqual([]);
    expect(asRoot.possiblyDenied).toBe(false);
    const other = openVeSource({
      libraryPath: lib,
      sysfsRoot: tree.sysfsRoot,
      socketDir: tree.socketDir,
      euid: 4242,
    }) as VeSource;
    try {
      const asUser = await other.readMemoryMap(0, quiet.pid!);
      expect(asUser.vmas).toEqual([]);
      expect(asUser.possiblyDenied).toBe(true);
      // a process with VMAs is never flagged
      expect((await other.readMemoryMap(0, dgemm.pid!)).possiblyDenied).toBe(false);
    } finally {
      other.close();
    }
  });

  it('checks pids and finds the node of a pid', () => {
    expect(ve.checkPid(0, dgemm.pid!)).toBe(true);
    expect(ve.checkPid(0, process.ppid)).toBe(false);
    expect(ve.nodeOfPid(dgemm.pid!)).toBe(0);
    expect(ve.nodeOfPid(process.ppid)).toBeUndefined();
  });

  it('maps failures onto PmapError codes', async () => {
    // ve_map_info -1/EACCES
    await expectPmapError(() => ve.readMemoryMap(0, process.pid), 'PERMISSION_DENIED');
    // a host process that is no VE process: ESRCH from VEOS
    await expectPmapError(
      () => ve.readMemoryMap(0, process.ppid),
      'NOT_FOUND',
      new RegExp(`no VE process ${process.ppid} on VE node 0`),
    );
    // no host process at all
    await expectPmapError(() => ve.readMemoryMap(0, 0x7ffffffe), 'NOT_FOUND');
    await expectPmapError(() => ve.readMemoryMap(1, p.pid!), 'UNAVAILABLE', /VE node 1 is offline/);
    await expectPmapError(() => ve.readMemoryMap(2, p.pid!), 'UNAVAILABLE', /VEOS is not running/);
    await expectPmapError(() => ve.readMemoryMap(9, p.pid!), 'NOT_FOUND', /no VE node 9/);
    await expectPmapError(() => ve.readMemoryMap(0, -1), 'INVALID_ARGUMENT');
    await expectPmapError(() => ve.readMemoryMap(-1, p.pid!), 'INVALID_ARGUMENT');
    expect(readdirSync(tree.tmpDir(0))).toEqual([]);
  });

  it('unlinks the temp file also when its contents are short', async () => {
    const bad = makeVeStubTree(
      [{ node: 0, osState: 0 }],
      [{ node: 0, pid: dgemm.pid!, records: veRecords('dgemm'), truncate: true }],
    );
    setStubDir(bad.dir);
    try {
      const src = openVeSource({
        libraryPath: lib,
        sysfsRoot: bad.sysfsRoot,
        socketDir: bad.socketDir,
      }) as VeSource;
      await expectPmapError(() => src.readMemoryMap(0, dgemm.pid!), 'UNAVAILABLE', /announced 17/);
      expect(readdirSync(bad.tmpDir(0))).toEqual([]);
      src.close();
    } finally {
      setStubDir(tree.dir);
      bad.cleanup();
    }
  });

  it('refuses calls after close', async () => {
    const src = openVeSource({
      libraryPath: lib,
      sysfsRoot: tree.sysfsRoot,
      socketDir: tree.socketDir,
    }) as VeSource;
    expect(src.listNodes()).toHaveLength(3);
    src.close();
    await expectPmapError(() => src.listNodes(), 'UNAVAILABLE', /closed/);
    await expectPmapError(() => src.readMemoryMap(0, dgemm.pid!), 'UNAVAILABLE', /closed/);
  });
});
