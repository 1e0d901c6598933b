/**
 * GET /v1/histograms: one histogram kind summed over the fleet. Each selected node (fan-out
 * engine) lists the processes the process selectors match (largest RSS first, capped), runs
 * GetHistogram on each (PER_NODE_CALLS in flight per node) and sums the totals; the gateway sums
 * the nodes. A process whose histogram fails (exited, not permitted…) is listed in its node's
 * `failures`; only a node-level failure (unreachable, deadline) fails the node.
 */
import { Injectable } from '@nestjs/common';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { type HistogramTotals } from '@app/domain';
import { ProcessSort, type ProcessInfo } from '@app/proto';
import { AgentCallError } from '../cluster/agent-connection';
import type { NodeState } from '../cluster/cluster.service';
import { ApiError } from '../common/api-error';
import { rangeJson } from '../maps/map-json';
import { HistogramsService } from '../histograms/histograms.service';
import { emptyTotals, sumTotals } from '../histograms/sum';
import {
  DEFAULT_MAX_PROCESSES,
  type FleetHistogramQuery,
  type FleetHistogramResultDto,
  type FleetHistogramTotalsDto,
  type HistogramNodeDto,
  type ProcessHistogramFailureDto,
} from './dto/fleet-histograms.dto';
import type { NodeCtx } from './fanout';
import { eachLimited, FleetService, PER_NODE_CALLS } from './fleet.service';

const PROCESS_SELECTORS = ['name', 'user', 'cgroup', 've', 'slurmJob', 'k8sPod'] as const;

/** Agent answers that end the whole node task (the others are one process's failure). */
const NODE_FATAL = new Set<GrpcStatus>([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.CANCELLED,
]);

/** A stuck or failed read is that process's failure, whatever its code (the agent is there). */
function nodeFatal(e: AgentCallError): boolean {
  return NODE_FATAL.has(e.code) && e.reason !== 'READ_STUCK' && e.reason !== 'READ_FAILED';
}

interface NodeHistograms {
  matched: number;
  truncated: boolean;
  processes: { p: ProcessInfo; totals: HistogramTotals }[];
  failures: ProcessHistogramFailureDto[];
  totals: HistogramTotals;
}

/** The per-node process cap: limit (capped by maxProcesses), else maxProcesses (default 16). */
export function processCap(q: Pick<FleetHistogramQuery, 'limit' | 'maxProcesses'>): number {
  if (q.limit !== undefined) return Math.min(q.limit, q.maxProcesses ?? q.limit);
  return q.maxProcesses ?? DEFAULT_MAX_PROCESSES;
}

@Injectable()
export class FleetHistogramsService {
  constructor(
    private readonly fleet: FleetService,
    private readonly histograms: HistogramsService,
  ) {}

  async aggregate(
    q: FleetHistogramQuery,
    signal: AbortSignal | undefined,
  ): Promise<FleetHistogramResultDto> {
    if (q.limit === undefined && PROCESS_SELECTORS.every((k) => q[k] === undefined)) {
      throw new ApiError(
        400,
        'a process selector (name, user, cgroup, ve, slurmJob, k8sPod) or limit is required',
        { parameter: 'limit', allowed: `limit=N (1-256) or a process selector` },
      );
    }
    const { range, request } = this.histograms.prepare(q);
    const nodes = this.fleet.select(q);
    const timeoutMs = this.fleet.timeoutOf(q);
    const cap = processCap(q);
    const maxOrder = q.maxOrder ?? 9;
    // The order kind always answers maxOrder + 1 orders, even over no process.
    const zero: HistogramTotals =
      q.kind === 'order'
        ? { ...emptyTotals(), orders: new Array<bigint>(maxOrder + 1).fill(0n) }
        : emptyTotals();
    const listReq = this.fleet.listRequest(q, {
      skipRollup: true,
      sort: ProcessSort.PROCESS_SORT_RSS,
      limit: cap,
    });

    const task = async (node: NodeState, ctx: NodeCtx): Promise<NodeHistograms> => {
      const list = await this.fleet.call(node, ctx, (c, cc) => c.listProcesses(listReq, cc));
      const per = new Array<{ p: ProcessInfo; totals: HistogramTotals } | undefined>(
        list.processes.length,
      );
      const failures: ProcessHistogramFailureDto[] = [];
      await eachLimited(
        list.processes.map((p, i) => [p, i] as const),
        PER_NODE_CALLS,
        async ([p, i]) => {
          try {
            const chunks = await this.fleet.call(node, ctx, (c, cc) =>
              c.getHistogram(request(p.pid), cc),
            );
            per[i] = { p, totals: this.histograms.assemble(node.name, chunks).totals };
          } catch (e) {
            if (e instanceof AgentCallError && !nodeFatal(e)) {
              const code = GrpcStatus[e.code] ?? String(e.code);
              const failure: ProcessHistogramFailureDto = {
                pid: p.pid,
                comm: p.comm,
                code,
                message: e.details,
              };
              if (e.reason !== undefined) failure.reason = e.reason;
              failures.push(failure);
            } else if (e instanceof ApiError) {
              failures.push({ pid: p.pid, comm: p.comm, code: 'DATA_LOSS', message: e.message });
            } else {
              throw e;
            }
          }
        },
      );
      const processes = per
        .filter((x): x is { p: ProcessInfo; totals: HistogramTotals } => x !== undefined)
        .sort((a, b) => a.p.pid - b.p.pid);
      failures.sort((a, b) => a.pid - b.pid);
      return {
        matched: list.totalMatched,
        truncated: list.totalMatched > list.processes.length,
        processes,
        failures,
        totals: sumTotals(q.kind, [zero, ...processes.map((x) => x.totals)]),
      };
    };

    const res = await this.fleet.run(nodes, timeoutMs, signal, task);
    const results = [...res.results].sort((a, b) => a.node.localeCompare(b.node));
    const totalsJson = (t: HistogramTotals, processes: number): FleetHistogramTotalsDto => ({
      ...this.histograms.totalsJson(q.kind, t),
      processes,
    });
    const nodesJson = results.map((r): HistogramNodeDto => ({
      node: r.node,
      durationMs: r.durationMs,
      matched: r.value.matched,
      truncated: r.value.truncated,
      totals: totalsJson(r.value.totals, r.value.processes.length),
      processes: r.value.processes.map(({ p, totals }) => ({
        pid: p.pid,
        comm: p.comm,
        cmdline: p.cmdline,
        user: p.user,
        totals: this.histograms.totalsJson(q.kind, totals),
      })),
      failures: r.value.failures,
    }));
    const fleetTotals = sumTotals(q.kind, [zero, ...results.map((r) => r.value.totals)]);
    const processCount = results.reduce((n, r) => n + r.value.processes.length, 0);
    const out: FleetHistogramResultDto = {
      queried: res.queried,
      responded: res.responded,
      failed: res.failed,
      timeoutMs,
      kind: q.kind,
      range: rangeJson(range),
      maxProcesses: cap,
      totals: totalsJson(fleetTotals, processCount),
      nodes: nodesJson,
    };
    if (q.kind === 'order') {
      out.maxOrder = maxOrder;
      out.compat = q.compat ?? 'none';
    }
    return out;
  }
}
