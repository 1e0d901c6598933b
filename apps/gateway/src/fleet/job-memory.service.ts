/**
 * GET /v1/jobs/slurm/{id}/memory: the job's processes on every selected node (the agent filters
 * them by the job_ID cgroup component), each one's smaps summed by mapping kind, per process, per
 * node and for the job.
 */
import { Injectable } from '@nestjs/common';
import type { ProcessInfo, Vma, VmaKind } from '@app/domain';
import { DetailLevel, vmaFromProto } from '@app/proto';
import { size } from '../common/json';
import type { NodeSelectorQuery } from './dto/fleet-query.dto';
import type { JobMemoryResultDto, JobProcessDto, KindSumsDto } from './dto/fleet-result.dto';
import type { FanOutResult } from './fanout';
import { byNodeName, eachLimited, FleetService, PER_NODE_CALLS } from './fleet.service';

/** Sums of smaps figures (bytes) over VMAs of one kind, or a whole process, node or job. */
export interface KindSums {
  vmas: number;
  size: bigint;
  rss: bigint;
  pss: bigint;
  swap: bigint;
  privateDirty: bigint;
  /** AnonHugePages + ShmemPmdMapped + FilePmdMapped: memory mapped by transparent huge pages. */
  thp: bigint;
}

export function zeroKind(): KindSums {
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

function kindJson(k: KindSums): KindSumsDto {
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

function byKindJson(m: Map<VmaKind, KindSums>): Record<string, KindSumsDto> {
  const out: Record<string, KindSumsDto> = {};
  for (const [k, v] of [...m.entries()].sort((a, b) => (b[1].rss > a[1].rss ? 1 : -1))) {
    out[k] = kindJson(v);
  }
  return out;
}

/** smaps fields of a VMA -> KindSums (kB fields to bytes). */
export function vmaSums(v: Vma): KindSums {
  const k = zeroKind();
  k.vmas = 1;
  k.size = v.end - v.start;
  for (const f of v.fields ?? []) {
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

/** One process of the job: its sums and its sums by kind. */
export interface JobProcessSums {
  p: ProcessInfo;
  sums: KindSums;
  kinds: Map<VmaKind, KindSums>;
}

/** One node's part: the job's processes there (by pid) and how many could not be read. */
export interface JobNode {
  processes: JobProcessSums[];
  unreadable: number;
}

/** A process's sums from its VMAs. */
export function processSums(p: ProcessInfo, vmas: Iterable<Vma>): JobProcessSums {
  const sums = zeroKind();
  const kinds = new Map<VmaKind, KindSums>();
  for (const v of vmas) {
    const s = vmaSums(v);
    addKind(sums, s);
    addToKind(kinds, v.kind, s);
  }
  return { p, sums, kinds };
}

function processJson({ p, sums }: JobProcessSums): JobProcessDto {
  const out: JobProcessDto = {
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
  };
  if (p.cmdlineTruncated) out.cmdlineTruncated = true;
  return out;
}

@Injectable()
export class JobMemoryService {
  constructor(private readonly fleet: FleetService) {}

  async slurmJob(
    id: string,
    q: NodeSelectorQuery,
    signal: AbortSignal | undefined,
  ): Promise<JobMemoryResultDto> {
    const nodes = this.fleet.select(q);
    const timeoutMs = this.fleet.timeoutOf(q);
    const req = this.fleet.listRequest({ slurmJob: id }, { skipRollup: true });
    const res = await this.fleet.run(nodes, timeoutMs, signal, async (n, ctx): Promise<JobNode> => {
      const list = await this.fleet.listProcesses(n, ctx, req);
      const out: JobNode = { processes: [], unreadable: list.unreadable };
      const per = new Array<JobProcessSums | undefined>(list.processes.length);
      await eachLimited(
        list.processes.map((p, i) => [p, i] as const),
        PER_NODE_CALLS,
        async ([p, i]) => {
          const chunks = await this.fleet.processMap(n, ctx, p.pid, DetailLevel.DETAIL_LEVEL_SMAPS);
          if (chunks === 'vanished') return; // exited meanwhile
          if (chunks === 'unreadable') {
            out.unreadable++;
            return;
          }
          per[i] = processSums(
            p,
            chunks.flatMap((c) => c.vmas.map(vmaFromProto)),
          );
        },
      );
      for (const x of per) if (x) out.processes.push(x);
      return out;
    });
    return this.assemble(id, timeoutMs, res);
  }

  /** The answer: nodes running the job (by name), their sums, the job's sums. */
  assemble(id: string, timeoutMs: number, res: FanOutResult<JobNode>): JobMemoryResultDto {
    const results = byNodeName(res.results.filter((r) => r.value.processes.length > 0));
    const total = zeroKind();
    const byKind = new Map<VmaKind, KindSums>();
    let processes = 0;
    const nodes = results.map((r) => {
      const nodeTotal = zeroKind();
      const nodeKinds = new Map<VmaKind, KindSums>();
      for (const x of r.value.processes) {
        addKind(nodeTotal, x.sums);
        for (const [kind, s] of x.kinds) addToKind(nodeKinds, kind, s);
      }
      processes += r.value.processes.length;
      addKind(total, nodeTotal);
      for (const [kind, s] of nodeKinds) addToKind(byKind, kind, s);
      return {
        node: r.node,
        durationMs: r.durationMs,
        unreadable: r.value.unreadable,
        processes: r.value.processes.map(processJson),
        totals: kindJson(nodeTotal),
        byKind: byKindJson(nodeKinds),
      };
    });
    return {
      queried: res.queried,
      responded: res.responded,
      failed: res.failed,
      timeoutMs,
      job: id,
      nodes,
      totals: { ...kindJson(total), processes, nodes: results.length },
      byKind: byKindJson(byKind),
    };
  }
}
