/**
 * GET /v1/maps: which processes on which nodes map an address range or a mapping name. One
 * SearchMaps call per node: its agent lists the processes, reads their maps and applies the range
 * and the mapping regex (the gateway validates the regex first, for a 400 before any call). JSON
 * collects every node; NDJSON streams each node's part as it arrives (maps-stream.service.ts).
 */
import { Injectable } from '@nestjs/common';
import { compileSafeRegex, type AddressRange, type ProcessInfo, type SafeRegex } from '@app/domain';
import { kindFromProto, processFromProto, rangeToProto, type SearchMapsRequest } from '@app/proto';
import type { NodeState } from '../cluster/cluster.service';
import { ApiError } from '../common/api-error';
import { REGEX_ALLOWED } from '../common/dto/query-fields';
import { parseRangeParam } from '../common/range-param';
import { rangeBoundsJson, vmaBaseJson } from '../maps/map-json';
import { requestStore } from '../security/request-store';
import type { MapsSearchQuery } from './dto/fleet-query.dto';
import type {
  MapMatchDto,
  MapsNodeDto,
  MapsSearchResultDto,
  VmaBriefDto,
} from './dto/fleet-result.dto';
import type { FanOutResult, NodeCtx, NodeOutcome } from './fanout';
import { byNodeName, FleetService } from './fleet.service';

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
  mapping?: SafeRegex;
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
        // validated here, matched at the agents: RE2, linear time or refused
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

  /** Validates a search and selects its nodes (400/404 thrown here, before any answer starts). */
  prepare(q: MapsSearchQuery): PreparedSearch {
    const { range, mapping } = this.parseSearch(q);
    return { q, range, mapping, nodes: this.fleet.select(q), timeoutMs: this.fleet.timeoutOf(q) };
  }

  /**
   * Searches one node in one call: the agent lists the processes, reads each one's maps and
   * applies the range and the mapping regex (SearchMaps); the gateway only converts the matches.
   */
  async searchNode(node: NodeState, ctx: NodeCtx, req: SearchMapsRequest): Promise<NodeMapsResult> {
    // one node's matches are never held beyond the answer's limit (RESOURCE_EXHAUSTED: that
    // node fails, the others answer)
    const maxBytes = this.fleet.maxResponseBytes;
    const chunks = await this.fleet.call(node, ctx, (c, cc) => c.searchMaps(req, cc, maxBytes));
    const last = chunks.at(-1);
    if (!last?.last) throw new Error('the agent ended the search without its counts');
    const out: NodeMapsResult = {
      node: node.name,
      scanned: last.scanned,
      unreadable: last.unreadable,
      vanished: last.vanished,
      matched: 0,
      vmaCount: 0,
      matches: [],
    };
    for (const chunk of chunks) {
      for (const m of chunk.matches) {
        if (!m.process) continue;
        const vmas = m.vmas.map((v): VmaBriefDto => vmaBaseJson(v, kindFromProto(v.kind)));
        out.matches.push(matchOf(node.name, processFromProto(m.process), vmas));
        out.vmaCount += vmas.length;
      }
    }
    out.matched = out.matches.length;
    return out;
  }

  async run(
    s: PreparedSearch,
    signal: AbortSignal | undefined,
    onNode?: (o: NodeOutcome<NodeMapsResult>, done: number, total: number) => void | Promise<void>,
  ): Promise<MapsSearchResultDto> {
    const req: SearchMapsRequest = {
      processes: this.fleet.listRequest(s.q, { skipRollup: true }),
      range: rangeToProto(s.range),
      mappingRegex: s.q.mapping ?? '',
      // a client whose answers are redacted searches the redacted names (no oracle on full paths)
      matchRedactedNames: requestStore()?.redact ?? false,
    };
    const res = await this.fleet.run(
      s.nodes,
      s.timeoutMs,
      signal,
      (n, ctx) => this.searchNode(n, ctx, req),
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
