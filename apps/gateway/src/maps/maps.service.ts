import type { Readable } from 'node:stream';
import { Inject, Injectable, Optional } from '@nestjs/common';
import type { AddressRange, MemoryMap, Vma } from '@app/domain';
import {
  DetailLevel,
  headerFromProto,
  PmapView,
  rangeToProto,
  vmaFromProto,
  type GetMemoryMapRequest,
} from '@app/proto';
import type { Logger } from 'pino';
import { ClusterService } from '../cluster/cluster.service';
import { ApiError } from '../common/api-error';
import { AllExceptionsFilter } from '../common/exception.filter';
import { size } from '../common/json';
import { LOGGER } from '../common/logger';
import { MetricsService } from '../metrics/metrics.service';
import { LIMIT_DEFAULTS } from '../security/security-config';
import { SecurityService } from '../security/security.service';
import type { MapsQuery, MapView } from './dto/maps-query.dto';
import type { MapPairDto, MapTotalsDto, MemoryMapDto, VmaDto } from './dto/memory-map.dto';
import { parseRangeParam } from '../common/range-param';
import { headerJson, rangeJson, vmaBaseJson } from './map-json';
import { MapJsonWriter } from './map-json-writer';
import { streamMap, type MapBodyWriter } from './map-stream';
import { MapTextWriter } from './map-text-writer';
import { checkVeView, mapLinks, noVeSide } from './ve-maps';

export interface FetchedMap {
  node: string;
  view: MapView;
  detail: 'maps' | 'smaps';
  range?: AddressRange;
  map: MemoryMap;
}

const SMAPS_VIEWS = new Set<MapView>(['x', 'X', 'XX', 'illumos']);

/** The pmap text the agent renders for each view (text answers). */
const TEXT_VIEWS: Record<MapView, PmapView> = {
  default: PmapView.PMAP_VIEW_DEFAULT,
  x: PmapView.PMAP_VIEW_EXTENDED,
  X: PmapView.PMAP_VIEW_SMAPS,
  XX: PmapView.PMAP_VIEW_SMAPS_ALL,
  d: PmapView.PMAP_VIEW_DEVICE,
  illumos: PmapView.PMAP_VIEW_ILLUMOS,
};

/** What a maps request asks of the agent. */
interface MapRequest {
  view: MapView;
  detail: 'maps' | 'smaps';
  range?: AddressRange;
  req: GetMemoryMapRequest;
}

/** `links` of a VE process or a VE pseudo process (nothing for other processes). */
function withLinks(m: FetchedMap): Pick<MemoryMapDto, 'links'> {
  const links = mapLinks(m.node, m.map);
  return links ? { links } : {};
}

@Injectable()
export class MapsService {
  constructor(
    private readonly cluster: ClusterService,
    private readonly metrics: MetricsService,
    private readonly errors: AllExceptionsFilter,
    @Inject(LOGGER) private readonly logger: Logger,
    @Optional() private readonly security?: SecurityService,
  ) {}

  /** range/clip parameters -> AddressRange through the one range parser (400 naming `range`). */
  private request(pid: number, q: MapsQuery, text: boolean): MapRequest {
    const view = q.view ?? 'default';
    const range = parseRangeParam(q, view === 'illumos');
    // A VE map is one ve_map_info call with every figure: always smaps level.
    if (q.ve !== undefined) checkVeView(view);
    const detail = SMAPS_VIEWS.has(view) || q.ve !== undefined ? 'smaps' : 'maps';
    const req: GetMemoryMapRequest = {
      pid,
      veNode: q.ve,
      range: rangeToProto(range),
      detail: detail === 'smaps' ? DetailLevel.DETAIL_LEVEL_SMAPS : DetailLevel.DETAIL_LEVEL_MAPS,
      batchSize: 0,
      threadStacks: false,
    };
    if (text) {
      req.textView = TEXT_VIEWS[view];
      req.quiet = q.quiet ?? false;
      req.showPath = q.showPath ?? false;
      req.kernelNames = q.kernelNames ?? false;
    }
    return { view, detail, range, req };
  }

  /**
   * The map as the HTTP body, written as the agent sends it (map-stream.ts): pmap text the agent
   * rendered (byte-identical to pmap on that node), or MemoryMapDto JSON written incrementally.
   * Errors before the first byte are thrown (404, 413, 504...).
   */
  async stream(
    nodeName: string,
    pid: number,
    q: MapsQuery,
    text: boolean,
    signal?: AbortSignal,
  ): Promise<Readable> {
    const node = this.cluster.get(nodeName);
    const r = this.request(pid, q, text);
    const ctx = this.cluster.ctx(q.timeout, signal);
    const writer: MapBodyWriter = text
      ? new MapTextWriter()
      : new MapJsonWriter({ node: node.name, view: r.view, detail: r.detail, range: r.range });
    return this.cluster.call(node, (conn) =>
      streamMap(conn.openMemoryMap(r.req, ctx), writer, {
        node: node.name,
        pid,
        maxBytes: (this.security?.limits ?? LIMIT_DEFAULTS).maxResponseBytes,
        timeoutMs: ctx.timeoutMs,
        toError: (e) => conn.toError(e, ctx),
        toBody: (e) => this.errors.toBody(e),
        onPause: () => this.metrics.mapStreamPaused(),
        onCut: (reason) => this.metrics.mapStreamCut(reason),
        log: this.logger,
      }),
    );
  }

  /** The whole map (side=both). */
  async fetch(
    nodeName: string,
    pid: number,
    q: MapsQuery,
    signal?: AbortSignal,
  ): Promise<FetchedMap> {
    const node = this.cluster.get(nodeName);
    const { view, detail, range, req } = this.request(pid, q, false);
    const chunks = await this.cluster.call(node, (c) =>
      c.getMemoryMap(req, this.cluster.ctx(q.timeout, signal)),
    );
    const first = chunks.find((c) => c.header !== undefined);
    if (!first?.header) {
      throw new ApiError(502, `node '${node.name}' sent a memory map without a header`, {
        node: node.name,
      });
    }
    const vmas: Vma[] = [];
    for (const c of chunks) for (const v of c.vmas) vmas.push(vmaFromProto(v));
    return {
      node: node.name,
      view,
      detail,
      range,
      map: { header: headerFromProto(first.header), vmas },
    };
  }

  /** The DTO of a whole map (what MapJsonWriter writes incrementally). */
  toJson(m: FetchedMap): MemoryMapDto {
    const vmas = m.map.vmas.map((v) => this.vmaJson(v));
    return {
      node: m.node,
      view: m.view,
      detail: m.detail,
      range: rangeJson(m.range),
      header: headerJson(m.map.header),
      vmas,
      totals: this.totals(m.map.vmas, m.detail === 'smaps'),
      ...withLinks(m),
    };
  }

  /**
   * side=both: the host map of a ve_exec pseudo process and the VE map of the same pid. The VE
   * node is q.ve, else what the agent found the pseudo process running on (header.vePseudoOf).
   */
  async both(
    nodeName: string,
    pid: number,
    q: MapsQuery,
    signal?: AbortSignal,
  ): Promise<MapPairDto> {
    const hostQuery = { ...q, ve: undefined };
    const veQuery = (ve: number): MapsQuery => ({ ...q, ve, view: 'default' });
    let host: FetchedMap;
    let ve: FetchedMap;
    if (q.ve !== undefined) {
      [host, ve] = await Promise.all([
        this.fetch(nodeName, pid, hostQuery, signal),
        this.fetch(nodeName, pid, veQuery(q.ve), signal),
      ]);
    } else {
      host = await this.fetch(nodeName, pid, hostQuery, signal);
      const veNode = host.map.header.vePseudoOf;
      if (veNode === undefined) throw noVeSide(host.node, pid);
      ve = await this.fetch(nodeName, pid, veQuery(veNode), signal);
    }
    return {
      node: host.node,
      veNode: ve.map.header.veNode!,
      host: this.toJson(host),
      ve: this.toJson(ve),
    };
  }

  private vmaJson(v: Vma): VmaDto {
    const out: VmaDto = vmaBaseJson(v, v.kind);
    if (v.shmId !== undefined) out.shmId = v.shmId.toString();
    if (v.threadId !== undefined) out.threadId = v.threadId;
    if (v.fields) {
      const fields: Record<string, number | string> = {};
      for (const f of v.fields) fields[f.name] = size(f.kb ? f.value * 1024n : f.value);
      out.fields = fields;
    }
    // VEOS ends every flag with a space: no empty codes
    if (v.vmFlags !== undefined) out.vmFlags = v.vmFlags.split(' ').filter((f) => f !== '');
    if (v.notProvided) out.notProvided = v.notProvided;
    if (v.veNode !== undefined) out.veNode = v.veNode;
    return out;
  }

  /** Totals over the returned VMAs, in bytes. */
  private totals(vmas: Vma[], smaps: boolean): MapTotalsDto {
    let total = 0n;
    let writeablePrivate = 0n;
    let shared = 0n;
    const fields = new Map<string, bigint>();
    for (const v of vmas) {
      const s = v.end - v.start;
      total += s;
      if (v.perms[3] === 's') shared += s;
      else if (v.perms[3] === 'p' && v.perms[1] === 'w') writeablePrivate += s;
      if (v.fields) {
        for (const f of v.fields) {
          if (!f.kb) continue;
          fields.set(f.name, (fields.get(f.name) ?? 0n) + f.value * 1024n);
        }
      }
    }
    const out: MapTotalsDto = {
      vmas: vmas.length,
      size: size(total),
      writeablePrivate: size(writeablePrivate),
      shared: size(shared),
    };
    if (smaps) {
      const get = (name: string): bigint => fields.get(name) ?? 0n;
      out.rss = size(get('Rss'));
      out.pss = size(get('Pss'));
      out.dirty = size(get('Shared_Dirty') + get('Private_Dirty'));
      out.swap = size(get('Swap'));
      const all: Record<string, number | string> = {};
      for (const [k, v] of fields) all[k] = size(v);
      out.fields = all;
    }
    return out;
  }
}
