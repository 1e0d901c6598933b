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
import { deadlineExceeded, toGrpcError, unimplemented } from './errors';
import type { HistogramService } from './histogram.service';
import type { Logger } from './logger';
import { textChunks, vmaChunks } from './map-chunks';
import { renderText } from './map-text';
import type { MapsSearchService, SearchCall } from './maps-search.service';
import type { MemoryMapQuery, MemoryMapService } from './memory-map.service';
import type { NodeInfoService } from './node-info.service';
import { listResponse, type ProcessesService } from './processes.service';
import { callAcquireOptions, type ReadLimiter } from './read-limiter';
import { serveVeHistogram, type HistogramValidator } from './ve-histogram';
import type { VeService } from './ve.service';
import type { WatchService } from './watch.service';

type AnyStream = ServerWritableStream<unknown, unknown>;

/** Resolves when the stream may take more data, or when the call is over (cancel, error, close). */
function whenWritable(call: AnyStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('cancelled', done);
      call.off('close', done);
      call.off('error', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
    call.on('close', done);
    call.on('error', done);
  });
}

export class PmapGrpcService {
  constructor(
    private readonly nodeInfo: NodeInfoService,
    private readonly processes: ProcessesService,
    private readonly maps: MemoryMapService,
    private readonly log: Logger,
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
    const serve = (): void => {
      try {
        if (call.cancelled) return;
        callback(null, listResponse(this.processes.list(call.request)));
      } catch (e) {
        callback(toGrpcError(e, this.log, { rpc: 'ListProcesses' }));
      }
    };
    // Reading every process's smaps_rollup is heavy; a list without rollups is not.
    if (!this.limiter || call.request.skipRollup) return serve();
    this.limited(call, serve).catch((e: unknown) => {
      callback(toGrpcError(e, this.log, { rpc: 'ListProcesses' }));
    });
  };

  /** Limit on concurrent heavy reads (read-limiter.ts), attached by main.ts. */
  limiter?: ReadLimiter;

  /** Runs `fn` under a heavy-read permit honouring the call's deadline and cancellation. */
  private async limited<T>(
    call: Parameters<typeof callAcquireOptions>[0],
    fn: () => Promise<T> | T,
  ): Promise<T> {
    if (!this.limiter) return fn();
    const { opts, dispose } = callAcquireOptions(call);
    let release: () => void;
    try {
      release = await this.limiter.acquire(opts);
    } finally {
      dispose();
    }
    if (opts.deadline !== undefined && Date.now() >= opts.deadline) {
      release();
      throw deadlineExceeded('deadline exceeded before the read');
    }
    try {
      return await fn();
    } finally {
      release();
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
    await this.limited(call, () => this.sendMemoryMap(call, query));
  }

  private async sendMemoryMap(
    call: ServerWritableStream<GetMemoryMapRequest, GetMemoryMapResponse>,
    query: MemoryMapQuery,
  ): Promise<void> {
    if (call.cancelled) return;
    const map = this.maps.read(query);
    const chunks = query.text
      ? textChunks(map, renderText(map, query.text, query.range))
      : vmaChunks(map, query.batchSize);
    let sent = 0;
    for (const chunk of chunks) {
      if (call.cancelled) {
        this.log.debug({ pid: query.pid, sent, total: map.vmas.length }, 'GetMemoryMap cancelled');
        return;
      }
      const ok = call.write(chunk);
      sent++;
      if (!ok && !chunk.last) await whenWritable(call);
    }
    call.end();
  }

  /** SearchMaps' implementation (maps-search.service.ts), attached by main.ts. */
  search?: Pick<MapsSearchService, 'serve'>;

  searchMaps = (call: SearchCall): void => {
    const fail = (e: unknown): void => {
      call.emit('error', toGrpcError(e, this.log, { rpc: 'SearchMaps' }));
    };
    const impl = this.search;
    if (!impl) return fail(unimplemented('searching maps is not implemented on this agent'));
    // One search reads many maps, one after the other: it holds one heavy-read permit.
    this.limited(call, () => impl.serve(call)).catch(fail);
  };

  /** GetHistogram's implementation (histogram.service.ts), attached by main.ts. */
  histograms?: Pick<HistogramService, 'stream'>;

  getHistogram = (call: ServerWritableStream<GetHistogramRequest, GetHistogramResponse>): void => {
    const impl = this.histograms;
    const fail = (e: unknown): void => {
      call.emit('error', toGrpcError(e, this.log, { rpc: 'GetHistogram', pid: call.request.pid }));
    };
    if (call.request.veNode !== undefined && this.ve) {
      try {
        serveVeHistogram(call, this.ve, impl as HistogramValidator);
      } catch (e) {
        fail(e);
      }
      return;
    }
    if (!impl) {
      fail(unimplemented('histograms are not implemented yet'));
      return;
    }
    this.limited(call, () => impl.stream(call)).catch(fail);
  };

  /** VE targets (ve.service.ts), attached by main.ts: GetHistogram with ve_node goes there. */
  ve?: VeService;

  /** WatchMemoryMap's implementation (watch.service.ts), attached by main.ts. */
  watch?: Pick<WatchService, 'serve'>;

  watchMemoryMap = (
    call: ServerWritableStream<WatchMemoryMapRequest, WatchMemoryMapResponse>,
  ): void => {
    if (this.watch) {
      this.watch.serve(call);
      return;
    }
    call.emit(
      'error',
      toGrpcError(unimplemented('watching memory maps is not implemented yet'), this.log, {
        rpc: 'WatchMemoryMap',
      }),
    );
  };
}
