import { Injectable } from '@nestjs/common';
import type { AddressRange, MemoryMap, Vma } from '@app/domain';
import { renderIllumos, renderPmap } from '@app/pmap-format';
import { DetailLevel, headerFromProto, rangeToProto, vmaFromProto } from '@app/proto';
import { ClusterService } from '../cluster/cluster.service';
import { ApiError } from '../common/api-error';
import { size } from '../common/json';
import type { MapsQuery, MapView } from './dto/maps-query.dto';
import type { MapPairDto, MapTotalsDto, MemoryMapDto, VmaDto } from './dto/memory-map.dto';
import { parseRangeParam } from '../common/range-param';
import { headerJson, rangeJson, vmaBaseJson } from './map-json';
import { checkVeView, isVeMap, mapLinks, noVeSide, renderVeText } from './ve-maps';

export interface FetchedMap {
  node: string;
  view: MapView;
  detail: 'maps' | 'smaps';
  range?: AddressRange;
  map: MemoryMap;
}

const SMAPS_VIEWS = new Set<MapView>(['x', 'X', 'XX', 'illumos']);

/** `links` of a VE process or a VE pseudo process (nothing for other processes). */
function withLinks(m: FetchedMap): Pick<MemoryMapDto, 'links'> {
  const links = mapLinks(m.node, m.map);
  return links ? { links } : {};
}

@Injectable()
export class MapsService {
  constructor(private readonly cluster: ClusterService) {}

  /** range/clip parameters -> AddressRange through the one range parser (400 naming `range`). */
  async fetch(
    nodeName: string,
    pid: number,
    q: MapsQuery,
    signal?: AbortSignal,
  ): Promise<FetchedMap> {
    const node = this.cluster.get(nodeName);
    const view = q.view ?? 'default';
    const range = parseRangeParam(q, view === 'illumos');
    // A VE map is one ve_map_info call with every figure: always smaps level.
    if (q.ve !== undefined) checkVeView(view);
    const detail = SMAPS_VIEWS.has(view) || q.ve !== undefined ? 'smaps' : 'maps';
    const chunks = await this.cluster.call(node, (c) =>
      c.getMemoryMap(
        {
          pid,
          veNode: q.ve,
          range: rangeToProto(range),
          detail:
            detail === 'smaps' ? DetailLevel.DETAIL_LEVEL_SMAPS : DetailLevel.DETAIL_LEVEL_MAPS,
          batchSize: 0,
          threadStacks: false,
        },
        this.cluster.ctx(q.timeout, signal),
      ),
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

  /** Text byte-identical to `pmap` (or illumos `pmap -x`) on that node for the same flags. */
  toText(m: FetchedMap, q: MapsQuery): string {
    if (isVeMap(m.map)) return renderVeText(m.map, m.view, q.quiet);
    if (m.view === 'illumos') {
      return renderIllumos(m.map, {
        mode: 'x',
        quiet: q.quiet,
        range: m.range,
        pageSize: m.map.header.pageSize,
      });
    }
    return renderPmap(m.map, {
      mode: m.view,
      quiet: q.quiet,
      showPath: q.showPath,
      kernelNames: q.kernelNames,
      range: m.range,
    });
  }

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
