import { Injectable } from '@nestjs/common';
import {
  type AddressRange,
  type ProcessHeader,
  type HistogramBin,
  type HistogramKind as DomainHistogramKind,
  type HistogramRun,
  type HistogramTotals,
  type VmaHistogram,
} from '@app/domain';
import { renderHistogram } from '@app/pmap-format';
import {
  HistogramCompat,
  headerFromProto,
  histogramKindToProto,
  histogramTotalsFromProto,
  rangeToProto,
  vmaHistogramFromProto,
  type GetHistogramRequest,
  type GetHistogramResponse,
} from '@app/proto';
import { ClusterService } from '../cluster/cluster.service';
import { ApiError } from '../common/api-error';
import { addr, size } from '../common/json';
import { parseRangeParam } from '../common/range-param';
import { headerJson, rangeJson } from '../maps/map-json';
import type { HistogramQuery } from './dto/histogram-query.dto';
import type {
  HistogramBinDto,
  HistogramDto,
  HistogramRunDto,
  HistogramTotalsDto,
  VmaHistogramDto,
} from './dto/histogram.dto';

/** The histogram options GetHistogram takes (HistogramQuery and the fleet query share them). */
export type HistogramOptionsQuery = Pick<
  HistogramQuery,
  | 'kind'
  | 'range'
  | 'clip'
  | 've'
  | 'omitFileBacked'
  | 'omitUnfaulted'
  | 'maxOrder'
  | 'compat'
  | 'runs'
>;

export interface FetchedHistogram {
  node: string;
  kind: DomainHistogramKind;
  query: HistogramQuery;
  range?: AddressRange;
  header: ProcessHeader;
  vmas: VmaHistogram[];
  totals: HistogramTotals;
}

function binJson(b: HistogramBin): HistogramBinDto {
  const out: HistogramBinDto = {
    key: b.key,
    pageSize: size(b.pageSize),
    category: b.category,
    count: size(b.count),
    bytes: size(b.bytes),
  };
  if (b.numaNode !== undefined) out.numaNode = b.numaNode;
  return out;
}

function runJson(r: HistogramRun): HistogramRunDto {
  const out: HistogramRunDto = {
    start: addr(r.start),
    end: addr(r.end),
    size: size(r.end - r.start),
    pageSize: size(r.pageSize),
    present: r.present,
  };
  if (r.numaNode !== undefined) out.numaNode = r.numaNode;
  return out;
}

/** GET …/histogram: GetHistogram on the node's agent, as JSON or text tables. */
@Injectable()
export class HistogramsService {
  constructor(private readonly cluster: ClusterService) {}

  /** Checks the combinations the DTO cannot express (400 naming the parameter). */
  private checkCombination(q: HistogramOptionsQuery): void {
    if (q.compat === 'memhist' && q.kind !== 'order') {
      throw new ApiError(400, 'compat=memhist applies to kind=order only', {
        parameter: 'compat',
        allowed: ['none', 'memhist (kind=order)'],
      });
    }
    if (q.runs && q.kind !== 'pagesize' && q.kind !== 'numa') {
      throw new ApiError(400, 'runs applies to kind=pagesize and kind=numa only', {
        parameter: 'runs',
        allowed: ['true (kind=pagesize or numa)', 'false'],
      });
    }
    if (q.maxOrder !== undefined && q.kind !== 'order') {
      throw new ApiError(400, 'maxOrder applies to kind=order only', {
        parameter: 'maxOrder',
        allowed: 'an integer 0-30 with kind=order',
      });
    }
  }

  /**
   * Validates the histogram options (400 naming the parameter) and returns the parsed range and
   * the GetHistogram request of a pid. Shared with the fleet histograms (GET /v1/histograms).
   */
  prepare(q: HistogramOptionsQuery): {
    range?: AddressRange;
    request(pid: number): GetHistogramRequest;
  } {
    this.checkCombination(q);
    const range = parseRangeParam(q);
    const protoRange = rangeToProto(range);
    return {
      range,
      request: (pid) => ({
        pid,
        veNode: q.ve,
        kind: histogramKindToProto(q.kind),
        range: protoRange,
        omitFileBacked: q.omitFileBacked ?? false,
        omitUnfaulted: q.omitUnfaulted ?? false,
        maxOrder: q.maxOrder,
        compat:
          q.compat === 'memhist'
            ? HistogramCompat.HISTOGRAM_COMPAT_MEMHIST
            : HistogramCompat.HISTOGRAM_COMPAT_UNSPECIFIED,
        runs: q.runs ?? false,
      }),
    };
  }

  /** A GetHistogram stream's messages -> header, VMAs, totals (502 when the stream is cut short). */
  assemble(
    nodeName: string,
    chunks: GetHistogramResponse[],
  ): { header: ProcessHeader; vmas: VmaHistogram[]; totals: HistogramTotals } {
    const header = chunks.find((c) => c.header !== undefined)?.header;
    const last = chunks[chunks.length - 1];
    if (!header || !last?.last || !last.totals) {
      throw new ApiError(502, `node '${nodeName}' sent an incomplete histogram`, {
        node: nodeName,
      });
    }
    const vmas: VmaHistogram[] = [];
    for (const c of chunks) for (const v of c.vmas) vmas.push(vmaHistogramFromProto(v));
    return {
      header: headerFromProto(header),
      vmas,
      totals: histogramTotalsFromProto(last.totals),
    };
  }

  async fetch(
    nodeName: string,
    pid: number,
    q: HistogramQuery,
    signal?: AbortSignal,
  ): Promise<FetchedHistogram> {
    const node = this.cluster.get(nodeName);
    const { range, request } = this.prepare(q);
    const chunks: GetHistogramResponse[] = await this.cluster.call(node, (c) =>
      c.getHistogram(request(pid), this.cluster.ctx(q.timeout, signal)),
    );
    return { node: node.name, kind: q.kind, query: q, range, ...this.assemble(node.name, chunks) };
  }

  toText(h: FetchedHistogram): string {
    return renderHistogram(
      { kind: h.kind, header: h.header, vmas: h.vmas, totals: h.totals },
      { runs: h.query.runs ?? false },
    );
  }

  /** Totals as JSON: `orders` for the order kind, else `bins`. */
  totalsJson(kind: DomainHistogramKind, t: HistogramTotals): HistogramTotalsDto {
    const out: HistogramTotalsDto = { vmas: t.vmas, presentPages: size(t.presentPages) };
    if (kind === 'order') out.orders = t.orders.map(size);
    else out.bins = t.bins.map(binJson);
    return out;
  }

  toJson(h: FetchedHistogram): HistogramDto {
    const order = h.kind === 'order';
    const vmas = h.vmas.map((v): VmaHistogramDto => {
      const out: VmaHistogramDto = {
        start: addr(v.start),
        end: addr(v.end),
        size: size(v.end - v.start),
        perms: v.perms,
        name: v.name,
        kind: v.kind,
        fileBacked: v.fileBacked,
        presentPages: size(v.presentPages),
      };
      if (order) out.orders = v.orders.map(size);
      else out.bins = v.bins.map(binJson);
      if (h.query.runs) out.runs = v.runs.map(runJson);
      return out;
    });
    const totals = this.totalsJson(h.kind, h.totals);
    const out: HistogramDto = {
      node: h.node,
      kind: h.kind,
      range: rangeJson(h.range),
      header: headerJson(h.header),
      vmas,
      totals,
    };
    if (order) {
      out.maxOrder = h.totals.orders.length - 1;
      out.compat = h.query.compat ?? 'none';
    }
    return out;
  }
}
