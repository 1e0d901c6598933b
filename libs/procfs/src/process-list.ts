/**
 * ProcReader.listProcesses: the processes matching a filter, read a few at a time (their
 * cmdline and smaps_rollup reads go to the reader's lockedRead pool in parallel).
 */
import { MAX_MATCHED_CHARS, PmapError, type ProcessInfo } from '@app/domain';
import { k8sPodMatcher, slurmJobMatcher } from './cgroup-match';
import { parseCgroup, parseCmdline, parseSmapsRollup, parseStatus } from './parse';
import { abortError, isDigits, PF_KTHREAD } from './proc-files';
import type { ProcessFilter, ProcStat, ReadOptions } from './types';

/** Bytes of a command line a listing keeps: all a name regex searches (see safe-regex.ts). */
export const LISTED_CMDLINE_BYTES = 4 * MAX_MATCHED_CHARS;

/** What a listing reads through (ProcReader's own reads). */
export interface ListSource {
  readonly clockTicks: number;
  readonly pageSize: bigint;
  statOf(pid: number, started: boolean): ProcStat;
  readText(pid: number, name: string, started: boolean): string;
  readLocked(pid: number, name: string, started: boolean, opts: ReadOptions): Promise<Buffer>;
  userName(uid: number): string;
  bootTime(): number;
  listPids(): number[];
}

/**
 * Processes matching `filter` (every given criterion must hold), in pid order. Processes that
 * vanish between files are skipped; a process whose smaps_rollup cannot be read gets
 * `rollupError` and counts in `unreadable`. Kernel threads only with includeKernelThreads.
 * Up to `opts.concurrency` processes (default 8) are read at once, so their cmdline and
 * smaps_rollup reads go to the lockedRead pool in parallel; the signal stops the listing
 * (no process is started after it aborts).
 */
export async function listProcesses(
  src: ListSource,
  filter: ProcessFilter = {},
  opts: ReadOptions & { concurrency?: number } = {},
): Promise<{ processes: ProcessInfo[]; unreadable: number }> {
  const pids = filter.pids ? [...new Set(filter.pids)].sort((a, b) => a - b) : src.listPids();
  const ctx: ListContext = {
    filter,
    wantUid: filter.user !== undefined && isDigits(filter.user) ? Number(filter.user) : undefined,
    inPod: filter.k8sPod !== undefined ? k8sPodMatcher(filter.k8sPod) : undefined,
    inJob: filter.slurmJob !== undefined ? slurmJobMatcher(filter.slurmJob) : undefined,
    needCgroup: false,
    boot: src.bootTime(),
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
      results[i] = await listOne(src, pids[i], ctx);
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
async function listOne(
  src: ListSource,
  pid: number,
  ctx: ListContext,
): Promise<ProcessInfo | 'skip' | 'unreadable'> {
  const { filter, wantUid, inPod, inJob, signal } = ctx;
  if (!Number.isSafeInteger(pid) || pid <= 0) return 'skip';
  try {
    const stat = src.statOf(pid, false);
    const kernelThread = (stat.flags & PF_KTHREAD) !== 0;
    if (kernelThread && !filter.includeKernelThreads) return 'skip';
    const status = parseStatus(src.readText(pid, 'status', true));
    if (wantUid !== undefined && status.uid !== wantUid) return 'skip';
    const user = src.userName(status.uid);
    if (filter.user !== undefined && wantUid === undefined && user !== filter.user) return 'skip';
    let cgroup = '';
    try {
      cgroup = parseCgroup(src.readText(pid, 'cgroup', true));
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
      const raw = await src.readLocked(pid, 'cmdline', true, ctx.read);
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
      startTimeMs: ctx.boot + Math.round((stat.startTimeTicks * 1000) / src.clockTicks),
      vsize: stat.vsize,
      rss: stat.rssPages * src.pageSize,
      cgroup,
      kernelThread,
    };
    if (stuck !== undefined) {
      info.rollupError = stuck;
    } else if (!filter.skipRollup && !kernelThread) {
      try {
        const b = await src.readLocked(pid, 'smaps_rollup', true, ctx.read);
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
