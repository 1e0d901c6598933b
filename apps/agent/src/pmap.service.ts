/**
 * The gRPC handlers of pmap.v1.PmapService: thin adapters between grpc-js calls and the services.
 * Every failure goes through toGrpcError (errors.ts), the one status mapping of the agent.
 */
import { type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import {
  type GetHistogramRequest,
  type GetHistogramResponse,
  type GetMemoryMapRequest,
  type GetMemoryMapResponse,
  type GetNodeInfoRequest,
  type GetNodeInfoResponse,
  type ListProcessesRequest,
  type ListProcessesResponse,
  type PmapServiceServer,
  type WatchMemoryMapRequest,
  type WatchMemoryMapResponse,
} from '@app/proto';
import type { ReadOptions } from '@app/procfs';
import { toGrpcError } from './errors';
import type { FleetSessions } from './fleet-session';
import type { HistogramService } from './histogram.service';
import type { Logger } from './logger';
import { textChunks, vmaChunks } from './map-chunks';
import { renderText } from './map-text';
import type { MapsSearchService, SearchCall } from './maps-search.service';
import type { MemoryMapQuery, MemoryMapService } from './memory-map.service';
import type { NodeInfoService } from './node-info.service';
import { listResponse, type ProcessesService } from './processes.service';
import { callAcquireOptions, type ReadLimiter, withPermit } from './read-limiter';
import { serveVeHistogram } from './ve-histogram';
import type { VeService } from './ve.service';
import type { WatchService } from './watch.service';
import { whenWritable } from './stream-flow';

export class PmapGrpcService {
  constructor(
    private readonly nodeInfo: NodeInfoService,
    private readonly processes: ProcessesService,
    private readonly maps: MemoryMapService,
    private readonly log: Logger,
    /** GetHistogram's implementation (histogram.service.ts). */
    private readonly histograms: Pick<HistogramService, 'stream' | 'toQuery'>,
    /** WatchMemoryMap's implementation (watch.service.ts). */
    private readonly watch: Pick<WatchService, 'serve'>,
    /** VE targets (ve.service.ts): GetHistogram with ve_node goes there. */
    private readonly ve: VeService,
    /** Limit on concurrent heavy reads (read-limiter.ts). */
    private readonly limiter: ReadLimiter,
    /** SearchMaps' implementation (maps-search.service.ts). */
    private readonly search: Pick<MapsSearchService, 'serve'>,
    /** FleetSession's implementation (fleet-session.ts). */
    private readonly fleet: Pick<FleetSessions, 'serve'>,
  ) {}

  /** The handler table grpc-js expects for PmapServiceService. */
  asServer(): PmapServiceServer {
    return {
      getNodeInfo: this.getNodeInfo,
      listProcesses: this.listProcesses,
      getMemoryMap: this.getMemoryMap,
      getHistogram: this.getHistogram,
      watchMemoryMap: this.watchMemoryMap,
      searchMaps: this.searchMaps,
      fleetSession: this.fleet.serve,
    };
  }

  getNodeInfo = (
    _call: ServerUnaryCall<GetNodeInfoRequest, GetNodeInfoResponse>,
    callback: sendUnaryData<GetNodeInfoResponse>,
  ): void => {
    callback(null, { node: this.nodeInfo.getNodeInfo() });
  };

  listProcesses = (
    call: ServerUnaryCall<ListProcessesRequest, ListProcessesResponse>,
    callback: sendUnaryData<ListProcessesResponse>,
  ): void => {
    const serve = async (read: ReadOptions): Promise<void> => {
      try {
        if (call.cancelled) return;
        const list = await this.processes.list(call.request, read);
        if (call.cancelled) return;
        callback(null, listResponse(list));
      } catch (e) {
        callback(toGrpcError(e, this.log, { rpc: 'ListProcesses' }));
      }
    };
    const fail = (e: unknown): void => {
      callback(toGrpcError(e, this.log, { rpc: 'ListProcesses' }));
    };
    // Reading every process's smaps_rollup is heavy; a list without rollups is not.
    if (call.request.skipRollup) {
      const { opts, dispose } = callAcquireOptions(call);
      serve({ signal: opts.signal }).then(dispose, (e: unknown) => {
        dispose();
        fail(e);
      });
      return;
    }
    this.limited(call, serve).catch(fail);
  };

  /**
   * Runs `fn` under a heavy-read permit honouring the call's deadline and cancellation. `fn`
   * gets the read options to pass on: a signal that aborts when the call is cancelled (its reads
   * are dropped), and the permit lent back while a read is slow (PermitLease).
   */
  private async limited<T>(
    call: Parameters<typeof callAcquireOptions>[0],
    fn: (read: ReadOptions) => Promise<T> | T,
  ): Promise<T> {
    const { opts, dispose } = callAcquireOptions(call);
    try {
      return await withPermit(this.limiter, opts, fn);
    } finally {
      dispose();
    }
  }

  getMemoryMap = (call: ServerWritableStream<GetMemoryMapRequest, GetMemoryMapResponse>): void => {
    this.streamMemoryMap(call).catch((e: unknown) => {
      call.emit('error', toGrpcError(e, this.log, { rpc: 'GetMemoryMap', pid: call.request.pid }));
    });
  };

  private async streamMemoryMap(
    call: ServerWritableStream<GetMemoryMapRequest, GetMemoryMapResponse>,
  ): Promise<void> {
    const query = this.maps.toQuery(call.request);
    if (call.cancelled) return;
    // The permit is held until the last chunk is written: it bounds the maps held in memory.
    await this.limited(call, (read) => this.sendMemoryMap(call, query, read));
  }

  private async sendMemoryMap(
    call: ServerWritableStream<GetMemoryMapRequest, GetMemoryMapResponse>,
    query: MemoryMapQuery,
    read: ReadOptions,
  ): Promise<void> {
    if (call.cancelled) return;
    const chunks = await this.memoryMapChunks(query, read);
    if (call.cancelled) return;
    let sent = 0;
    for (const chunk of chunks) {
      if (call.cancelled) {
        this.log.debug({ pid: query.pid, sent }, 'GetMemoryMap cancelled');
        return;
      }
      const ok = call.write(chunk);
      sent++;
      if (!ok && !chunk.last) await whenWritable(call);
    }
    call.end();
  }

  /** The answer's chunks: text rendered while read, text of the map, or its VMAs. */
  private async memoryMapChunks(
    query: MemoryMapQuery,
    read: ReadOptions,
  ): Promise<Iterable<GetMemoryMapResponse>> {
    const rendered = await this.maps.readRendered(query, read);
    if (rendered) return textChunks(rendered.header, rendered.vmas, rendered.text);
    const map = await this.maps.read(query, read);
    return query.text
      ? textChunks(map.header, map.vmas.length, renderText(map, query.text, query.range))
      : vmaChunks(map, query.batchSize);
  }

  searchMaps = (call: SearchCall): void => {
    const fail = (e: unknown): void => {
      call.emit('error', toGrpcError(e, this.log, { rpc: 'SearchMaps' }));
    };
    // One search reads many maps, one after the other: it holds one heavy-read permit.
    this.limited(call, (read) => this.search.serve(call, read)).catch(fail);
  };

  getHistogram = (call: ServerWritableStream<GetHistogramRequest, GetHistogramResponse>): void => {
    const fail = (e: unknown): void => {
      call.emit('error', toGrpcError(e, this.log, { rpc: 'GetHistogram', pid: call.request.pid }));
    };
    if (call.request.veNode !== undefined) {
      serveVeHistogram(call, this.ve, this.histograms).catch(fail);
      return;
    }
    this.limited(call, (read) => this.histograms.stream(call, read)).catch(fail);
  };

  watchMemoryMap = (
    call: ServerWritableStream<WatchMemoryMapRequest, WatchMemoryMapResponse>,
  ): void => {
    this.watch.serve(call);
  };
}
