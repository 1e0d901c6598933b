import {
  Channel,
  credentials,
  type ChannelCredentials,
  type Interceptor,
  makeGenericClientConstructor,
  Metadata,
  type CallOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  type ServiceError,
  status as GrpcStatus,
} from '@grpc/grpc-js';
import {
  PmapServiceClient,
  type GetHistogramRequest,
  type GetHistogramResponse,
  type GetMemoryMapRequest,
  type GetMemoryMapResponse,
  type GetNodeInfoResponse,
  type ListProcessesRequest,
  type ListProcessesResponse,
  type SearchMapsRequest,
  type SearchMapsResponse,
  type WatchMemoryMapRequest,
  type WatchMemoryMapResponse,
} from '@app/proto';
import { service as healthServiceDefinition } from 'grpc-health-check';

/** A failed call to an agent: the gRPC status, mapped to HTTP by the one exception filter. */
export class AgentCallError extends Error {
  constructor(
    readonly node: string,
    readonly address: string,
    readonly code: GrpcStatus,
    readonly details: string,
    readonly timeoutMs?: number,
  ) {
    super(`node '${node}' (${address}): ${GrpcStatus[code] ?? code}: ${details}`);
    this.name = 'AgentCallError';
  }

  /**
   * DEADLINE_EXCEEDED because the call's deadline passed (grpc-js's own "Deadline exceeded…"), as
   * opposed to the agent answering DEADLINE_EXCEEDED itself with its reason (a /proc read stuck
   * in the kernel), whose message is worth passing on.
   */
  get deadlinePassed(): boolean {
    return (
      this.code === GrpcStatus.DEADLINE_EXCEEDED && this.details.startsWith('Deadline exceeded')
    );
  }
}

interface HealthCheckResponse {
  status: string | number;
}
interface HealthClient {
  check(
    req: { service: string },
    md: Metadata,
    opts: Partial<CallOptions>,
    cb: (err: ServiceError | null, res?: HealthCheckResponse) => void,
  ): ClientUnaryCall;
  close(): void;
}

const HealthClientCtor = makeGenericClientConstructor(
  healthServiceDefinition,
  'grpc.health.v1.Health',
) as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  opts: { channelOverride: Channel },
) => HealthClient;

/** Options of one call: deadline in ms and the HTTP request's abort signal. */
export interface CallCtx {
  timeoutMs: number;
  signal?: AbortSignal;
}

const CHANNEL_OPTIONS = {
  // Maps arrive in batches; a batch of detailed VMAs stays far below this.
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.initial_reconnect_backoff_ms': 200,
  // A restarted agent is served again within ~1 s (docs/RELIABILITY.md); a dead one costs one
  // refused TCP connect per second.
  'grpc.max_reconnect_backoff_ms': 1000,
};

/**
 * One agent: ONE long-lived channel (created once, reused by every call, closed when the node is
 * removed or the gateway stops) shared by the PmapService and health clients.
 */
export class AgentConnection {
  private readonly channel: Channel;
  private readonly pmap: PmapServiceClient;
  private readonly health: HealthClient;
  private closed = false;

  constructor(
    readonly node: string,
    readonly address: string,
    /** Told when a call is cancelled because the HTTP client went away. */
    private readonly onClientGone: () => void = () => undefined,
    /** mTLS credentials, interceptors (request id, redaction, audit) — security.service.ts. */
    transport?: {
      credentials: ChannelCredentials;
      interceptors: Interceptor[];
      channelOptions: Record<string, string | number>;
    },
  ) {
    const creds = transport?.credentials ?? credentials.createInsecure();
    this.channel = new Channel(address, creds, {
      ...CHANNEL_OPTIONS,
      ...transport?.channelOptions,
    });
    this.pmap = new PmapServiceClient(address, creds, {
      channelOverride: this.channel,
      interceptors: transport?.interceptors ?? [],
    });
    this.health = new HealthClientCtor(address, creds, { channelOverride: this.channel });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
  }

  private error(
    e: ServiceError | { code?: number; details?: string; message?: string },
    ctx?: CallCtx,
  ): AgentCallError {
    const code = typeof e.code === 'number' ? (e.code as GrpcStatus) : GrpcStatus.UNKNOWN;
    return new AgentCallError(
      this.node,
      this.address,
      code,
      e.details ?? e.message ?? 'unknown error',
      ctx?.timeoutMs,
    );
  }

  private unary<Req, Res>(
    invoke: (
      req: Req,
      md: Metadata,
      opts: Partial<CallOptions>,
      cb: (err: ServiceError | null, res?: Res) => void,
    ) => ClientUnaryCall,
    req: Req,
    ctx: CallCtx,
  ): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      if (ctx.signal?.aborted) {
        this.onClientGone();
        reject(this.error({ code: GrpcStatus.CANCELLED, details: 'client went away' }, ctx));
        return;
      }
      const call = invoke(
        req,
        new Metadata(),
        { deadline: Date.now() + ctx.timeoutMs },
        (err, res) => {
          ctx.signal?.removeEventListener('abort', onAbort);
          if (err) reject(this.error(err, ctx));
          else if (res === undefined)
            reject(this.error({ code: GrpcStatus.INTERNAL, details: 'empty response' }, ctx));
          else resolve(res);
        },
      );
      const onAbort = (): void => {
        this.onClientGone();
        call.cancel();
      };
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** grpc.health.v1 Check of the whole server (""); resolves true when SERVING. */
  async checkHealth(timeoutMs: number): Promise<boolean> {
    const res = await this.unary<{ service: string }, HealthCheckResponse>(
      (r, md, o, cb) => this.health.check(r, md, o, cb),
      { service: '' },
      { timeoutMs },
    );
    return res.status === 'SERVING' || res.status === 1;
  }

  getNodeInfo(ctx: CallCtx): Promise<GetNodeInfoResponse> {
    return this.unary((r, md, o, cb) => this.pmap.getNodeInfo(r, md, o, cb), {}, ctx);
  }

  listProcesses(req: ListProcessesRequest, ctx: CallCtx): Promise<ListProcessesResponse> {
    return this.unary((r, md, o, cb) => this.pmap.listProcesses(r, md, o, cb), req, ctx);
  }

  /** Collects a server stream; cancelled on deadline or when the HTTP client goes away. */
  private collect<T>(
    open: (opts: Partial<CallOptions>) => ClientReadableStream<T>,
    ctx: CallCtx,
  ): Promise<T[]> {
    return new Promise<T[]>((resolve, reject) => {
      if (ctx.signal?.aborted) {
        this.onClientGone();
        reject(this.error({ code: GrpcStatus.CANCELLED, details: 'client went away' }, ctx));
        return;
      }
      const chunks: T[] = [];
      const call = open({ deadline: Date.now() + ctx.timeoutMs });
      const onAbort = (): void => {
        this.onClientGone();
        call.cancel();
      };
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      let settled = false;
      call.on('data', (chunk: T) => chunks.push(chunk));
      call.on('error', (err: ServiceError) => {
        ctx.signal?.removeEventListener('abort', onAbort);
        if (settled) return;
        settled = true;
        reject(this.error(err, ctx));
      });
      call.on('end', () => {
        ctx.signal?.removeEventListener('abort', onAbort);
        if (settled) return;
        settled = true;
        resolve(chunks);
      });
    });
  }

  getMemoryMap(req: GetMemoryMapRequest, ctx: CallCtx): Promise<GetMemoryMapResponse[]> {
    return this.collect((o) => this.pmap.getMemoryMap(req, new Metadata(), o), ctx);
  }

  /** SearchMaps: the node's matches, every message (the counts in the last). */
  searchMaps(req: SearchMapsRequest, ctx: CallCtx): Promise<SearchMapsResponse[]> {
    return this.collect((o) => this.pmap.searchMaps(req, new Metadata(), o), ctx);
  }

  getHistogram(req: GetHistogramRequest, ctx: CallCtx): Promise<GetHistogramResponse[]> {
    return this.collect((o) => this.pmap.getHistogram(req, new Metadata(), o), ctx);
  }

  /**
   * WatchMemoryMap: the open server stream, left to the caller (no deadline: it lasts until the
   * process exits or the caller cancels it). Errors arrive as AgentCallError via toError().
   */
  watchMemoryMap(req: WatchMemoryMapRequest): ClientReadableStream<WatchMemoryMapResponse> {
    return this.pmap.watchMemoryMap(req, new Metadata(), {});
  }

  /** A stream's ServiceError as the AgentCallError the exception filter maps to HTTP. */
  toError(e: ServiceError): AgentCallError {
    return this.error(e);
  }
}
