/**
 * GET /v1/maps: which processes on which nodes map an address range or a mapping name. Each node
 * lists its processes (no rollup), then reads each one's maps with the range applied by the agent;
 * the mapping regex is applied here. JSON collects every node; NDJSON streams each node's part as
 * it arrives (maps-stream.ts).
 */
import { Injectable } from '@nestjs/common';
import { compileSafeRegex, type AddressRange, type ProcessInfo } from '@app/domain';
import { DetailLevel, kindFromProto, rangeToProto, type ListProcessesRequest } from '@app/proto';
import type { NodeState } from '../cluster/cluster.service';
import { ApiError } from '../common/api-error';
import { parseRangeParam } from '../common/range-param';
import { rangeBoundsJson, vmaBaseJson } from '../maps/map-json';
import type { MapsSearchQuery } from './dto/fleet-query.dto';
import type {
  MapMatchDto,
  MapsNodeDto,
  MapsSearchResultDto,
  VmaBriefDto,
} from './dto/fleet-result.dto';
import type { FanOutResult, NodeCtx, NodeOutcome } from './fanout';
import { byNodeName, eachLimited, FleetService, PER_NODE_CALLS } from './fleet.service';

/**
 * One node's part of a search: its counts and its matches (by pid). `matched` and `vmaCount`
 * count the matches, so that a stream may let `matches` go once written.
 */
export type NodeMapsResult = Omit<MapsNodeDto, 'durationMs'> & {
  vmaCount: number;
  matches: MapMatchDto[];
};

export interface PreparedSearch {
  q: MapsSearchQuery;
  range?: AddressRange;
  mapping?: RegExp;
  nodes: NodeState[];
  timeoutMs: number;
}

function matchOf(node: string, p: ProcessInfo, vmas: VmaBriefDto[]): MapMatchDto {
  const m: MapMatchDto = {
    node,
    pid: p.pid,
    comm: p.comm,
    cmdline: p.cmdline,
    user: p.user,
    cgroup: p.cgroup,
    vmas,
  };
  if (p.cmdlineTruncated) m.cmdlineTruncated = true;
  return m;
}

@Injectable()
export class MapsSearchService {
  constructor(private readonly fleet: FleetService) {}

  parseSearch(q: MapsSearchQuery): { range?: AddressRange; mapping?: RegExp } {
    if (q.range === undefined && q.mapping === undefined) {
      throw new ApiError(400, 'range or mapping is required', {
        parameter: 'range',
        allowed: 'range=LOW[,HIGH] (hex) and/or mapping=REGEX',
      });
    }
    const range = parseRangeParam({ range: q.range });
    let mapping: RegExp | undefined;
    if (q.mapping !== undefined) {
      try {
        // matched here against every mapping name of every process: linear time or refused
        mapping = compileSafeRegex(q.mapping, 'mapping');
      } catch (e) {
        throw new ApiError(400, (e as Error).message, {
          parameter: 'mapping',
          allowed: 'an ECMAScript regular expression',
        });
      }
    }
    return { range, mapping };
  }

  /** Validates a search and selects its nodes (400/404 thrown here, before any answer starts). */
  prepare(q: MapsSearchQuery): PreparedSearch {
    const { range, mapping } = this.parseSearch(q);
    return { q, range, mapping, nodes: this.fleet.select(q), timeoutMs: this.fleet.timeoutOf(q) };
  }

  /** Searches one node: its processes' maps (range filtered by the agent, mapping here). */
  async searchNode(
    node: NodeState,
    ctx: NodeCtx,
    req: ListProcessesRequest,
    range: AddressRange | undefined,
    mapping: RegExp | undefined,
  ): Promise<NodeMapsResult> {
    const list = await this.fleet.listProcesses(node, ctx, { ...req, skipRollup: true });
    const out: NodeMapsResult = {
      node: node.name,
      scanned: 0,
      unreadable: list.unreadable,
      vanished: 0,
      matched: 0,
      vmaCount: 0,
      matches: [],
    };
    const protoRange = rangeToProto(range);
    const found = new Array<MapMatchDto | undefined>(list.processes.length);
    await eachLimited(
      list.processes.map((p, i) => [p, i] as const),
      PER_NODE_CALLS,
      async ([p, i]) => {
        const chunks = await this.fleet.processMap(
          node,
          ctx,
          p.pid,
          DetailLevel.DETAIL_LEVEL_MAPS,
          {
            veNode: req.veNode,
            range: protoRange,
          },
        );
        if (chunks === 'vanished') {
          out.vanished++;
          return;
        }
        if (chunks === 'unreadable') {
          out.unreadable++;
          return;
        }
        out.scanned++;
        const vmas: VmaBriefDto[] = [];
        for (const chunk of chunks) {
          for (const v of chunk.vmas) {
            if (mapping) {
              mapping.lastIndex = 0;
              if (!mapping.test(v.name)) continue;
            }
            vmas.push(vmaBaseJson(v, kindFromProto(v.kind)));
          }
        }
        if (vmas.length > 0) found[i] = matchOf(node.name, p, vmas);
      },
    );
    for (const m of found) {
      if (!m) continue;
      out.matches.push(m);
      out.vmaCount += m.vmas.length;
    }
    out.matched = out.matches.length;
    return out;
  }

  async run(
    s: PreparedSearch,
    signal: AbortSignal | undefined,
    onNode?: (o: NodeOutcome<NodeMapsResult>, done: number, total: number) => void | Promise<void>,
  ): Promise<MapsSearchResultDto> {
    const req = this.fleet.listRequest(s.q);
    const res = await this.fleet.run(
      s.nodes,
      s.timeoutMs,
      signal,
      (n, ctx) => this.searchNode(n, ctx, req, s.range, s.mapping),
      onNode,
    );
    return this.summary(s.q, s.range, res, s.timeoutMs);
  }

  search(q: MapsSearchQuery, signal: AbortSignal | undefined): Promise<MapsSearchResultDto> {
    return this.run(this.prepare(q), signal);
  }

  /** The whole answer (JSON), or the stream's summary (its `matches` are let go once written). */
  summary(
    q: MapsSearchQuery,
    range: AddressRange | undefined,
    res: FanOutResult<NodeMapsResult>,
    timeoutMs: number,
  ): MapsSearchResultDto {
    const results = byNodeName(res.results);
    const matches = results.flatMap((r) => r.value.matches);
    const totals = { processes: 0, vmas: 0, scanned: 0, unreadable: 0 };
    for (const r of results) {
      totals.processes += r.value.matched;
      totals.vmas += r.value.vmaCount;
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
        matched: r.value.matched,
        durationMs: r.durationMs,
      })),
      totals,
    };
  }
}
