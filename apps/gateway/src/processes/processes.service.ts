import { Injectable } from '@nestjs/common';
import type { MemoryRollup, ProcessInfo } from '@app/domain';
import { processFromProto, ProcessSort, type ListProcessesRequest } from '@app/proto';
import { ClusterService } from '../cluster/cluster.service';
import { size, type JsonSize } from '../common/json';
import type { ProcessesQuery, ProcessSortName } from './dto/processes-query.dto';
import type { ProcessDto, ProcessListDto, RollupDto } from './dto/process.dto';

const SORT: Record<ProcessSortName, ProcessSort> = {
  pid: ProcessSort.PROCESS_SORT_UNSPECIFIED,
  rss: ProcessSort.PROCESS_SORT_RSS,
  pss: ProcessSort.PROCESS_SORT_PSS,
  swap: ProcessSort.PROCESS_SORT_SWAP,
};

export interface ProcessList {
  node: string;
  totalMatched: number;
  unreadable: number;
  processes: ProcessInfo[];
}

/** Pages of one ListProcesses answer followed at most. */
const MAX_PAGES = 64;

function rollupJson(r: MemoryRollup): RollupDto {
  const out = {} as Record<keyof MemoryRollup, JsonSize>;
  for (const k of Object.keys(r) as (keyof MemoryRollup)[]) out[k] = size(r[k]);
  return out;
}

function kib(v: bigint | undefined): string {
  return v === undefined ? '-' : (v / 1024n).toString();
}

@Injectable()
export class ProcessesService {
  constructor(private readonly cluster: ClusterService) {}

  async list(nodeName: string, q: ProcessesQuery, signal?: AbortSignal): Promise<ProcessList> {
    const node = this.cluster.get(nodeName);
    const req: ListProcessesRequest = {
      nameRegex: q.name ?? '',
      user: q.user ?? '',
      cgroup: q.cgroup ?? '',
      pids: [],
      veNode: q.ve,
      slurmJob: '',
      k8sPod: '',
      skipRollup: false,
      sort: SORT[q.sort ?? 'pid'],
      limit: q.limit ?? 0,
      includeKernelThreads: q.kernelThreads ?? false,
      totals: false,
      offset: 0,
    };
    const ctx = this.cluster.ctx(q.timeout, signal);
    const deadline = Date.now() + ctx.timeoutMs;
    const res = await this.cluster.call(node, (c) => c.listProcesses(req, ctx));
    const processes = res.processes.map(processFromProto);
    // The agent stops an answer at ~4 MiB and says where to go on (next_offset).
    for (let next = res.nextOffset, pages = 1; next > 0 && pages < MAX_PAGES; pages++) {
      const page = await this.cluster.call(node, (c) =>
        c.listProcesses(
          { ...req, offset: next },
          { timeoutMs: Math.max(1, deadline - Date.now()), signal },
        ),
      );
      for (const p of page.processes) processes.push(processFromProto(p));
      next = page.nextOffset > next ? page.nextOffset : 0;
    }
    return {
      node: node.name,
      totalMatched: res.totalMatched,
      unreadable: res.unreadable,
      processes,
    };
  }

  toJson(list: ProcessList): ProcessListDto {
    return {
      node: list.node,
      totalMatched: list.totalMatched,
      unreadable: list.unreadable,
      processes: list.processes.map((p): ProcessDto => {
        const out: ProcessDto = {
          pid: p.pid,
          ppid: p.ppid,
          comm: p.comm,
          cmdline: p.cmdline,
          uid: p.uid,
          user: p.user,
          state: p.state,
          threads: p.threads,
          startTime: new Date(p.startTimeMs).toISOString(),
          vsize: size(p.vsize),
          rss: size(p.rollup?.rss ?? p.rss),
          cgroup: p.cgroup,
          kernelThread: p.kernelThread,
        };
        if (p.cmdlineTruncated) out.cmdlineTruncated = true;
        if (p.rollup) {
          out.pss = size(p.rollup.pss);
          out.swap = size(p.rollup.swap);
          out.rollup = rollupJson(p.rollup);
        }
        if (p.rollupError) out.rollupError = p.rollupError;
        if (p.veNode !== undefined) out.veNode = p.veNode;
        if (p.vePseudoOf !== undefined) out.vePseudoOf = p.vePseudoOf;
        return out;
      }),
    };
  }

  /**
   * A ps-like table: `PID USER RSS PSS SWAP COMMAND`, sizes in KiB (like ps), "-" where the rollup
   * could not be read; PID right-aligned in 7, USER left-aligned in 12, sizes right-aligned in 10,
   * COMMAND the command line ("[comm]" for kernel threads), one space between columns.
   */
  toText(list: ProcessList): string {
    const lines = [
      `${'PID'.padStart(7)} ${'USER'.padEnd(12)} ${'RSS'.padStart(10)} ${'PSS'.padStart(10)} ${'SWAP'.padStart(10)} COMMAND`,
    ];
    for (const p of list.processes) {
      const command = p.cmdline !== '' ? p.cmdline : `[${p.comm}]`;
      lines.push(
        `${String(p.pid).padStart(7)} ${p.user.padEnd(12)} ${kib(p.rollup?.rss ?? p.rss).padStart(10)} ${kib(p.rollup?.pss).padStart(10)} ${kib(p.rollup?.swap).padStart(10)} ${command}`,
      );
    }
    return lines.join('\n') + '\n';
  }
}
