/**
 * What every fleet route shares: node selection (404), the per-node deadline, the ListProcesses
 * request of the process selectors, the fan-out with this gateway's concurrency, one call to a
 * node's agent within its deadline, a node's process list (every page, as domain types) and one
 * process's map. The routes themselves live in maps-search.service.ts, audit.service.ts and
 * job-memory.service.ts (and fleet-histograms.service.ts).
 */
import { Inject, Injectable, Optional } from '@nestjs/common';
import { setMaxListeners } from 'node:events';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ProcessInfo, ProcessTotals } from '@app/domain';
import {
  processFromProto,
  ProcessSort,
  totalsFromProto,
  type AddressRange as ProtoRange,
  type DetailLevel,
  type GetMemoryMapResponse,
  type ListProcessesRequest,
  type ListProcessesResponse,
  type ProcessInfo as ProtoProcessInfo,
} from '@app/proto';
import { AgentCallError } from '../cluster/agent-connection';
import type { ListedProcess } from '../cluster/listed-process';
import { ClusterService, type NodeState } from '../cluster/cluster.service';
import { ApiError } from '../common/api-error';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config';
import { LIMIT_DEFAULTS } from '../security/security-config';
import { SecurityService } from '../security/security.service';
import type { FleetQuery, NodeSelectorQuery } from './dto/fleet-query.dto';
import {
  DeadlineError,
  fanOut,
  Semaphore,
  type FanOutResult,
  type NodeCtx,
  type NodeOutcome,
} from './fanout';
import { parseSelector, selectNodes } from './selectors';

export const DEFAULT_FANOUT_CONCURRENCY = 64;
/** Default per-node deadline of fleet queries (capped by the gateway's requestTimeoutMs). */
export const DEFAULT_FLEET_TIMEOUT_MS = 5000;
/** Calls in flight to one agent within one node task (maps search, job memory, histograms). */
export const PER_NODE_CALLS = 4;
/** Pages of one ListProcesses answer a node task follows at most (the agent pages at ~4 MiB). */
const MAX_LIST_PAGES = 64;

/** A node's ListProcesses answer, every page, as domain types (or as `convert` made them). */
export interface NodeProcessList<P = ProcessInfo> {
  processes: P[];
  totalMatched: number;
  unreadable: number;
  /** The agent's sums over every matching process, when the request asked for them. */
  totals?: ProcessTotals;
}

/** Runs `fn` over `items`, `limit` at a time; the first error rejects (the rest is abandoned). */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const sem = new Semaphore(limit);
  let failure: Error | undefined;
  await Promise.all(
    items.map(async (item) => {
      const release = await sem.acquire();
      try {
        if (failure === undefined) await fn(item);
      } catch (e) {
        failure ??= e instanceof Error ? e : new Error(String(e));
      } finally {
        release();
      }
    }),
  );
  if (failure !== undefined) throw failure;
}

function isCode(e: unknown, ...codes: GrpcStatus[]): boolean {
  return e instanceof AgentCallError && codes.includes(e.code);
}

/** String.prototype.localeCompare's order, without building a collator per comparison. */
export const nodeOrder = new Intl.Collator().compare;

/** Orders node results by node name (every fleet answer lists nodes that way). */
export function byNodeName<T extends { node: string }>(results: readonly T[]): T[] {
  return [...results].sort((a, b) => nodeOrder(a.node, b.node));
}

@Injectable()
export class FleetService {
  readonly concurrency: number;

  constructor(
    private readonly cluster: ClusterService,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Optional() private readonly security?: SecurityService,
  ) {
    const c = (config as GatewayConfig & { fanoutConcurrency?: number }).fanoutConcurrency;
    this.concurrency = c ?? DEFAULT_FANOUT_CONCURRENCY;
  }

  /** The per-node deadline of a fleet query: `timeout`, else min(5000, requestTimeoutMs). */
  timeoutOf(q: { timeout?: number }): number {
    return q.timeout ?? Math.min(DEFAULT_FLEET_TIMEOUT_MS, this.config.requestTimeoutMs);
  }

  /** The gateway's cap on one answer's bytes (streams are cut there too). */
  get maxResponseBytes(): number {
    return this.security?.limits.maxResponseBytes ?? LIMIT_DEFAULTS.maxResponseBytes;
  }

  /** The nodes a query selects; 404 naming the selectors when none matches. */
  select(q: NodeSelectorQuery): NodeState[] {
    const sel = parseSelector(q);
    const all = this.cluster.list();
    const nodes = selectNodes(
      all.map((n) => ({ name: n.name, labels: n.labels, arch: n.info?.arch, state: n })),
      sel,
    ).map((x) => x.state);
    if (nodes.length === 0) {
      const given = (['nodes', 'labels', 'arch'] as const)
        .filter((k) => q[k] !== undefined)
        .map((k) => `${k}=${q[k]}`);
      throw new ApiError(404, `no node matches ${given.join(' ') || 'the selection'}`, {
        parameter: given.length > 0 ? given[0].split('=')[0] : 'nodes',
        allowed: all.map((n) => n.name),
      });
    }
    return nodes;
  }

  /** The ListProcesses request of the process selectors. */
  listRequest(q: FleetQuery, extra: Partial<ListProcessesRequest> = {}): ListProcessesRequest {
    return {
      nameRegex: q.name ?? '',
      user: q.user ?? '',
      cgroup: q.cgroup ?? '',
      pids: [],
      veNode: q.ve,
      slurmJob: q.slurmJob ?? '',
      k8sPod: q.k8sPod ?? '',
      skipRollup: false,
      sort: ProcessSort.PROCESS_SORT_UNSPECIFIED,
      limit: 0,
      includeKernelThreads: false,
      totals: false,
      offset: 0,
      ...extra,
    };
  }

  /**
   * Fans `task` out over the selected nodes with this gateway's concurrency. `onNode` may return
   * a promise (a stream waiting for its client to read): no further node starts until it settles.
   */
  run<T>(
    nodes: NodeState[],
    timeoutMs: number,
    signal: AbortSignal | undefined,
    task: (node: NodeState, ctx: NodeCtx) => Promise<T>,
    onNode?: (o: NodeOutcome<T>, done: number, total: number) => void | Promise<void>,
  ): Promise<FanOutResult<T>> {
    // Every node call listens on the one request signal: more than the default 10 listeners.
    if (signal) setMaxListeners(0, signal);
    const byName = new Map(nodes.map((n) => [n.name, n]));
    return fanOut(
      nodes.map((n) => n.name),
      (name, ctx) => task(byName.get(name)!, ctx),
      { concurrency: this.concurrency, timeoutMs, signal, onNode },
    );
  }

  /** One call to a node's agent within the node's deadline (unreachable: node marked down). */
  call<T>(
    node: NodeState,
    ctx: NodeCtx,
    fn: (c: NodeState['conn'], cc: { timeoutMs: number; signal?: AbortSignal }) => Promise<T>,
  ): Promise<T> {
    if (Date.now() >= ctx.deadline) return Promise.reject(new DeadlineError());
    return this.cluster.call(node, (c) =>
      fn(c, { timeoutMs: ctx.remaining(), signal: ctx.signal }),
    );
  }

  /**
   * A node's processes for `req`: every page the agent answers (it stops an answer at ~4 MiB and
   * says where to go on), converted to domain types. Pages are read one after the other within
   * the node's deadline; processes that start or exit between pages may shift the list by a few.
   */
  listProcesses(
    node: NodeState,
    ctx: NodeCtx,
    req: ListProcessesRequest,
  ): Promise<NodeProcessList> {
    return this.listPages(node, ctx, req, processFromProto);
  }

  /**
   * listProcesses with each process as `convert` makes it: the audit keeps the agent's messages
   * as they arrived and converts only what makes the fleet's top.
   */
  listPages<P>(
    node: NodeState,
    ctx: NodeCtx,
    req: ListProcessesRequest,
    convert: (p: ProtoProcessInfo) => P,
  ): Promise<NodeProcessList<P>> {
    return this.pages(node, ctx, req, (c, r, cc) => c.listProcesses(r, cc), convert);
  }

  /**
   * listPages with each process decoded only when read (ListedProcess): the audit ranks the
   * candidates on one figure and decodes only the fleet's top.
   */
  listListed(
    node: NodeState,
    ctx: NodeCtx,
    req: ListProcessesRequest,
  ): Promise<NodeProcessList<ListedProcess>> {
    return this.pages(
      node,
      ctx,
      req,
      (c, r, cc) => c.listProcessesListed(r, cc),
      (p) => p,
    );
  }

  private async pages<Q, P>(
    node: NodeState,
    ctx: NodeCtx,
    req: ListProcessesRequest,
    fetch: (
      c: NodeState['conn'],
      r: ListProcessesRequest,
      cc: { timeoutMs: number; signal?: AbortSignal },
    ) => Promise<Omit<ListProcessesResponse, 'processes'> & { processes: Q[] }>,
    convert: (p: Q) => P,
  ): Promise<NodeProcessList<P>> {
    const first = await this.call(node, ctx, (c, cc) => fetch(c, req, cc));
    const out: NodeProcessList<P> = {
      processes: first.processes.map(convert),
      totalMatched: first.totalMatched,
      unreadable: first.unreadable,
    };
    if (first.totals) out.totals = totalsFromProto(first.totals);
    let next = first.nextOffset;
    for (let page = 1; next > 0 && page < MAX_LIST_PAGES; page++) {
      const offset = next;
      const more = await this.call(node, ctx, (c, cc) => fetch(c, { ...req, offset }, cc));
      for (const p of more.processes) out.processes.push(convert(p));
      next = more.nextOffset > offset ? more.nextOffset : 0;
    }
    return out;
  }

  /**
   * GetMemoryMap of one listed process at `detail`: its chunks, or 'vanished' when it exited since
   * the list (NOT_FOUND), 'unreadable' when the agent may not read it (PERMISSION_DENIED) or its
   * read is stuck in the kernel (the agent's reason READ_STUCK): one stuck process does not
   * fail its node.
   */
  async processMap(
    node: NodeState,
    ctx: NodeCtx,
    pid: number,
    detail: DetailLevel,
    opts: { veNode?: number; range?: ProtoRange } = {},
  ): Promise<GetMemoryMapResponse[] | 'vanished' | 'unreadable'> {
    try {
      return await this.call(node, ctx, (c, cc) =>
        c.getMemoryMap(
          {
            pid,
            veNode: opts.veNode,
            range: opts.range,
            detail,
            batchSize: 0,
            threadStacks: false,
          },
          cc,
        ),
      );
    } catch (e) {
      if (isCode(e, GrpcStatus.NOT_FOUND)) return 'vanished';
      if (isCode(e, GrpcStatus.PERMISSION_DENIED)) return 'unreadable';
      if (e instanceof AgentCallError && e.reason === 'READ_STUCK') return 'unreadable';
      throw e;
    }
  }
}
