import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PmapError, type ProcessHeader, type Vma } from '@app/domain';
import { LISTED_CMDLINE_BYTES, ProcReader, probeCapabilities, readNodeBasics } from '@app/procfs';
import { procError } from './errors';
import { fixturePath } from '../../../test/fixtures/paths';

const fx = (name: string): string => fs.readFileSync(fixturePath('procps-4.0.2', name), 'utf8');

const PF_KTHREAD = 0x00200000;

/** A /proc/PID/stat line with the given fields (others zero). */
function statLine(o: {
  pid: number;
  comm: string;
  state?: string;
  ppid?: number;
  flags?: number;
  threads?: number;
  start?: number;
  vsize?: number;
  rss?: number;
  startStack?: bigint;
  kstkesp?: bigint;
}): string {
  const f: string[] = new Array<string>(52 - 2).fill('0');
  const set = (n: number, v: string | number | bigint): void => {
    f[n - 3] = String(v);
  };
  set(3, o.state ?? 'S');
  set(4, o.ppid ?? 1);
  set(9, o.flags ?? 0);
  set(20, o.threads ?? 1);
  set(22, o.start ?? 0);
  set(23, o.vsize ?? 0);
  set(24, o.rss ?? 0);
  set(28, o.startStack ?? 0n);
  set(29, o.kstkesp ?? 0n);
  return `${o.pid} (${o.comm}) ${f.join(' ')}\n`;
}

function statusText(name: string, uid: number, threads = 1): string {
  return `Name:\t${name}\nState:\tS (sleeping)\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nGid:\t0\t0\t0\t0\nThreads:\t${threads}\n`;
}

describe('ProcReader on a captured proc tree', () => {
  let root: string;
  let proc: string;
  let reader: ProcReader;

  const write = (rel: string, content: string | Buffer): void => {
    const p = path.join(proc, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  };

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'procfs-spec-'));
    proc = path.join(root, 'proc');
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    fs.writeFileSync(
      path.join(root, 'etc', 'passwd'),
      'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n',
    );
    write('stat', 'cpu  1 2 3\nbtime 1700000000\nprocesses 5\n');
    // 4541: the fixture process, with three threads
    write('4541/stat', fx('target_proc_stat.txt'));
    write('4541/status', statusText('python3', 0, 3));
    write('4541/cmdline', '/opt/python/bin/python3\0target.py\0');
    write('4541/maps', fx('target_proc_maps.txt'));
    write('4541/smaps', fx('target_proc_smaps.txt'));
    write('4541/smaps_rollup', fx('target_proc_smaps_rollup.txt'));
    write('4541/numa_maps', fx('target_proc_numa_maps.txt'));
    write('4541/cgroup', '0::/system.slice/slurmstepd.scope/job_123/step_0\n');
    write('4541/task/4541/syscall', 'running\n');
    // blocked in futex: second-to-last field is the stack pointer
    write('4541/task/4542/syscall', '202 0x1 0x80 0x0 0x0 0x0 0x0 0x7f87b2a89800 0x7f87b3400000\n');
    // syscall unreadable (absent): stat kstkesp is the fallback
    write('4541/task/4543/stat', statLine({ pid: 4543, comm: 'worker', kstkesp: 0x7f87adc00100n }));
    // 100: alice's process in a k8s pod (underscores in the slice name)
    write(
      '100/stat',
      statLine({ pid: 100, comm: 'my app', start: 250, vsize: 8192, rss: 3, startStack: 0n }),
    );
    write('100/status', statusText('my app', 1000));
    write('100/cmdline', 'my app\0--flag\0');
    write('100/maps', '');
    write('100/smaps_rollup', 'Rss: 12 kB\nPss: 6 kB\n');
    write(
      '100/cgroup',
      '0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_abcd.slice/cri-x.scope\n',
    );
    // 2: a kernel thread
    write('2/stat', statLine({ pid: 2, comm: 'kthreadd', flags: PF_KTHREAD, ppid: 0 }));
    write('2/status', statusText('kthreadd', 0));
    write('2/cmdline', '');
    write('2/maps', '');
    write('2/cgroup', '0::/\n');
    // 300: smaps_rollup unreadable (a directory gives EISDIR)
    write('300/stat', statLine({ pid: 300, comm: 'locked' }));
    write('300/status', statusText('locked', 1000));
    write('300/cmdline', 'locked\0');
    write('300/cgroup', '0::/kubepods/burstable/pod1234-abcd/c1\n');
    fs.mkdirSync(path.join(proc, '300', 'smaps_rollup'));
    // 400: vanishes between stat and status
    write('400/stat', statLine({ pid: 400, comm: 'ghost' }));
    // 500: maps exists but smaps does not (exited between the reads); stat but empty status
    write('500/stat', statLine({ pid: 500, comm: 'gone' }));
    write('500/status', statusText('gone', 0));
    write('500/cmdline', 'gone\0');
    write('500/maps', fx('target_proc_maps.txt'));
    write('500/cgroup', '0::/\n');
    // 600: a zombie
    write('600/stat', statLine({ pid: 600, comm: 'z', state: 'Z' }));
    write('600/status', statusText('z', 0));
    write('600/cmdline', '');
    write('600/maps', '');
    write('600/smaps', '');
    write('600/smaps_rollup', '');
    write('600/cgroup', '0::/\n');
    reader = new ProcReader({ procRoot: proc, etcRoot: path.join(root, 'etc') });
  });

  afterAll(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  /**
   * The writer of a FIFO the test reads on this (its only) thread, synchronously: `sh -c script`
   * with the FIFO as $1 and `args` after it. Once the script is done, the shell stays on as a
   * writer that comes and goes every second, so a read of the FIFO the test did not expect (a
   * change reading the file twice) ends at EOF instead of blocking jest forever. Kill it when done.
   */
  function fifoWriter(script: string, fifo: string, ...args: string[]): ChildProcess {
    const linger = 'while sleep 1; do exec 3>"$1"; exec 3>&-; done';
    return spawn('sh', ['-c', `${script}; ${linger}`, 'sh', fifo, ...args], { stdio: 'ignore' });
  }

  it('reads the header from cmdline, stat and status', async () => {
    const h = await reader.readHeader(4541);
    expect(h).toMatchObject({
      pid: 4541,
      cmdline: '/opt/python/bin/python3 target.py',
      comm: 'python3',
      uid: 0,
      kernelThread: false,
    });
    expect(h.startStack).toBe(140736310948560n);
    expect(await reader.readHeader(2)).toMatchObject({
      cmdline: '[kthreadd]',
      kernelThread: true,
    });
  });

  it('reads maps and smaps, classified, with thread stacks from syscall and kstkesp', async () => {
    const maps = await reader.readMemoryMap(4541, { detail: 'maps' });
    expect(maps.vmas).toHaveLength(128);
    expect(maps.vmas[0].fields).toBeUndefined();
    expect(maps.vmas.filter((v) => v.kind === 'thread_stack')).toHaveLength(0);
    const smaps = await reader.readMemoryMap(4541, { detail: 'smaps', threadStacks: true });
    expect(smaps.vmas).toHaveLength(128);
    expect(smaps.vmas[0].fields!.length).toBe(24);
    const ts = smaps.vmas.filter((v) => v.kind === 'thread_stack');
    expect(ts.map((v) => [v.start, v.threadId])).toEqual([
      [0x7f87adc00000n, 4543],
      [0x7f87b2a89000n, 4542],
    ]);
    expect(smaps.vmas.find((v) => v.kind === 'stack')!.start).toBe(0x7fffb9d04000n);
    expect(smaps.vmas.find((v) => v.kind === 'sysv_shm')!.shmId).toBe(0xfn);
  });

  it('reads the map through lockedReadChunks in pieces exactly as in one piece', async () => {
    const files: string[] = [];
    const byLine = new ProcReader({
      procRoot: reader.procRoot,
      etcRoot: reader.etcRoot,
      lockedReadChunks: async (p, onChunk) => {
        files.push(path.basename(p));
        const b = await fs.promises.readFile(p);
        for (let i = 0; i < b.length;) {
          const e = b.indexOf(10, i);
          const end = e < 0 ? b.length : e + 1;
          onChunk(b.subarray(i, end));
          i = end;
        }
      },
    });
    for (const detail of ['maps', 'smaps'] as const) {
      const whole = await reader.readMemoryMap(4541, { detail, threadStacks: true });
      const pieces = await byLine.readMemoryMap(4541, { detail, threadStacks: true });
      expect(pieces.vmas).toHaveLength(128);
      expect(pieces.vmas).toEqual(whole.vmas);
      expect({ ...pieces.header, readAtMs: 0 }).toEqual({ ...whole.header, readAtMs: 0 });
    }
    expect(files).toEqual(['maps', 'smaps']);
  });

  it('reads the map row by row: the header first, then each VMA as readMemoryMap has it', async () => {
    for (const detail of ['maps', 'smaps'] as const) {
      const whole = await reader.readMemoryMap(4541, { detail });
      const rows: Vma[] = [];
      let began: ProcessHeader | undefined;
      const got = await reader.readMemoryMapRows(4541, { detail }, (h) => {
        began = h;
        expect(rows).toEqual([]);
        return (v) => rows.push(v);
      });
      expect(got.header).toBe(began);
      expect(got.vmas).toBe(128);
      expect(rows).toEqual(whole.vmas);
      expect(rows.filter((v) => v.kind === 'stack')).toHaveLength(1);
    }
    // a process that was already a zombie: what there is, without an error (as readMemoryMap)
    const z = await reader.readMemoryMapRows(500, { detail: 'maps' }, () => () => undefined);
    expect(z.vmas).toBe((await reader.readMemoryMap(500, { detail: 'maps' })).vmas.length);
  });

  it('reads maps line by line as bytes: the header first, then each line readMemoryMap parses', async () => {
    const whole = await reader.readMemoryMap(4541, { detail: 'maps' });
    const lines: [bigint, bigint, string][] = [];
    let began: ProcessHeader | undefined;
    const got = await reader.readMapsLines(4541, {}, (h) => {
      began = h;
      expect(lines).toEqual([]);
      return (b, f) => {
        const hex = (at: number, to: number): bigint => BigInt('0x' + b.toString('latin1', at, to));
        lines.push([
          hex(f.startAt, f.startTo),
          hex(f.endAt, f.endTo),
          b.toString('utf8', f.nameAt, f.nameTo),
        ]);
      };
    });
    expect(got.header).toBe(began);
    expect({ ...got.header, readAtMs: 0 }).toEqual({ ...whole.header, readAtMs: 0 });
    expect(got.vmas).toBe(128);
    expect(lines).toEqual(whole.vmas.map((v) => [v.start, v.end, v.name]));
    const z = await reader.readMapsLines(500, {}, () => () => undefined);
    expect(z.vmas).toBe((await reader.readMemoryMap(500, { detail: 'maps' })).vmas.length);
  });

  it('reads rollup, stat, status, cgroup and numa_maps', async () => {
    expect((await reader.readRollup(4541)).rss).toBe(56636n * 1024n);
    expect(reader.readStat(4541).vsize).toBe(99786752n);
    expect(reader.readStatus(100).uid).toBe(1000);
    expect(reader.readCgroup(4541)).toBe('/system.slice/slurmstepd.scope/job_123/step_0');
    expect(await reader.readNumaMaps(4541)).toHaveLength(127);
  });

  it('errors: missing pid -> NOT_FOUND, file gone after start -> EXITED, bad pid -> INVALID_ARGUMENT', async () => {
    const codeOf = async (f: () => unknown): Promise<string> => {
      try {
        await f();
      } catch (e) {
        expect(e).toBeInstanceOf(PmapError);
        return `${(e as PmapError).code}: ${(e as PmapError).message}`;
      }
      return 'no error';
    };
    expect(await codeOf(() => reader.readMemoryMap(999, { detail: 'maps' }))).toBe(
      'NOT_FOUND: no such process 999',
    );
    expect(await codeOf(() => reader.readStat(999))).toMatch(/^NOT_FOUND/);
    expect(await codeOf(() => reader.readMemoryMap(500, { detail: 'maps' }))).toBe('no error');
    expect(await codeOf(() => reader.readMemoryMap(500, { detail: 'smaps' }))).toBe(
      'EXITED: process 500 exited during the read',
    );
    expect(await codeOf(() => reader.readHeader(400))).toMatch(/^EXITED/);
    expect(await codeOf(() => reader.readMemoryMap(0, { detail: 'maps' }))).toMatch(
      /^INVALID_ARGUMENT/,
    );
  });

  it('a non-empty map read from a process that is a zombie afterwards -> EXITED', async () => {
    // 700: became a zombie while its maps/smaps was read
    write('700/stat', statLine({ pid: 700, comm: 'dying', state: 'Z' }));
    write('700/status', statusText('dying', 0));
    write('700/cmdline', 'dying\0');
    write('700/maps', fx('target_proc_maps.txt'));
    write('700/smaps', fx('target_proc_smaps.txt'));
    try {
      for (const detail of ['maps', 'smaps'] as const) {
        await expect(reader.readMemoryMap(700, { detail })).rejects.toThrow(
          new PmapError('EXITED', 'process 700 exited during the read'),
        );
        // row by row: the rows were handed over, and the read still fails
        let rows = 0;
        await expect(reader.readMemoryMapRows(700, { detail }, () => () => rows++)).rejects.toThrow(
          new PmapError('EXITED', 'process 700 exited during the read'),
        );
        expect(rows).toBe(128);
      }
      let lines = 0;
      await expect(reader.readMapsLines(700, {}, () => () => lines++)).rejects.toThrow(
        new PmapError('EXITED', 'process 700 exited during the read'),
      );
      expect(lines).toBe(128);
      expect(reader.readStat(700).state).toBe('Z');
    } finally {
      fs.rmSync(path.join(proc, '700'), { recursive: true, force: true });
    }
  });

  it('a map read from a process that is exiting (PF_EXITING, state still R) -> EXITED', async () => {
    // 710: do_exit had begun (PF_EXITING, its address space being torn down: the maps read ends
    // early without an error) but the process is not a zombie yet. 711: the same flags word
    // without PF_EXITING is an ordinary live process.
    const flags = 0x00400000 | 0x00000040; // PF_RANDOMIZE | PF_FORKNOEXEC
    for (const [pid, f] of [
      [710, flags | 0x4],
      [711, flags],
    ] as const) {
      write(`${pid}/stat`, statLine({ pid, comm: 'x', state: 'R', flags: f }));
      write(`${pid}/status`, statusText('x', 0));
      write(`${pid}/cmdline`, 'x\0');
      write(`${pid}/maps`, fx('target_proc_maps.txt'));
    }
    try {
      await expect(reader.readMemoryMap(710, { detail: 'maps' })).rejects.toThrow(
        new PmapError('EXITED', 'process 710 exited during the read'),
      );
      await expect(
        reader.readMemoryMapRows(710, { detail: 'maps' }, () => () => undefined),
      ).rejects.toThrow(new PmapError('EXITED', 'process 710 exited during the read'));
      await expect(reader.readMapsLines(710, {}, () => () => undefined)).rejects.toThrow(
        new PmapError('EXITED', 'process 710 exited during the read'),
      );
      expect((await reader.readMemoryMap(711, { detail: 'maps' })).vmas).toHaveLength(128);
    } finally {
      for (const pid of [710, 711]) fs.rmSync(path.join(proc, String(pid)), { recursive: true });
    }
  });

  it('a process whose stat is gone when its smaps ends (exited mid-read) -> EXITED', async () => {
    // smaps is a FIFO: a shell writes the first half of the fixture's smaps, removes the stat
    // file (the process is gone) and only then closes, so the reader's read ends with a map that
    // looks complete but the process no longer exists.
    const dir = path.join(proc, '800');
    write('800/stat', statLine({ pid: 800, comm: 'exiting' }));
    write('800/status', statusText('exiting', 0));
    write('800/cmdline', 'exiting\0');
    const text = fx('target_proc_smaps.txt');
    const half = path.join(root, 'smaps-half');
    fs.writeFileSync(half, text.slice(0, text.indexOf('\n', text.length >> 1) + 1));
    const fifo = path.join(dir, 'smaps');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const writer = fifoWriter(
      'exec 3>"$1"; cat "$2" >&3; rm "$3"; exec 3>&-',
      fifo,
      half,
      path.join(dir, 'stat'),
    );
    try {
      await expect(reader.readMemoryMap(800, { detail: 'smaps' })).rejects.toThrow(
        new PmapError('EXITED', 'process 800 exited during the read'),
      );
      expect(fs.existsSync(path.join(dir, 'stat'))).toBe(false);
    } finally {
      writer.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a live process whose maps comes back empty because it began exiting -> EXITED', async () => {
    // maps is a FIFO: a shell rewrites stat with PF_EXITING (do_exit began) and closes without
    // writing anything, as the kernel gives an empty maps once the address space is torn down.
    const dir = path.join(proc, '810');
    write('810/stat', statLine({ pid: 810, comm: 'exiting' }));
    write('810/status', statusText('exiting', 0));
    write('810/cmdline', 'exiting\0');
    const exiting = path.join(root, 'stat-exiting');
    fs.writeFileSync(exiting, statLine({ pid: 810, comm: 'exiting', state: 'R', flags: 0x4 }));
    const fifo = path.join(dir, 'maps');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const writer = fifoWriter(
      'exec 3>"$1"; cp "$2" "$3"; exec 3>&-',
      fifo,
      exiting,
      path.join(dir, 'stat'),
    );
    try {
      await expect(reader.readMemoryMap(810, { detail: 'maps' })).rejects.toThrow(
        new PmapError('EXITED', 'process 810 exited during the read'),
      );
    } finally {
      writer.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a zombie has an empty map, not an error', async () => {
    const m = await reader.readMemoryMap(600, { detail: 'smaps', threadStacks: true });
    expect(m.vmas).toEqual([]);
    expect(m.header.cmdline).toBe('[z]');
  });

  it('lists pids and processes with user names, start times and rss', async () => {
    expect(reader.listPids()).toEqual([2, 100, 300, 400, 500, 600, 4541]);
    const { processes, unreadable } = await reader.listProcesses({});
    // 2 (kernel thread) excluded; 400 and 500 vanished between files (skipped silently)
    expect(processes.map((p) => p.pid)).toEqual([100, 300, 600, 4541]);
    expect(unreadable).toBe(1); // 300: smaps_rollup unreadable
    const p100 = processes[0];
    expect(p100).toMatchObject({
      user: 'alice',
      uid: 1000,
      comm: 'my app',
      cmdline: 'my app --flag',
      vsize: 8192n,
      rss: 3n * 4096n,
      kernelThread: false,
    });
    expect(p100.startTimeMs).toBe(1700000000 * 1000 + 2500);
    expect(p100.rollup!.rss).toBe(12n * 1024n);
    expect(processes[1].rollupError).toMatch(/EISDIR|directory/);
  });

  it('filters by user, name, cgroup, slurm job, k8s pod, pids and kernel threads', async () => {
    const pids = async (f: Parameters<ProcReader['listProcesses']>[0]): Promise<number[]> =>
      (await reader.listProcesses({ skipRollup: true, ...f })).processes.map((p) => p.pid);
    expect(await pids({ user: 'alice' })).toEqual([100, 300]);
    expect(await pids({ user: '1000' })).toEqual([100, 300]);
    expect(await pids({ user: 'root' })).toEqual([500, 600, 4541]);
    expect(await pids({ nameRegex: /^my / })).toEqual([100]);
    expect(await pids({ nameRegex: /target\.py/ })).toEqual([4541]);
    expect(await pids({ cgroup: 'slurmstepd' })).toEqual([4541]);
    expect(await pids({ slurmJob: '123' })).toEqual([4541]);
    expect(await pids({ slurmJob: '12' })).toEqual([]);
    expect(await pids({ k8sPod: '1234-abcd' })).toEqual([100, 300]);
    expect(await pids({ k8sPod: '1234_abcd' })).toEqual([100, 300]);
    expect(await pids({ k8sPod: '1234-abcde' })).toEqual([]);
    expect(await pids({ k8sPod: '1234-ab' })).toEqual([]); // truncated uid
    expect(await pids({ k8sPod: '1234-ABCD' })).toEqual([100, 300]);
    expect(await pids({ pids: [4541, 2, 999] })).toEqual([4541]);
    expect(await pids({ pids: [4541, 2, 999], includeKernelThreads: true })).toEqual([2, 4541]);
    const k = (await reader.listProcesses({ pids: [2], includeKernelThreads: true })).processes[0];
    expect(k).toMatchObject({ kernelThread: true, cmdline: '[kthreadd]', user: 'root' });
    expect(k.rollup).toBeUndefined();
    expect(
      (await reader.listProcesses({ pids: [100], skipRollup: true })).processes[0].rollup,
    ).toBeUndefined();
  });
});

describe('ProcReader cancellation', () => {
  it('a listing whose signal aborts mid-way starts no further read and rejects', async () => {
    const ac = new AbortController();
    let reads = 0;
    let readsAtAbort = -1;
    const reader = new ProcReader({
      lockedRead: async (p, { signal }) => {
        reads++;
        if (reads === 10) {
          readsAtAbort = reads;
          ac.abort(new Error('client gone'));
        }
        if (signal?.aborted) throw signal.reason;
        return fs.promises.readFile(p);
      },
    });
    await expect(reader.listProcesses({}, { signal: ac.signal, concurrency: 4 })).rejects.toThrow(
      'client gone',
    );
    expect(readsAtAbort).toBe(10);
    // the lanes that were reading when it aborted may each finish one read; none starts a process
    expect(reads - readsAtAbort).toBeLessThanOrEqual(4);
    const before = reads;
    await new Promise((r) => setTimeout(r, 50));
    expect(reads).toBe(before);
  });

  it("a read cancelled while it runs, or whose caller's resume fails, rejects with the call's own error, not the file's", async () => {
    // what the agent's abort signal carries (a cancelled() status) and what its PermitLease's
    // resume rejects with (AGENT_BUSY, a deadline): neither may become a READ_FAILED of the file
    class CallError extends Error {
      readonly code = 8; // a numeric status, not an errno
    }
    const ac = new AbortController();
    const cancelling = new ProcReader({
      lockedRead: async (p) => {
        await fs.promises.readFile(p);
        ac.abort(new CallError('the call was cancelled'));
        throw Object.assign(new Error('aborted'), { code: 'ABORT_ERR' });
      },
    });
    const cancelled = await cancelling
      .readMemoryMap(process.pid, { detail: 'maps', signal: ac.signal })
      .catch((e: unknown) => e);
    expect(cancelled).toBeInstanceOf(CallError);
    const busy = new CallError('agent busy');
    const resumeFails = new ProcReader({ lockedRead: () => Promise.reject(busy) });
    await expect(resumeFails.readMemoryMap(process.pid, { detail: 'maps' })).rejects.toBe(busy);
    // a file's own failure is still the process's: an errno becomes a PmapError
    const denied = new ProcReader({
      lockedRead: () => Promise.reject(Object.assign(new Error('EACCES'), { code: 'EACCES' })),
    });
    await expect(denied.readMemoryMap(process.pid, { detail: 'maps' })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
  });

  it('a map read whose signal is already aborted reads nothing', async () => {
    let reads = 0;
    const reader = new ProcReader({
      lockedRead: (p, { signal }) => {
        if (signal?.aborted) return Promise.reject(signal.reason as Error);
        reads++;
        return fs.promises.readFile(p);
      },
    });
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await expect(
      reader.readMemoryMap(process.pid, { detail: 'maps', signal: ac.signal }),
    ).rejects.toThrow('gone');
    expect(reads).toBe(0);
  });
});

describe('ProcReader on the live /proc', () => {
  const reader = new ProcReader();

  it('a listing keeps at most LISTED_CMDLINE_BYTES of a long command line', async () => {
    // 8 arguments of 120,000 bytes (~960 KB): sh stays, with them as $0, $1...
    const args = Array.from({ length: 8 }, (_, i) => String.fromCharCode(97 + i).repeat(120_000));
    const child = spawn('/bin/sh', ['-c', 'sleep 60; :', ...args], { stdio: 'ignore', env: {} });
    try {
      const { processes } = await reader.listProcesses({ pids: [child.pid!] });
      expect(processes).toHaveLength(1);
      const c = processes[0].cmdline;
      expect(c.startsWith('/bin/sh -c sleep 60; : aaa')).toBe(true);
      expect(c.length).toBeLessThanOrEqual(LISTED_CMDLINE_BYTES);
      expect(c.length).toBeGreaterThan(LISTED_CMDLINE_BYTES - 16);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('reads this process at smaps level with its thread stacks', async () => {
    const m = await reader.readMemoryMap(process.pid, { detail: 'smaps', threadStacks: true });
    expect(m.header.pid).toBe(process.pid);
    expect(m.header.cmdline).toContain('node');
    expect(m.header.kernelThread).toBe(false);
    expect(m.vmas.length).toBeGreaterThan(20);
    expect(m.vmas.filter((v) => v.kind === 'stack')).toHaveLength(1);
    expect(m.vmas.some((v) => v.kind === 'heap')).toBe(true);
    expect(m.vmas.some((v) => v.kind === 'file' && v.name.includes('node'))).toBe(true);
    // node runs libuv/V8 worker threads blocked in futex: their stacks are found
    expect(m.vmas.filter((v) => v.kind === 'thread_stack').length).toBeGreaterThan(0);
    const rss = m.vmas.reduce((a, v) => a + v.fields!.find((f) => f.name === 'Rss')!.value, 0n);
    expect(rss).toBeGreaterThan(10000n);
    for (let i = 1; i < m.vmas.length; i++)
      expect(m.vmas[i].start).toBeGreaterThanOrEqual(m.vmas[i - 1].end);
  });

  it('lists this process with a rollup', async () => {
    const { processes } = await reader.listProcesses({ pids: [process.pid] });
    expect(processes).toHaveLength(1);
    expect(processes[0].rollup!.rss).toBeGreaterThan(0n);
    expect(processes[0].user).toBe(os.userInfo().username);
    // node's uptime starts a little after the kernel's start time (exec, then node's own start-up,
    // slower on a busy machine): a generous bound still catches a unit or clock-tick error
    expect(
      Math.abs(processes[0].startTimeMs - (Date.now() - process.uptime() * 1000)),
    ).toBeLessThan(30_000);
    expect(
      (await reader.listProcesses({ includeKernelThreads: true })).processes.some(
        (p) => p.kernelThread,
      ),
    ).toBe(true);
  });

  it('a process that exited and was reaped is NOT_FOUND', async () => {
    const r = spawnSync('sleep', ['0.01']);
    expect(r.status).toBe(0);
    await expect(reader.readMemoryMap(r.pid, { detail: 'smaps' })).rejects.toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    );
  });

  it('a live zombie has an empty map', async () => {
    // the backgrounded sleep exits after the shell exec'd the outer sleep, which never reaps it
    const sh = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const zpid = await new Promise<number>((resolve) =>
        sh.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
      );
      for (let i = 0; i < 200 && reader.readStat(zpid).state !== 'Z'; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(reader.readStat(zpid).state).toBe('Z');
      const m = await reader.readMemoryMap(zpid, { detail: 'smaps', threadStacks: true });
      expect(m.vmas).toEqual([]);
    } finally {
      sh.kill('SIGKILL');
    }
  }, 30_000); // spawning processes on a loaded machine: far above the usual 100 ms
});

describe('errno mapping', () => {
  it('maps EACCES/EPERM to PERMISSION_DENIED naming CAP_SYS_PTRACE', () => {
    for (const code of ['EACCES', 'EPERM']) {
      const e = procError(Object.assign(new Error(code), { code }), 7, 'smaps', true);
      expect(e.code).toBe('PERMISSION_DENIED');
      expect(e.message).toMatch(/CAP_SYS_PTRACE/);
      expect(e.message).toMatch(/root/);
    }
    expect(procError(Object.assign(new Error(), { code: 'ESRCH' }), 7, 'maps', false).code).toBe(
      'EXITED',
    );
    expect(procError(Object.assign(new Error(), { code: 'ENOENT' }), 7, 'stat', false).code).toBe(
      'NOT_FOUND',
    );
    expect(procError(Object.assign(new Error(), { code: 'ENOENT' }), 7, 'maps', true).code).toBe(
      'EXITED',
    );
  });

  it('as another user, reading a root process is PERMISSION_DENIED (real kernel check)', () => {
    // a child running as nobody tries to read PID 1's maps; the kernel refuses with EACCES
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        "try{require('fs').readFileSync('/proc/1/maps')}catch(e){process.stdout.write(e.code)}",
      ],
      { uid: 65534, gid: 65534, encoding: 'utf8' },
    );
    expect(r.stdout).toBe('EACCES');
    const e = procError(Object.assign(new Error(), { code: r.stdout }), 1, 'maps', true);
    expect(e.code).toBe('PERMISSION_DENIED');
  });
});

describe('capabilities', () => {
  it('probes this node (root, Linux 6.18)', () => {
    const c = probeCapabilities();
    expect(c.pageSize).toBe(4096n);
    expect(c.readOtherUsers).toBe(true);
    expect(c.numaNodes).toContain(0);
    expect(c.hugePageSizes).toContain(2n * 1024n * 1024n);
    expect(c.pagemapScan).toBe(true);
    expect(typeof c.pfnsReadable).toBe('boolean');
    expect(c.notes.length).toBe(
      [c.pfnsReadable, c.kpageflagsReadable, c.pagemapScan, c.readOtherUsers].filter((x) => !x)
        .length,
    );
  });

  it('explains what is missing under an empty sysfs', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'sys-'));
    try {
      const c = probeCapabilities('/proc', empty);
      expect(c.numaNodes).toEqual([]);
      expect(c.hugePageSizes).toEqual([]);
      expect(c.notes.join('\n')).toMatch(/NUMA/);
      expect(c.notes.join('\n')).toMatch(/huge page/);
    } finally {
      fs.rmSync(empty, { recursive: true });
    }
  });

  it('reads node basics', () => {
    const n = readNodeBasics();
    expect(n.hostname).toBe(os.hostname());
    expect(n.kernelRelease).toBe(os.release());
    expect(n.cpuCount).toBeGreaterThan(0);
    expect(n.memTotal).toBeGreaterThan(0n);
    expect(n.bootTimeMs).toBeLessThan(Date.now());
    expect(n.bootTimeMs).toBeGreaterThan(Date.now() - os.uptime() * 1000 - 5000);
  });
});
