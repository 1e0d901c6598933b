/**
 * ProcReader: reads /proc (or a captured tree under `procRoot`) and turns errno values into
 * PmapError (procError in errors.ts; an empty stat is EXITED too).
 *
 * Files that cannot block (stat, status, cgroup, task/*) are read synchronously, one read each.
 * The files whose read takes the target's mmap_lock (cmdline, maps, smaps, smaps_rollup,
 * numa_maps) go through the asynchronous `lockedRead` (in the agent: a GuardedFileReader, whose
 * worker threads read them), so the methods that read them return promises and take an abort
 * signal: a cancelled read is dropped.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  MAX_MATCHED_CHARS,
  PmapError,
  type MemoryMap,
  type MemoryRollup,
  type ProcessHeader,
  type ProcessInfo,
  type Vma,
} from '@app/domain';
import { classifyVmas } from './classify';
import { k8sPodMatcher, slurmJobMatcher } from './cgroup-match';
import { errnoOf, exited, notFound, procError } from './errors';
import {
  parseCgroup,
  parseCmdline,
  parseMaps,
  parseNumaMaps,
  parseSmaps,
  parseSmapsRollup,
  parseStat,
  parseStatus,
} from './parse';
import type {
  NumaMapsEntry,
  ProcessFilter,
  ProcReaderOptions,
  ProcStat,
  ProcStatus,
  ReadMemoryMapOptions,
  ReadOptions,
} from './types';

/** PF_KTHREAD in /proc/PID/stat flags. */
const PF_KTHREAD = 0x00200000;
/** Set at the start of do_exit, before the address space is torn down. */
const PF_EXITING = 0x00000004;

/** A zombie, dead, or exiting (its address space being torn down) process. */
function isGone(st: ProcStat): boolean {
  const s = st.state;
  return s === '' || s === 'Z' || s === 'X' || s === 'x' || (st.flags & PF_EXITING) !== 0;
}

function checkPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new PmapError('INVALID_ARGUMENT', `pid must be a positive integer, got ${pid}`, 'pid');
  }
}

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Bytes of a command line a listing keeps: all a name regex searches (see safe-regex.ts). */
export const LISTED_CMDLINE_BYTES = 4 * MAX_MATCHED_CHARS;

export class ProcReader {
  readonly procRoot: string;
  readonly etcRoot: string;
  readonly clockTicks: number;
  readonly pageSize: bigint;
  private users: Map<number, string> | undefined;
  private bootTimeMs: number | undefined;
  private readonly lockedRead: (path: string, opts: ReadOptions) => Promise<Buffer>;

  constructor(opts: ProcReaderOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.etcRoot = opts.etcRoot ?? '/etc';
    this.clockTicks = opts.clockTicks ?? 100;
    this.pageSize = opts.pageSize ?? 4096n;
    this.lockedRead = opts.lockedRead ?? ((p, o) => fs.promises.readFile(p, { signal: o.signal }));
  }

  private file(pid: number, name: string): string {
    return path.join(this.procRoot, String(pid), name);
  }

  /** A file that cannot block (stat, status, cgroup): read synchronously. */
  private readText(pid: number, name: string, started: boolean): string {
    try {
      return fs.readFileSync(this.file(pid, name), 'utf8');
    } catch (e) {
      throw procError(e, pid, name, started);
    }
  }

  /**
   * A file whose read takes the target's mmap_lock (or reads its memory: cmdline, maps, smaps,
   * smaps_rollup, numa_maps): a process stuck in the kernel holding that lock makes the read
   * block, so it goes through the asynchronous lockedRead.
   */
  private async readLocked(
    pid: number,
    name: string,
    started: boolean,
    opts: ReadOptions,
  ): Promise<Buffer> {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    try {
      return await this.lockedRead(this.file(pid, name), opts);
    } catch (e) {
      // The call's own failures pass unchanged: it was cancelled (the signal's reason), or the
      // caller's `resume` failed (a permit it could not take back: busy, deadline). Only the
      // file's failures (PmapError, errno codes) are the process's.
      if (opts.signal?.aborted) throw abortError(opts.signal);
      if (!(e instanceof PmapError) && errnoOf(e) === undefined) throw e;
      throw procError(e, pid, name, started);
    }
  }

  private statOf(pid: number, started: boolean): ProcStat {
    const text = this.readText(pid, 'stat', started);
    if (text.length === 0) throw started ? exited(pid) : notFound(pid);
    try {
      return parseStat(text);
    } catch {
      throw exited(pid);
    }
  }

  /** /proc/PID/stat. */
  readStat(pid: number): ProcStat {
    checkPid(pid);
    return this.statOf(pid, false);
  }

  /** /proc/PID/status. */
  readStatus(pid: number): ProcStatus {
    checkPid(pid);
    const text = this.readText(pid, 'status', false);
    if (text.length === 0) throw exited(pid);
    return parseStatus(text);
  }

  /** /proc/PID/cgroup: the v2 path. */
  readCgroup(pid: number): string {
    checkPid(pid);
    return parseCgroup(this.readText(pid, 'cgroup', false));
  }

  /** /proc/PID/numa_maps. */
  async readNumaMaps(pid: number, opts: ReadOptions = {}): Promise<NumaMapsEntry[]> {
    return parseNumaMaps(await this.readNumaMapsText(pid, opts));
  }

  /** /proc/PID/numa_maps as text (for a histogram scan's numaMapsText). */
  async readNumaMapsText(pid: number, opts: ReadOptions = {}): Promise<string> {
    checkPid(pid);
    this.statOf(pid, false);
    return (await this.readLocked(pid, 'numa_maps', true, opts)).toString('utf8');
  }

  /** /proc/PID/smaps_rollup in bytes (all zeros for a kernel thread or zombie). */
  async readRollup(pid: number, opts: ReadOptions = {}): Promise<MemoryRollup> {
    checkPid(pid);
    this.statOf(pid, false);
    const b = await this.readLocked(pid, 'smaps_rollup', true, opts);
    return parseSmapsRollup(b.toString('utf8'));
  }

  private headerFrom(
    pid: number,
    stat: ProcStat,
    status: ProcStatus,
    cmdline: Buffer,
  ): ProcessHeader {
    return {
      pid,
      cmdline: parseCmdline(cmdline, stat.comm),
      comm: stat.comm,
      startStack: stat.startStack,
      kernelThread: (stat.flags & PF_KTHREAD) !== 0 || status.kthread === true,
      uid: status.uid,
      readAtMs: Date.now(),
      pageSize: this.pageSize,
    };
  }

  /** The first line of pmap output and what classification needs: cmdline + stat + status. */
  async readHeader(pid: number, opts: ReadOptions = {}): Promise<ProcessHeader> {
    return (await this.headerWithStat(pid, opts)).header;
  }

  private async headerWithStat(
    pid: number,
    opts: ReadOptions,
  ): Promise<{ header: ProcessHeader; stat: ProcStat }> {
    checkPid(pid);
    const stat = this.statOf(pid, false);
    const cmdline = await this.readLocked(pid, 'cmdline', true, opts);
    const statusText = this.readText(pid, 'status', true);
    if (statusText.length === 0) throw exited(pid);
    return { header: this.headerFrom(pid, stat, parseStatus(statusText), cmdline), stat };
  }

  /**
   * The memory map at maps or smaps level, classified (stack from stat startstack; thread stacks
   * from each thread's stack pointer when `threadStacks`). A zombie or kernel thread has an empty
   * map (no error). A process that exits while maps/smaps is read makes the kernel end the file
   * early — or give nothing — without an error, so the map of a process that was not already gone
   * when the read began is only returned when it is still alive afterwards (else EXITED).
   */
  async readMemoryMap(pid: number, opts: ReadMemoryMapOptions): Promise<MemoryMap> {
    const { header, stat } = await this.headerWithStat(pid, opts);
    const smaps = opts.detail === 'smaps';
    const bytes = await this.readLocked(pid, smaps ? 'smaps' : 'maps', true, opts);
    const vmas: Vma[] = smaps ? parseSmaps(bytes) : parseMaps(bytes);
    if (vmas.length > 0 || !isGone(stat)) this.assertStillAlive(pid);
    const sps = opts.threadStacks && vmas.length > 0 ? this.threadStackPointers(pid) : undefined;
    classifyVmas(vmas, header.startStack, sps);
    return { header, vmas };
  }

  /**
   * Throws EXITED "process N exited during the read" unless /proc/PID/stat still exists, its
   * state is not zombie/dead (Z, X, x) and it is not exiting (PF_EXITING). The kernel sets
   * PF_EXITING before it tears the address space down, while the state still reads R: a maps read
   * that raced the teardown ends early without an error, so only the flag tells a truncated map
   * from a whole one.
   */
  private assertStillAlive(pid: number): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file(pid, 'stat'), 'latin1');
    } catch (e) {
      throw procError(e, pid, 'stat', true);
    }
    let st: ProcStat;
    try {
      st = parseStat(text);
    } catch {
      throw exited(pid);
    }
    if (isGone(st)) throw exited(pid);
  }

  /**
   * tid -> stack pointer for each thread: task/TID/syscall (second-to-last field; "running" or an
   * unreadable file is skipped) with task/TID/stat kstkesp as the fallback. Best effort.
   */
  threadStackPointers(pid: number): Map<number, bigint> {
    const out = new Map<number, bigint>();
    let tids: string[];
    try {
      tids = fs.readdirSync(this.file(pid, 'task'));
    } catch {
      return out;
    }
    for (const t of tids) {
      if (!isDigits(t)) continue;
      const tid = Number(t);
      const dir = path.join(this.procRoot, String(pid), 'task', t);
      let sp = 0n;
      try {
        const sc = fs.readFileSync(path.join(dir, 'syscall'), 'latin1').trim();
        const parts = sc.split(' ');
        if (parts.length >= 3) {
          const tok = parts[parts.length - 2];
          const hex = tok.startsWith('0x') ? tok.slice(2) : tok;
          if (/^[0-9a-fA-F]{1,16}$/.test(hex)) sp = BigInt('0x' + hex);
        }
      } catch {
        // unreadable: fall back to stat
      }
      if (sp === 0n) {
        try {
          sp = parseStat(fs.readFileSync(path.join(dir, 'stat'), 'latin1')).kstkesp;
        } catch {
          // thread gone
        }
      }
      if (sp !== 0n) out.set(tid, sp);
    }
    return out;
  }

  /** Numeric entries of the proc root, ascending. */
  listPids(): number[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.procRoot);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new PmapError('UNAVAILABLE', `cannot list ${this.procRoot}: ${msg}`);
    }
    const pids: number[] = [];
    for (const n of names) if (isDigits(n)) pids.push(Number(n));
    return pids.sort((a, b) => a - b);
  }

  /** Boot time from the proc root's stat "btime" line (ms since the epoch; 0 when unknown). */
  bootTime(): number {
    if (this.bootTimeMs !== undefined) return this.bootTimeMs;
    let ms = 0;
    try {
      const text = fs.readFileSync(path.join(this.procRoot, 'stat'), 'latin1');
      const i = text.indexOf('\nbtime ');
      const at = i >= 0 ? i + 7 : text.startsWith('btime ') ? 6 : -1;
      if (at >= 0) ms = Number.parseInt(text.slice(at, at + 20), 10) * 1000;
      if (!Number.isFinite(ms)) ms = 0;
    } catch {
      ms = 0;
    }
    this.bootTimeMs = ms;
    return ms;
  }

  /** User name for a uid from <etcRoot>/passwd (read once); the uid as text when unknown. */
  userName(uid: number): string {
    if (this.users === undefined) {
      const users = new Map<number, string>();
      try {
        const text = fs.readFileSync(path.join(this.etcRoot, 'passwd'), 'utf8');
        for (const line of text.split('\n')) {
          const f = line.split(':');
          if (f.length < 3 || !isDigits(f[2])) continue;
          const id = Number(f[2]);
          if (!users.has(id)) users.set(id, f[0]);
        }
      } catch {
        // no passwd: numeric names
      }
      this.users = users;
    }
    return this.users.get(uid) ?? String(uid);
  }

  /**
   * Processes matching `filter` (every given criterion must hold), in pid order. Processes that
   * vanish between files are skipped; a process whose smaps_rollup cannot be read gets
   * `rollupError` and counts in `unreadable`. Kernel threads only with includeKernelThreads.
   * Up to `opts.concurrency` processes (default 8) are read at once, so their cmdline and
   * smaps_rollup reads go to the lockedRead pool in parallel; the signal stops the listing
   * (no process is started after it aborts).
   */
  async listProcesses(
    filter: ProcessFilter = {},
    opts: ReadOptions & { concurrency?: number } = {},
  ): Promise<{ processes: ProcessInfo[]; unreadable: number }> {
    const pids = filter.pids ? [...new Set(filter.pids)].sort((a, b) => a - b) : this.listPids();
    const ctx: ListContext = {
      filter,
      wantUid: filter.user !== undefined && isDigits(filter.user) ? Number(filter.user) : undefined,
      inPod: filter.k8sPod !== undefined ? k8sPodMatcher(filter.k8sPod) : undefined,
      inJob: filter.slurmJob !== undefined ? slurmJobMatcher(filter.slurmJob) : undefined,
      needCgroup: false,
      boot: this.bootTime(),
      signal: opts.signal,
      read: { signal: opts.signal, onSlow: opts.onSlow, resume: opts.resume },
    };
    ctx.needCgroup =
      filter.cgroup !== undefined || ctx.inPod !== undefined || ctx.inJob !== undefined;
    const results = new Array<ProcessInfo | 'skip' | 'unreadable'>(pids.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < pids.length) {
        if (opts.signal?.aborted) throw abortError(opts.signal);
        const i = next++;
        results[i] = await this.listOne(pids[i], ctx);
      }
    };
    const lanes = Math.max(1, Math.min(opts.concurrency ?? 8, pids.length));
    await Promise.all(Array.from({ length: lanes }, lane));
    const processes: ProcessInfo[] = [];
    let unreadable = 0;
    for (const r of results) {
      if (r === 'unreadable') unreadable++;
      else if (r !== 'skip') {
        if (r.rollupError !== undefined) unreadable++;
        processes.push(r);
      }
    }
    return { processes, unreadable };
  }

  /** One process of listProcesses: its info, 'skip' (filtered out or gone) or 'unreadable'. */
  private async listOne(
    pid: number,
    ctx: ListContext,
  ): Promise<ProcessInfo | 'skip' | 'unreadable'> {
    const { filter, wantUid, inPod, inJob, signal } = ctx;
    if (!Number.isSafeInteger(pid) || pid <= 0) return 'skip';
    try {
      const stat = this.statOf(pid, false);
      const kernelThread = (stat.flags & PF_KTHREAD) !== 0;
      if (kernelThread && !filter.includeKernelThreads) return 'skip';
      const status = parseStatus(this.readText(pid, 'status', true));
      if (wantUid !== undefined && status.uid !== wantUid) return 'skip';
      const user = this.userName(status.uid);
      if (filter.user !== undefined && wantUid === undefined && user !== filter.user) return 'skip';
      let cgroup = '';
      try {
        cgroup = parseCgroup(this.readText(pid, 'cgroup', true));
      } catch (e) {
        if (ctx.needCgroup || !(e instanceof PmapError) || e.code === 'EXITED') throw e;
      }
      if (filter.cgroup !== undefined && !cgroup.includes(filter.cgroup)) return 'skip';
      if (inJob !== undefined && !inJob(cgroup)) return 'skip';
      if (inPod !== undefined && !inPod(cgroup)) return 'skip';
      let cmdline: string;
      let stuck: string | undefined;
      try {
        // Kept: what a name regex searches (MAX_MATCHED_CHARS, 4 bytes a character at most) —
        // a listing never holds a process's MBs of arguments beyond that.
        const raw = await this.readLocked(pid, 'cmdline', true, ctx.read);
        cmdline = parseCmdline(
          raw.length > LISTED_CMDLINE_BYTES ? raw.subarray(0, LISTED_CMDLINE_BYTES) : raw,
          stat.comm,
        );
      } catch (e) {
        // Stuck in the kernel with its mmap_lock held: listed by its stat and status alone.
        if (!(e instanceof PmapError && e.code === 'TIMED_OUT')) throw e;
        cmdline = '';
        stuck = e.message;
      }
      if (filter.nameRegex) {
        if (!filter.nameRegex.test(stat.comm) && !filter.nameRegex.test(cmdline)) return 'skip';
      }
      const info: ProcessInfo = {
        pid,
        ppid: stat.ppid,
        comm: stat.comm,
        cmdline,
        uid: status.uid,
        user,
        state: stat.state,
        threads: stat.numThreads,
        startTimeMs: ctx.boot + Math.round((stat.startTimeTicks * 1000) / this.clockTicks),
        vsize: stat.vsize,
        rss: stat.rssPages * this.pageSize,
        cgroup,
        kernelThread,
      };
      if (stuck !== undefined) {
        info.rollupError = stuck;
      } else if (!filter.skipRollup && !kernelThread) {
        try {
          const b = await this.readLocked(pid, 'smaps_rollup', true, ctx.read);
          info.rollup = parseSmapsRollup(b.toString('utf8'));
        } catch (e) {
          if (e instanceof PmapError && e.code === 'PERMISSION_DENIED') {
            info.rollupError = 'permission denied';
          } else if (e instanceof PmapError && (e.code === 'EXITED' || e.code === 'NOT_FOUND')) {
            throw e;
          } else {
            if (signal?.aborted) throw e;
            info.rollupError = e instanceof Error ? e.message : String(e);
          }
        }
      }
      return info;
    } catch (e) {
      if (signal?.aborted) throw abortError(signal);
      // Vanished between files: skip silently. Anything else: skip, counted as unreadable.
      if (!(e instanceof PmapError && (e.code === 'NOT_FOUND' || e.code === 'EXITED'))) {
        return 'unreadable';
      }
      return 'skip';
    }
  }
}

interface ListContext {
  filter: ProcessFilter;
  wantUid: number | undefined;
  inPod: ((cgroup: string) => boolean) | undefined;
  inJob: ((cgroup: string) => boolean) | undefined;
  needCgroup: boolean;
  boot: number;
  signal: AbortSignal | undefined;
  read: ReadOptions;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new PmapError('UNAVAILABLE', 'the read was cancelled');
}
