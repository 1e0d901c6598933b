/**
 * GET /v1/audit: each node's agent sums its matching processes and answers its own top N by the
 * audit key (ListProcesses totals + sort + limit); the gateway merges the node tops into the
 * fleet's top N and adds the node totals. Nothing ships a node's every process.
 */
import { Injectable } from '@nestjs/common';
import type { ProcessInfo, ProcessTotals } from '@app/domain';
import { ProcessSort } from '@app/proto';
import { ListedProcess, type ListedFigure } from '../cluster/listed-process';
import { size, type JsonSize } from '../common/json';
import type { AuditKey, AuditQuery } from './dto/fleet-query.dto';
import type {
  AuditNodeDto,
  AuditProcessDto,
  AuditResultDto,
  AuditTotalsDto,
} from './dto/fleet-result.dto';
import type { FanOutResult } from './fanout';
import { TopN } from './top-n';
import { byNodeName, FleetService, nodeOrder } from './fleet.service';

export const DEFAULT_TOP = 20;

const AUDIT_SORT: Record<AuditKey, ProcessSort> = {
  rss: ProcessSort.PROCESS_SORT_RSS,
  pss: ProcessSort.PROCESS_SORT_PSS,
  swap: ProcessSort.PROCESS_SORT_SWAP,
  anonHuge: ProcessSort.PROCESS_SORT_ANON_HUGE,
  locked: ProcessSort.PROCESS_SORT_LOCKED,
};

/**
 * What the audit reads of a process: a domain ProcessInfo, or the agent's message as it arrived
 * (the same fields: nothing is converted for the candidates that do not make the fleet's top).
 */
export type AuditProcess = Pick<
  ProcessInfo,
  'pid' | 'comm' | 'cmdline' | 'user' | 'cgroup' | 'rss'
> & {
  rollup?: ProcessInfo['rollup'];
  cmdlineTruncated?: boolean;
};

/**
 * A candidate of the fleet's top: a process as read, or as it arrived from a fleet session (only
 * its ranking figure read; decoded when it makes the fleet's top).
 */
export type AuditCandidate = AuditProcess | ListedProcess;

const FIGURE: Record<AuditKey, ListedFigure> = {
  rss: 'rss',
  pss: 'pss',
  swap: 'swap',
  anonHuge: 'anonHugePages',
  locked: 'locked',
};

/** The figure `by` ranks a process by; undefined without a rollup (rss: /proc/PID/stat's). */
export function auditValue(p: AuditCandidate, by: AuditKey): bigint | undefined {
  if (p instanceof ListedProcess) return p.figure(FIGURE[by]);
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

/** One node's part of an audit: the agent's totals and its top N (ranked processes only). */
export interface AuditNode {
  totals: ProcessTotals;
  /** Processes whose details could not be read at all (the agent's `unreadable`). */
  unreadable: number;
  top: { p: AuditCandidate; value: bigint }[];
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

function addNode(to: Sums, n: AuditNode): void {
  to.processes += n.totals.processes;
  to.unreadable += n.unreadable;
  to.rss += n.totals.rss;
  to.pss += n.totals.pss;
  to.swap += n.totals.swap;
  to.anonHuge += n.totals.anonHugePages;
  to.locked += n.totals.locked;
}

function sumsJson(s: Sums): AuditTotalsDto {
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

const opt = (v: bigint | undefined): JsonSize | null => (v === undefined ? null : size(v));

function processJson(node: string, c: AuditCandidate, value: bigint): AuditProcessDto {
  const p = c instanceof ListedProcess ? c.process() : c;
  const out: AuditProcessDto = {
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
  };
  if (p.cmdlineTruncated) out.cmdlineTruncated = true;
  return out;
}

type Ranked = { node: string; p: AuditCandidate; value: bigint };

const pidOf = (p: AuditCandidate): number => (p instanceof ListedProcess ? p.readPid() : p.pid);

/** Descending value, then node name, then pid. */
function rankOrder(a: Ranked, b: Ranked): number {
  if (a.value !== b.value) return a.value > b.value ? -1 : 1;
  return a.node === b.node ? pidOf(a.p) - pidOf(b.p) : nodeOrder(a.node, b.node);
}

@Injectable()
export class AuditService {
  constructor(private readonly fleet: FleetService) {}

  async audit(q: AuditQuery, signal: AbortSignal | undefined): Promise<AuditResultDto> {
    const nodes = this.fleet.select(q);
    const by = q.by ?? 'rss';
    const top = q.top ?? DEFAULT_TOP;
    const timeoutMs = this.fleet.timeoutOf(q);
    const req = this.fleet.listRequest(q, { sort: AUDIT_SORT[by], limit: top, totals: true });
    const res = await this.fleet.run(nodes, timeoutMs, signal, async (n, ctx) => {
      const list = await this.fleet.listListed(n, ctx, req);
      if (!list.totals) throw new Error('the agent answered no totals (an agent older than v2)');
      return this.nodeOf(list.totals, list.unreadable, list.processes, by);
    });
    return this.assemble(by, top, timeoutMs, res);
  }

  /** A node's part from the agent's answer: processes without the figure are not ranked. */
  nodeOf(
    totals: ProcessTotals,
    unreadable: number,
    processes: readonly AuditCandidate[],
    by: AuditKey,
  ): AuditNode {
    const ranked: AuditNode['top'] = [];
    for (const p of processes) {
      const value = auditValue(p, by);
      if (value !== undefined) ranked.push({ p, value });
    }
    return { totals, unreadable, top: ranked };
  }

  /** The answer from every node's part: node totals by name, the fleet's top N merged. */
  assemble(
    by: AuditKey,
    top: number,
    timeoutMs: number,
    res: FanOutResult<AuditNode>,
  ): AuditResultDto {
    const results = byNodeName(res.results);
    const fleet = zeroSums();
    const nodes: AuditNodeDto[] = [];
    const best = new TopN<Ranked>(top, rankOrder);
    for (const r of results) {
      const s = zeroSums();
      addNode(s, r.value);
      addNode(fleet, r.value);
      nodes.push({ node: r.node, durationMs: r.durationMs, ...sumsJson(s) });
      // Each node's list is already ranked; only its first `top` can reach the fleet's top.
      const n = Math.min(top, r.value.top.length);
      for (let i = 0; i < n; i++) {
        const t = r.value.top[i];
        best.offer({ node: r.node, p: t.p, value: t.value });
      }
    }
    const merged = best.sorted();
    return {
      queried: res.queried,
      responded: res.responded,
      failed: res.failed,
      timeoutMs,
      by,
      top,
      processes: merged.map((m) => processJson(m.node, m.p, m.value)),
      nodes,
      totals: sumsJson(fleet),
    };
  }
}
