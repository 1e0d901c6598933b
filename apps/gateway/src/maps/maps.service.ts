import type { Readable } from 'node:stream';
import { Inject, Injectable, Optional } from '@nestjs/common';
import type { AddressRange } from '@app/domain';
import {
  DetailLevel,
  PmapView,
  rangeToProto,
  type GetMemoryMapRequest,
  type GetMemoryMapResponse,
  type ProcessHeader,
} from '@app/proto';
import type { Logger } from 'pino';
import { ClusterService } from '../cluster/cluster.service';
import { ApiError } from '../common/api-error';
import { AllExceptionsFilter } from '../common/exception.filter';
import { LOGGER } from '../common/logger';
import { MetricsService } from '../metrics/metrics.service';
import { LIMIT_DEFAULTS } from '../security/security-config';
import { SecurityService } from '../security/security.service';
import type { MapsQuery, MapView } from './dto/maps-query.dto';
import { parseRangeParam } from '../common/range-param';
import { MapJsonWriter } from './map-json-writer';
import { streamMap, type MapBodyWriter } from './map-stream';
import { MapTextWriter } from './map-text-writer';
import { checkVeView, noVeSide } from './ve-maps';

interface FetchedMap {
  node: string;
  view: MapView;
  detail: 'maps' | 'smaps';
  range?: AddressRange;
  header: ProcessHeader;
  chunks: GetMemoryMapResponse[];
}

/** A collected map as MemoryMapDto JSON (the one writer of that shape). */
function wholeJson(m: FetchedMap): string {
  const w = new MapJsonWriter({ node: m.node, view: m.view, detail: m.detail, range: m.range });
  let out = '';
  for (const c of m.chunks) out += w.chunk(c);
  return out + w.end();
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

  /** A whole map, collected (side=both: small VE maps and the pseudo process's map). */
  private async fetch(
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
    const first = chunks[0];
    if (!first?.header) {
      throw new ApiError(502, `node '${node.name}' sent a memory map without a header`, {
        node: node.name,
      });
    }
    return { node: node.name, view, detail, range, header: first.header, chunks };
  }

  /**
   * side=both: the host map of a ve_exec pseudo process and the VE map of the same pid, as the
   * JSON of a MapPairDto. The VE node is q.ve, else what the agent found the pseudo process
   * running on (header.vePseudoOf).
   */
  async both(nodeName: string, pid: number, q: MapsQuery, signal?: AbortSignal): Promise<string> {
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
      const veNode = host.header.vePseudoOf;
      if (veNode === undefined) throw noVeSide(host.node, pid);
      ve = await this.fetch(nodeName, pid, veQuery(veNode), signal);
    }
    if (ve.header.veNode === undefined) {
      throw new ApiError(502, `node '${ve.node}' sent a VE map without its VE node`, {
        node: ve.node,
      });
    }
    // MapPairDto {node, veNode, host, ve}
    return (
      '{"node":' +
      JSON.stringify(host.node) +
      ',"veNode":' +
      String(ve.header.veNode) +
      ',"host":' +
      wholeJson(host) +
      ',"ve":' +
      wholeJson(ve) +
      '}'
    );
  }
}
