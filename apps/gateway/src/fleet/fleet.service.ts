import { Inject, Injectable } from '@nestjs/common';
import { setMaxListeners } from 'node:events';
import { status as GrpcStatus } from '@grpc/grpc-js';
import {
  compileSafeRegex,
  type AddressRange,
  type MemoryRollup,
  type SafeRegex,
  type VmaKind,
} from '@app/domain';
import {
  DetailLevel,
  kindFromProto,
  ProcessSort,
  rangeToProto,
  type AddressRange as ProtoRange,
  type GetMemoryMapResponse,
  type ListProcessesRequest,
  type ProcessInfo,
  type Vma,
} from '@app/proto';
import { AgentCallError } from '../cluster/agent-connection';
import { ClusterService, type NodeState } from '../cluster/cluster.service';
import { ApiError } from '../common/api-error';
import { REGEX_ALLOWED } from '../common/dto/query-fields';
import { parseRangeParam } from '../common/range-param';
import { rangeBoundsJson, vmaBaseJson, type VmaBaseJson } from '../maps/map-json';
import { size, type JsonSize } from '../common/json';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config';
import type {
  AuditKey,
  AuditQuery,
  FleetQuery,
  MapsSearchQuery,
  NodeSelectorQuery,
} from './dto/fleet-query.dto';
import {
  DeadlineError,
  fanOut,
  Semaphore,
  type FanOutResult,
  type NodeCtx,
  type NodeFailure,
  type NodeOutcome,
} from './fanout';
import { parseSelector, selectNodes } from './selectors';

export const DEFAULT_FANOUT_CONCURRENCY = 64;
/** Default per-node deadline of fleet queries (capped by the gateway's requestTimeoutMs). */
export const DEFAULT_FLEET_TIMEOUT_MS = 5000;
/** Calls in flight to one agent within one node task (maps search, job memory, histograms). */
export const PER_NODE_CALLS = 4;
const DEFAULT_TOP = 20;

/** The envelope every fleet answer carries. */
export interface FleetEnvelope {
  queried: number;
  responded: number;
  failed: NodeFailure[];
  timeoutMs: number;
}

// ------------------------------------------------------------------------------------------------
// /v1/maps

export type VmaBrief = VmaBaseJson;

export interface MapMatch {
  node: string;
  pid: number;
  comm: string;
  cmdline: string;
  user: string;
  cgroup: string;
  vmas: VmaBrief[];
}

export interface NodeMapsResult {
  node: string;
  /** Processes whose maps were searched. */
  scanned: number;
  /** Processes whose maps could not be read (permission, or a read stuck in the kernel). */
  unreadable: number;
  /** Processes that exited between the list and the read. */
  vanished: number;
  matches: MapMatch[];
}

export interface MapsSearchResult extends FleetEnvelope {
  range: { low?: string; high?: string } | null;
  mapping: string | null;
  matches: MapMatch[];
  nodes: (Omit<NodeMapsResult, 'matches'> & { matched: number; durationMs: number })[];
  totals: { processes: number; vmas: number; scanned: number; unreadable: number };
}

export interface PreparedSearch {
  q: MapsSearchQuery;
  range?: AddressRange;
  mapping?: SafeRegex;
  nodes: NodeState[];
  timeoutMs: number;
}

// ------------------------------------------------------------------------------------------------
// /v1/audit

const AUDIT_SORT: Record<AuditKey, ProcessSort> = {
  rss: ProcessSort.PROCESS_SORT_RSS,
  pss: ProcessSort.PROCESS_SORT_PSS,
  swap: ProcessSort.PROCESS_SORT_SWAP,
  anonHuge: ProcessSort.PROCESS_SORT_ANON_HUGE,
  locked: ProcessSort.PROCESS_SORT_LOCKED,
};

export interface AuditTotals {
  processes: number;
  unreadable: number;
  rss: JsonSize;
  pss: JsonSize;
  swap: JsonSize;
  anonHuge: JsonSize;
  locked: JsonSize;
}

export interface AuditProcess {
  node: string;
  pid: number;
  comm: string;
  cmdline: string;
  user: string;
  cgroup: string;
  /** The ranked figure (`by`), bytes. */
  value: JsonSize;
  rss: JsonSize;
  pss: JsonSize | null;
  swap: JsonSize | null;
  anonHuge: JsonSize | null;
  locked: JsonSize | null;
}

export interface AuditResult extends FleetEnvelope {
  by: AuditKey;
  top: number;
  processes: AuditProcess[];
  nodes: (AuditTotals & { node: string; durationMs: number })[];
  totals: AuditTotals;
}

interface Sums {
  processes: number;
  unreadable: number;
  rss: bigint;
  pss: bigint;
  swap: bigint;
  anonHuge: bigint;
  locked: bigint;
}

function zeroSums(): Sums {
  return { processes: 0, unreadable: 0, rss: 0n, pss: 0n, swap: 0n, anonHuge: 0n, locked: 0n };
}

function sumsJson(s: Sums): AuditTotals {
  return {
    processes: s.processes,
    unreadable: s.unreadable,
    rss: size(s.rss),
    pss: size(s.pss),
    swap: size(s.swap),
    anonHuge: size(s.anonHuge),
    locked: size(s.locked),
  };
}

function auditValue(p: ProcessInfo, by: AuditKey): bigint | undefined {
  const r = p.rollup;
  switch (by) {
    case 'rss':
      return r?.rss ?? p.rss;
    case 'pss':
      return r?.pss;
    case 'swap':
      return r?.swap;
    case 'anonHuge':
      return r?.anonHugePages;
    case 'locked':
      return r?.locked;
  }
}

interface AuditNode {
  sums: Sums;
  top: { p: ProcessInfo; value: bigint }[];
}

// ------------------------------------------------------------------------------------------------
// /v1/jobs/slurm/{id}/memory

/** Sums of smaps figures (bytes) over VMAs of one kind, or a whole job / node. */
interface KindSums {
  vmas: number;
  size: bigint;
  rss: bigint;
  pss: bigint;
  swap: bigint;
  privateDirty: bigint;
  /** AnonHugePages + ShmemPmdMapped + FilePmdMapped: memory mapped by transparent huge pages. */
  thp: bigint;
}

function zeroKind(): KindSums {
  return { vmas: 0, size: 0n, rss: 0n, pss: 0n, swap: 0n, privateDirty: 0n, thp: 0n };
}

function addKind(to: KindSums, from: KindSums): void {
  to.vmas += from.vmas;
  to.size += from.size;
  to.rss += from.rss;
  to.pss += from.pss;
  to.swap += from.swap;
  to.privateDirty += from.privateDirty;
  to.thp += from.thp;
}

/** Adds `s` into the sums of `kind` in `map`. */
function addToKind(map: Map<VmaKind, KindSums>, kind: VmaKind, s: KindSums): void {
  let k = map.get(kind);
  if (!k) map.set(kind, (k = zeroKind()));
  addKind(k, s);
}

/** THP share of the resident memory, 0..1 (4 decimals); 0 when nothing is resident. */
function thpShare(k: KindSums): number {
  if (k.rss === 0n) return 0;
  return Number((k.thp * 10000n) / k.rss) / 10000;
}

export interface KindSumsJson {
  vmas: number;
  size: JsonSize;
  rss: JsonSize;
  pss: JsonSize;
  swap: JsonSize;
  privateDirty: JsonSize;
  thp: JsonSize;
  thpShare: number;
}

function kindJson(k: KindSums): KindSumsJson {
  return {
    vmas: k.vmas,
    size: size(k.size),
    rss: size(k.rss),
    pss: size(k.pss),
    swap: size(k.swap),
    privateDirty: size(k.privateDirty),
    thp: size(k.thp),
    thpShare: thpShare(k),
  };
}

function byKindJson(m: Map<VmaKind, KindSums>): Record<string, KindSumsJson> {
  const out: Record<string, KindSumsJson> = {};
  for (const [k, v] of [...m.entries()].sort((a, b) => (b[1].rss > a[1].rss ? 1 : -1))) {
    out[k] = kindJson(v);
  }
  return out;
}

export interface JobProcess {
  pid: number;
  comm: string;
  cmdline: string;
  user: string;
  cgroup: string;
  rss: JsonSize;
  pss: JsonSize;
  swap: JsonSize;
  thp: JsonSize;
  thpShare: number;
}

export interface JobNode {
  node: string;
  durationMs: number;
  processes: JobProcess[];
  unreadable: number;
  totals: KindSumsJson;
  byKind: Record<string, KindSumsJson>;
}

export interface JobMemoryResult extends FleetEnvelope {
  job: string;
  /** Nodes running at least one process of the job. */
  nodes: JobNode[];
  totals: KindSumsJson & { processes: number; nodes: number };
  byKind: Record<string, KindSumsJson>;
}

interface JobNodeRaw {
  processes: { p: ProcessInfo; sums: KindSums }[];
  unreadable: number;
  total: KindSums;
  byKind: Map<VmaKind, KindSums>;
}

// ------------------------------------------------------------------------------------------------

function vmaBrief(v: Vma): VmaBrief {
  return vmaBaseJson(v, kindFromProto(v.kind));
}

/** smaps fields of a proto VMA -> KindSums (kB fields to bytes). */
function vmaSums(v: Vma): KindSums {
  const k = zeroKind();
  k.vmas = 1;
  k.size = v.end - v.start;
  for (const f of v.fields) {
    if (!f.kb) continue;
    const b = f.value * 1024n;
    switch (f.name) {
      case 'Rss':
        k.rss = b;
        break;
      case 'Pss':
        k.pss = b;
        break;
      case 'Swap':
        k.swap = b;
        break;
      case 'Private_Dirty':
        k.privateDirty = b;
        break;
      case 'AnonHugePages':
      case 'ShmemPmdMapped':
      case 'FilePmdMapped':
        k.thp += b;
        break;
    }
  }
  return k;
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

@Injectable()
export class FleetService {
  readonly concurrency: number;

  constructor(
    private readonly cluster: ClusterService,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {
    const c = (config as GatewayConfig & { fanoutConcurrency?: number }).fanoutConcurrency;
    this.concurrency = c ?? DEFAULT_FANOUT_CONCURRENCY;
  }

  /** The per-node deadline of a fleet query: `timeout`, else min(5000, requestTimeoutMs). */
  timeoutOf(q: { timeout?: number }): number {
    return q.timeout ?? Math.min(DEFAULT_FLEET_TIMEOUT_MS, this.config.requestTimeoutMs);
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
      ...extra,
    };
  }

  /** Fans `task` out over the selected nodes with this gateway's concurrency. */
  run<T>(
    nodes: NodeState[],
    timeoutMs: number,
    signal: AbortSignal | undefined,
    task: (node: NodeState, ctx: NodeCtx) => Promise<T>,
    onNode?: (o: NodeOutcome<T>, done: number, total: number) => void,
  ): Promise<FanOutResult<T>> {
    // Every node call listens on the one request signal: more than the default 10 listeners.
    if (signal) setMaxListeners(0, signal);
    const byName = new Map(nodes.map((n) => [n.name, n]));
    return fanOut(
      nodes.map((n) => n.name),
      (name, ctx) => task(byName.get(name)!, ctx),
      {
        concurrency: this.concurrency,
        timeoutMs,
        signal,
        onNode,
      },
    );
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

  // ----------------------------------------------------------------------------------------------
  // maps search

  parseSearch(q: MapsSearchQuery): { range?: AddressRange; mapping?: SafeRegex } {
    if (q.range === undefined && q.mapping === undefined) {
      throw new ApiError(400, 'range or mapping is required', {
        parameter: 'range',
        allowed: 'range=LOW[,HIGH] (hex) and/or mapping=REGEX',
      });
    }
    const range = parseRangeParam({ range: q.range });
    let mapping: SafeRegex | undefined;
    if (q.mapping !== undefined) {
      try {
        // matched here against every mapping name of every process: RE2, linear time or refused
        mapping = compileSafeRegex(q.mapping, 'mapping');
      } catch (e) {
        throw new ApiError(400, (e as Error).message, {
          parameter: 'mapping',
          allowed: REGEX_ALLOWED,
        });
      }
    }
    return { range, mapping };
  }

  /** Searches one node: its processes' maps (range filtered by the agent, mapping here). */
  async searchNode(
    node: NodeState,
    ctx: NodeCtx,
    req: ListProcessesRequest,
    range: AddressRange | undefined,
    mapping: SafeRegex | undefined,
  ): Promise<NodeMapsResult> {
    const list = await this.call(node, ctx, (c, cc) =>
      c.listProcesses({ ...req, skipRollup: true }, cc),
    );
    const out: NodeMapsResult = {
      node: node.name,
      scanned: 0,
      unreadable: list.unreadable,
      vanished: 0,
      matches: [],
    };
    const protoRange = rangeToProto(range);
    const found: (MapMatch | undefined)[] = new Array<MapMatch | undefined>(list.processes.length);
    await eachLimited(
      list.processes.map((p, i) => [p, i] as const),
      PER_NODE_CALLS,
      async ([p, i]) => {
        const chunks = await this.processMap(node, ctx, p.pid, DetailLevel.DETAIL_LEVEL_MAPS, {
          veNode: req.veNode,
          range: protoRange,
        });
        if (chunks === 'vanished') {
          out.vanished++;
          return;
        }
        if (chunks === 'unreadable') {
          out.unreadable++;
          return;
        }
        out.scanned++;
        const vmas: VmaBrief[] = [];
        for (const chunk of chunks) {
          for (const v of chunk.vmas) {
            if (mapping && !mapping.test(v.name)) continue;
            vmas.push(vmaBrief(v));
          }
        }
        if (vmas.length > 0) {
          found[i] = {
            node: node.name,
            pid: p.pid,
            comm: p.comm,
            cmdline: p.cmdline,
            user: p.user,
            cgroup: p.cgroup,
            vmas,
          };
        }
      },
    );
    for (const m of found) if (m) out.matches.push(m);
    return out;
  }

  /** Validates a search and selects its nodes (400/404 thrown here, before any answer starts). */
  prepareSearch(q: MapsSearchQuery): PreparedSearch {
    const { range, mapping } = this.parseSearch(q);
    return { q, range, mapping, nodes: this.select(q), timeoutMs: this.timeoutOf(q) };
  }

  async runSearch(
    s: PreparedSearch,
    signal: AbortSignal | undefined,
    onNode?: (o: NodeOutcome<NodeMapsResult>, done: number, total: number) => void,
  ): Promise<MapsSearchResult> {
    const req = this.listRequest(s.q);
    const res = await this.run(
      s.nodes,
      s.timeoutMs,
      signal,
      (n, ctx) => this.searchNode(n, ctx, req, s.range, s.mapping),
      onNode,
    );
    return this.mapsSummary(s.q, s.range, res, s.timeoutMs);
  }

  searchMaps(q: MapsSearchQuery, signal: AbortSignal | undefined): Promise<MapsSearchResult> {
    return this.runSearch(this.prepareSearch(q), signal);
  }

  mapsSummary(
    q: MapsSearchQuery,
    range: AddressRange | undefined,
    res: FanOutResult<NodeMapsResult>,
    timeoutMs: number,
  ): MapsSearchResult {
    const results = [...res.results].sort((a, b) => a.node.localeCompare(b.node));
    const matches = results.flatMap((r) => r.value.matches);
    const totals = { processes: matches.length, vmas: 0, scanned: 0, unreadable: 0 };
    for (const m of matches) totals.vmas += m.vmas.length;
    for (const r of results) {
      totals.scanned += r.value.scanned;
      totals.unreadable += r.value.unreadable;
    }
    return {
      queried: res.queried,
      responded: res.responded,
      failed: res.failed,
      timeoutMs,
      range: range ? rangeBoundsJson(range) : null,
      mapping: q.mapping ?? null,
      matches,
      nodes: results.map((r) => ({
        node: r.node,
        scanned: r.value.scanned,
        unreadable: r.value.unreadable,
        vanished: r.value.vanished,
        matched: r.value.matches.length,
        durationMs: r.durationMs,
      })),
      totals,
    };
  }

  // ----------------------------------------------------------------------------------------------
  // audit

  async audit(q: AuditQuery, signal: AbortSignal | undefined): Promise<AuditResult> {
    const nodes = this.select(q);
    const by = q.by ?? 'rss';
    const top = q.top ?? DEFAULT_TOP;
    const timeoutMs = this.timeoutOf(q);
    // Every process is needed for the per-node totals; the agent sorts, the gateway keeps top N.
    const req = this.listRequest(q, { sort: AUDIT_SORT[by] });
    const res = await this.run(nodes, timeoutMs, signal, async (n, ctx): Promise<AuditNode> => {
      const list = await this.call(n, ctx, (c, cc) => c.listProcesses(req, cc));
      const sums = zeroSums();
      sums.unreadable = list.unreadable;
      const ranked: { p: ProcessInfo; value: bigint }[] = [];
      for (const p of list.processes) {
        sums.processes++;
        const r: MemoryRollup | undefined = p.rollup;
        sums.rss += r?.rss ?? p.rss;
        if (r) {
          sums.pss += r.pss;
          sums.swap += r.swap;
          sums.anonHuge += r.anonHugePages;
          sums.locked += r.locked;
        }
        const value = auditValue(p, by);
        if (value !== undefined) ranked.push({ p, value });
      }
      ranked.sort((a, b) => (a.value === b.value ? a.p.pid - b.p.pid : a.value > b.value ? -1 : 1));
      return { sums, top: ranked.slice(0, top) };
    });
    const results = [...res.results].sort((a, b) => a.node.localeCompare(b.node));
    const fleet = zeroSums();
    const merged: { node: string; p: ProcessInfo; value: bigint }[] = [];
    for (const r of results) {
      const s = r.value.sums;
      fleet.processes += s.processes;
      fleet.unreadable += s.unreadable;
      fleet.rss += s.rss;
      fleet.pss += s.pss;
      fleet.swap += s.swap;
      fleet.anonHuge += s.anonHuge;
      fleet.locked += s.locked;
      for (const t of r.value.top) merged.push({ node: r.node, ...t });
    }
    merged.sort((a, b) =>
      a.value === b.value
        ? a.node === b.node
          ? a.p.pid - b.p.pid
          : a.node.localeCompare(b.node)
        : a.value > b.value
          ? -1
          : 1,
    );
    const opt = (v: bigint | undefined): JsonSize | null => (v === undefined ? null : size(v));
    return {
      queried: res.queried,
      responded: res.responded,
      failed: res.failed,
      timeoutMs,
      by,
      top,
      processes: merged.slice(0, top).map(({ node, p, value }) => ({
        node,
        pid: p.pid,
        comm: p.comm,
        cmdline: p.cmdline,
        user: p.user,
        cgroup: p.cgroup,
        value: size(value),
        rss: size(p.rollup?.rss ?? p.rss),
        pss: opt(p.rollup?.pss),
        swap: opt(p.rollup?.swap),
        anonHuge: opt(p.rollup?.anonHugePages),
        locked: opt(p.rollup?.locked),
      })),
      nodes: results.map((r) => ({
        node: r.node,
        durationMs: r.durationMs,
        ...sumsJson(r.value.sums),
      })),
      totals: sumsJson(fleet),
    };
  }

  // ----------------------------------------------------------------------------------------------
  // Slurm job memory

  async slurmJob(
    id: string,
    q: NodeSelectorQuery,
    signal: AbortSignal | undefined,
  ): Promise<JobMemoryResult> {
    const nodes = this.select(q);
    const timeoutMs = this.timeoutOf(q);
    const req = this.listRequest({ slurmJob: id }, { skipRollup: true });
    const res = await this.run(nodes, timeoutMs, signal, async (n, ctx): Promise<JobNodeRaw> => {
      const list = await this.call(n, ctx, (c, cc) => c.listProcesses(req, cc));
      const out: JobNodeRaw = {
        processes: [],
        unreadable: list.unreadable,
        total: zeroKind(),
        byKind: new Map(),
      };
      type PerProcess = { p: ProcessInfo; sums: KindSums; kinds: Map<VmaKind, KindSums> };
      const per = new Array<PerProcess | undefined>(list.processes.length);
      await eachLimited(
        list.processes.map((p, i) => [p, i] as const),
        PER_NODE_CALLS,
        async ([p, i]) => {
          const chunks = await this.processMap(n, ctx, p.pid, DetailLevel.DETAIL_LEVEL_SMAPS);
          if (chunks === 'vanished') return; // exited meanwhile
          if (chunks === 'unreadable') {
            out.unreadable++;
            return;
          }
          const sums = zeroKind();
          const kinds = new Map<VmaKind, KindSums>();
          for (const chunk of chunks) {
            for (const v of chunk.vmas) {
              const s = vmaSums(v);
              addKind(sums, s);
              addToKind(kinds, kindFromProto(v.kind), s);
            }
          }
          per[i] = { p, sums, kinds };
        },
      );
      for (const x of per) {
        if (!x) continue;
        out.processes.push({ p: x.p, sums: x.sums });
        addKind(out.total, x.sums);
        for (const [kind, s] of x.kinds) addToKind(out.byKind, kind, s);
      }
      return out;
    });
    const results = [...res.results]
      .filter((r) => r.value.processes.length > 0)
      .sort((a, b) => a.node.localeCompare(b.node));
    const total = zeroKind();
    const byKind = new Map<VmaKind, KindSums>();
    let processes = 0;
    for (const r of results) {
      processes += r.value.processes.length;
      addKind(total, r.value.total);
      for (const [kind, s] of r.value.byKind) addToKind(byKind, kind, s);
    }
    return {
      queried: res.queried,
      responded: res.responded,
      failed: res.failed,
      timeoutMs,
      job: id,
      nodes: results.map((r) => ({
        node: r.node,
        durationMs: r.durationMs,
        unreadable: r.value.unreadable,
        processes: r.value.processes.map(({ p, sums }) => ({
          pid: p.pid,
          comm: p.comm,
          cmdline: p.cmdline,
          user: p.user,
          cgroup: p.cgroup,
          rss: size(sums.rss),
          pss: size(sums.pss),
          swap: size(sums.swap),
          thp: size(sums.thp),
          thpShare: thpShare(sums),
        })),
        totals: kindJson(r.value.total),
        byKind: byKindJson(r.value.byKind),
      })),
      totals: { ...kindJson(total), processes, nodes: results.length },
      byKind: byKindJson(byKind),
    };
  }
}
