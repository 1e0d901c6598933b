/**
 * ListProcesses: request validation, ProcReader.listProcesses, the command-line cap, sorting,
 * totals, offset, limit and the message-size budget of one answer.
 */
import type { ProcessInfo, ProcessTotals } from '@app/domain';
import type { ProcessFilter, ProcReader, ReadOptions } from '@app/procfs';
import {
  processToProto,
  ProcessSort,
  totalsToProto,
  type ListProcessesRequest,
  type ListProcessesResponse,
} from '@app/proto';
import { invalidArgument, unimplemented } from './errors';
import { compileNameRegex } from './safe-regex';
import type { VeService } from './ve.service';

export interface ProcessList {
  processes: ProcessInfo[];
  totalMatched: number;
  unreadable: number;
  /** Sums over every matching process (before offset and limit), when the request asked. */
  totals?: ProcessTotals;
  /** Non-zero: the answer stopped at this offset to stay within ANSWER_BUDGET_BYTES. */
  nextOffset: number;
}

/** Command lines longer than this many UTF-8 bytes are cut (cmdline_truncated). */
export const CMDLINE_CAP_BYTES = 4096;
/**
 * About how many bytes of processes one ListProcesses answer carries before it stops and sets
 * next_offset: far below gRPC's message limits whatever the node runs.
 */
export const ANSWER_BUDGET_BYTES = 4 * 1024 * 1024;
/** The fixed part of one encoded ProcessInfo with a rollup (numbers and tags), generous. */
const PROCESS_FIXED_BYTES = 256;

/** The figure a sort ranks by; undefined when the process has none (no rollup). */
type SortKey = (p: ProcessInfo) => bigint | undefined;

const SORT_KEYS = new Map<ProcessSort, SortKey>([
  [ProcessSort.PROCESS_SORT_RSS, (p) => p.rollup?.rss ?? p.rss],
  [ProcessSort.PROCESS_SORT_PSS, (p) => p.rollup?.pss],
  [ProcessSort.PROCESS_SORT_SWAP, (p) => p.rollup?.swap],
  [ProcessSort.PROCESS_SORT_ANON_HUGE, (p) => p.rollup?.anonHugePages],
  [ProcessSort.PROCESS_SORT_LOCKED, (p) => p.rollup?.locked],
]);

/**
 * Cuts `s` to at most `cap` UTF-8 bytes at a character boundary; undefined when it fits. One pass
 * over the string, no copy of a string that fits.
 */
export function capUtf8(s: string, cap: number): string | undefined {
  if (s.length * 3 <= cap) return undefined; // fits whatever its characters
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let n: number;
    let width = 1;
    if (c < 0x80) n = 1;
    else if (c < 0x800) n = 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      n = 4;
      width = 2;
    } else n = 3;
    if (bytes + n > cap) return s.slice(0, i);
    bytes += n;
    i += width - 1;
  }
  return undefined;
}

function emptyTotals(): ProcessTotals {
  return {
    processes: 0,
    withoutRollup: 0,
    rss: 0n,
    pss: 0n,
    swap: 0n,
    anonHugePages: 0n,
    locked: 0n,
  };
}

/** Sums every process: rss from the rollup, else /proc/PID/stat; the rest from rollups only. */
export function sumProcesses(processes: readonly ProcessInfo[]): ProcessTotals {
  const t = emptyTotals();
  for (const p of processes) {
    t.processes++;
    const r = p.rollup;
    if (r) {
      t.rss += r.rss;
      t.pss += r.pss;
      t.swap += r.swap;
      t.anonHugePages += r.anonHugePages;
      t.locked += r.locked;
    } else {
      t.rss += p.rss;
      t.withoutRollup++;
    }
  }
  return t;
}

/** About the encoded size of a process (its strings plus the fixed part). */
function approxBytes(p: ProcessInfo): number {
  return (
    PROCESS_FIXED_BYTES + p.cmdline.length * 3 + p.comm.length + p.user.length + p.cgroup.length
  );
}

/** The wire answer of a list. */
export function listResponse(list: ProcessList): ListProcessesResponse {
  return {
    processes: list.processes.map(processToProto),
    totalMatched: list.totalMatched,
    unreadable: list.unreadable,
    totals: list.totals ? totalsToProto(list.totals) : undefined,
    nextOffset: list.nextOffset,
  };
}

export const VE_NOT_AVAILABLE = 'VE targets are not available on this agent';

export class ProcessesService {
  constructor(
    private readonly reader: Pick<ProcReader, 'listProcesses'>,
    /** VE targets and pseudo-process marking (ve.service.ts). */
    private readonly ve: VeService,
  ) {}

  /** Validates the request into a ProcessFilter (throws GrpcStatusError). */
  toFilter(req: ListProcessesRequest): ProcessFilter {
    if (req.veNode !== undefined && !this.ve.available) {
      throw unimplemented(`${VE_NOT_AVAILABLE}: ${this.ve.reason}`);
    }
    if (req.sort !== ProcessSort.PROCESS_SORT_UNSPECIFIED && !SORT_KEYS.has(req.sort)) {
      throw invalidArgument('sort', `sort: unknown value ${req.sort}`);
    }
    const filter: ProcessFilter = {};
    if (req.nameRegex !== '') {
      filter.nameRegex = compileNameRegex(req.nameRegex);
    }
    if (req.user !== '') filter.user = req.user;
    if (req.cgroup !== '') filter.cgroup = req.cgroup;
    if (req.slurmJob !== '') filter.slurmJob = req.slurmJob;
    if (req.k8sPod !== '') filter.k8sPod = req.k8sPod;
    if (req.pids.length > 0) {
      for (const pid of req.pids) {
        if (pid <= 0)
          throw invalidArgument('pids', `pids: pid must be a positive integer, got ${pid}`);
      }
      filter.pids = [...req.pids];
    }
    if (req.skipRollup) filter.skipRollup = true;
    if (req.includeKernelThreads) filter.includeKernelThreads = true;
    return filter;
  }

  /**
   * Every process matching the request's filters, command lines capped, sorted: what `list`
   * pages, and what SearchMaps searches. An aborted `read.signal` stops the listing (its reads
   * are dropped).
   */
  async matching(
    req: ListProcessesRequest,
    read: ReadOptions = {},
  ): Promise<{ processes: ProcessInfo[]; unreadable: number }> {
    const filter = this.toFilter(req);
    const { processes, unreadable } =
      req.veNode !== undefined
        ? await this.ve.listProcesses(req.veNode, filter)
        : await this.reader.listProcesses(filter, read);
    if (req.veNode === undefined) this.ve.markPseudoProcesses(processes);
    for (const p of processes) {
      const cut = capUtf8(p.cmdline, CMDLINE_CAP_BYTES);
      if (cut !== undefined) {
        p.cmdline = cut;
        p.cmdlineTruncated = true;
      }
    }
    const key = SORT_KEYS.get(req.sort);
    if (key) {
      // Decorate once (no key computed per comparison); without the figure after every with it.
      const ranked = processes.map((p) => ({ p, k: key(p) }));
      ranked.sort((a, b) => {
        if (a.k === b.k) return a.p.pid - b.p.pid;
        if (a.k === undefined) return 1;
        if (b.k === undefined) return -1;
        return a.k > b.k ? -1 : 1;
      });
      for (let i = 0; i < ranked.length; i++) processes[i] = ranked[i].p;
    }
    return { processes, unreadable };
  }

  async list(req: ListProcessesRequest, read: ReadOptions = {}): Promise<ProcessList> {
    const { processes, unreadable } = await this.matching(req, read);
    const totalMatched = processes.length;
    const totals = req.totals ? sumProcesses(processes) : undefined;
    const end = req.limit > 0 ? Math.min(totalMatched, req.limit) : totalMatched;
    const page: ProcessInfo[] = [];
    let budget = ANSWER_BUDGET_BYTES;
    let i = Math.min(req.offset, end);
    for (; i < end; i++) {
      const bytes = approxBytes(processes[i]);
      if (page.length > 0 && bytes > budget) break;
      budget -= bytes;
      page.push(processes[i]);
    }
    return { processes: page, totalMatched, unreadable, totals, nextOffset: i < end ? i : 0 };
  }
}
