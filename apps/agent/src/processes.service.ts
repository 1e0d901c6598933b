/**
 * ListProcesses: request validation, ProcReader.listProcesses, sorting and the limit.
 */
import type { ProcessInfo } from '@app/domain';
import type { ProcessFilter, ProcReader, ReadOptions } from '@app/procfs';
import { ProcessSort, type ListProcessesRequest } from '@app/proto';
import { invalidArgument, unimplemented } from './errors';
import { compileNameRegex } from './safe-regex';
import type { VeService } from './ve.service';

export interface ProcessList {
  processes: ProcessInfo[];
  totalMatched: number;
  unreadable: number;
}

type SortKey = (p: ProcessInfo) => bigint;

const SORT_KEYS = new Map<ProcessSort, SortKey>([
  [ProcessSort.PROCESS_SORT_RSS, (p) => p.rollup?.rss ?? p.rss],
  [ProcessSort.PROCESS_SORT_PSS, (p) => p.rollup?.pss ?? 0n],
  [ProcessSort.PROCESS_SORT_SWAP, (p) => p.rollup?.swap ?? 0n],
  [ProcessSort.PROCESS_SORT_ANON_HUGE, (p) => p.rollup?.anonHugePages ?? 0n],
  [ProcessSort.PROCESS_SORT_LOCKED, (p) => p.rollup?.locked ?? 0n],
]);

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
      throw invalidArgument(`sort: unknown value ${req.sort}`);
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
        if (pid <= 0) throw invalidArgument(`pids: pid must be a positive integer, got ${pid}`);
      }
      filter.pids = [...req.pids];
    }
    if (req.skipRollup) filter.skipRollup = true;
    if (req.includeKernelThreads) filter.includeKernelThreads = true;
    return filter;
  }

  /** An aborted `read.signal` stops the listing (its reads are dropped). */
  async list(req: ListProcessesRequest, read: ReadOptions = {}): Promise<ProcessList> {
    const filter = this.toFilter(req);
    const { processes, unreadable } =
      req.veNode !== undefined
        ? await this.ve.listProcesses(req.veNode, filter)
        : await this.reader.listProcesses(filter, read);
    if (req.veNode === undefined) this.ve.markPseudoProcesses(processes);
    const key = SORT_KEYS.get(req.sort);
    if (key) {
      processes.sort((a, b) => {
        const ka = key(a);
        const kb = key(b);
        return ka === kb ? a.pid - b.pid : ka > kb ? -1 : 1;
      });
    }
    const totalMatched = processes.length;
    const limited = req.limit > 0 ? processes.slice(0, req.limit) : processes;
    return { processes: limited, totalMatched, unreadable };
  }
}
