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
  expandMapChunks,
  PmapServiceClient,
  PmapServiceService,
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
import {
  FIELD_METADATA_KEY,
  parseErrorReason,
  PID_METADATA_KEY,
  REASON_METADATA_KEY,
  type ErrorReason,
} from '@app/domain';
import { service as healthServiceDefinition } from 'grpc-health-check';
import { FleetSessionClient, type SessionQueryHooks } from './fleet-session-client';
import { decodeSessionAnswer, ListedProcess, type ListedProcesses } from './listed-process';

/** What the agent said about an error beyond its code (its trailing metadata, docs/agent.md). */
export interface AgentErrorTrailers {
  /** The agent's reason; absent when the status did not come from the agent's handlers. */
  reason?: ErrorReason;
  /** The request field at fault (INVALID_FIELD), in the proto's spelling. */
  field?: string;
  pid?: number;
}

/** The reason, field and pid of a status's trailing metadata (anything malformed is left out). */
export function trailersOf(md: Metadata | undefined): AgentErrorTrailers {
  if (!md) return {};
  const one = (key: string): string | undefined => {
    const v = md.get(key)[0];
    return typeof v === 'string' && v.length > 0 && v.length <= 64 ? v : undefined;
  };
  const out: AgentErrorTrailers = {};
  const reason = parseErrorReason(one(REASON_METADATA_KEY));
  if (reason) out.reason = reason;
  const field = one(FIELD_METADATA_KEY);
  if (field !== undefined && FIELD_NAME.test(field)) out.field = field;
  const pid = one(PID_METADATA_KEY);
  if (pid !== undefined && /^[1-9][0-9]{0,9}$/.test(pid)) out.pid = Number(pid);
  return out;
}

const FIELD_NAME = /^[a-z][a-z0-9_.]{0,63}$/;

/** A failed call to an agent: the gRPC status and the agent's reason, mapped by the one filter. */
export class AgentCallError extends Error {
  readonly reason?: ErrorReason;
  readonly field?: string;
  readonly pid?: number;

  constructor(
    readonly node: string,
    readonly address: string,
    readonly code: GrpcStatus,
    readonly details: string,
    readonly timeoutMs?: number,
    trailers: AgentErrorTrailers = {},
  ) {
    super(`node '${node}' (${address}): ${GrpcStatus[code] ?? code}: ${details}`);
    this.name = 'AgentCallError';
    this.reason = trailers.reason;
    this.field = trailers.field;
    this.pid = trailers.pid;
  }

  /**
   * DEADLINE_EXCEEDED because the call's deadline passed in transit (the gateway's own deadline,
   * or the agent's grpc-js ending the call at it): a status without a reason. The agent's own
   * DEADLINE_EXCEEDED (READ_STUCK: a /proc read stuck in the kernel; DEADLINE: given up while
   * queued) carries one, and its message is worth passing on.
   */
  get deadlinePassed(): boolean {
    return this.code === GrpcStatus.DEADLINE_EXCEEDED && this.reason === undefined;
  }

  /**
   * UNAVAILABLE from the transport (no connection to the agent), as opposed to the agent answering
   * UNAVAILABLE itself (reason READ_FAILED: one read failed, the agent is there).
   */
  get unreachable(): boolean {
    return this.code === GrpcStatus.UNAVAILABLE && this.reason === undefined;
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
/** About what a SearchMaps message's matches take as JSON (its VMAs' names and fixed fields). */
export function searchMatchBytes(m: SearchMapsResponse): number {
  let n = 0;
  for (const p of m.matches) {
    n += 256 + (p.process?.cmdline.length ?? 0);
    for (const v of p.vmas) n += 128 + v.name.length;
  }
  return n;
}

export interface CallCtx {
  timeoutMs: number;
  signal?: AbortSignal;
}

const CHANNEL_OPTIONS = {
  // Maps arrive in batches; a batch of detailed VMAs stays far below this.
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  // HTTP/2 flow-control window per stream (and connection): a map streams in a few round trips
  // instead of one per 64 KiB, and what an unread stream can hold stays bounded (docs/wire.md).
  'grpc-node.flow_control_window': 1024 * 1024,
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
  /** ListProcesses goes over the agent's FleetSession (fleet-session-client.ts), opened lazily. */
  readonly session: FleetSessionClient;
  /** The agent answered FleetSession UNIMPLEMENTED (an agent older than v3): unary calls. */
  private sessionUnsupported = false;
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
      /** Per-query request id, redaction and metrics of session queries. */
      session?: SessionQueryHooks;
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
    // The session's stream goes through no interceptor: its messages are per-query work the
    // session client accounts itself (request id, redaction, metrics: transport.session).
    const sessionClient = new PmapServiceClient(address, creds, { channelOverride: this.channel });
    const method = PmapServiceService.fleetSession;
    this.session = new FleetSessionClient(
      // the generated serializer; answers through decodeSessionAnswer (processes read lazily)
      () =>
        sessionClient.makeBidiStreamRequest(
          method.path,
          method.requestSerialize,
          decodeSessionAnswer,
          new Metadata(),
          {},
        ),
      (code, details, timeoutMs, trailers) =>
        new AgentCallError(node, address, code, details, timeoutMs, trailers),
      transport?.session,
      onClientGone,
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.close();
    this.channel.close();
  }

  private error(
    e: ServiceError | { code?: number; details?: string; message?: string; metadata?: Metadata },
    ctx?: CallCtx,
  ): AgentCallError {
    const code = typeof e.code === 'number' ? (e.code as GrpcStatus) : GrpcStatus.UNKNOWN;
    return new AgentCallError(
      this.node,
      this.address,
      code,
      e.details ?? e.message ?? 'unknown error',
      ctx?.timeoutMs,
      trailersOf(e.metadata),
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

  /** ListProcesses as a query of the agent's fleet session (unary for an agent without one). */
  async listProcesses(req: ListProcessesRequest, ctx: CallCtx): Promise<ListProcessesResponse> {
    if (!this.sessionUnsupported) {
      try {
        return await this.session.listProcesses(req, ctx);
      } catch (e) {
        this.noSession(e);
      }
    }
    return this.listProcessesUnary(req, ctx);
  }

  /**
   * listProcesses with each process decoded only when read (the audit ranks on one figure and
   * decodes its winners): the session's answer as it arrived, or the unary answer wrapped.
   */
  async listProcessesListed(req: ListProcessesRequest, ctx: CallCtx): Promise<ListedProcesses> {
    if (!this.sessionUnsupported) {
      try {
        return await this.session.listProcessesListed(req, ctx);
      } catch (e) {
        this.noSession(e);
      }
    }
    const { processes, ...rest } = await this.listProcessesUnary(req, ctx);
    return { ...rest, processes: processes.map((p) => ListedProcess.of(p)) };
  }

  /** Rethrows `e` unless it says the agent has no FleetSession (then: unary from now on). */
  private noSession(e: unknown): void {
    // the stream itself refused (no reason): the agent does not know FleetSession
    if (!(e instanceof AgentCallError && e.code === GrpcStatus.UNIMPLEMENTED && !e.reason)) {
      throw e;
    }
    this.sessionUnsupported = true;
  }

  /** ListProcesses as its own unary call. */
  listProcessesUnary(req: ListProcessesRequest, ctx: CallCtx): Promise<ListProcessesResponse> {
    return this.unary((r, md, o, cb) => this.pmap.listProcesses(r, md, o, cb), req, ctx);
  }

  /**
   * Collects a server stream; cancelled on deadline or when the HTTP client goes away, and —
   * with `budget` — as soon as what it collected passes `budget.maxBytes` (by `budget.size`), so
   * one node's answer is never held whole in the gateway beyond the limit it answers within.
   */
  private collect<T>(
    open: (opts: Partial<CallOptions>) => ClientReadableStream<T>,
    ctx: CallCtx,
    budget?: { maxBytes: number; size: (chunk: T) => number },
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
      let bytes = 0;
      call.on('data', (chunk: T) => {
        if (settled) return;
        chunks.push(chunk);
        if (!budget) return;
        bytes += budget.size(chunk);
        if (bytes <= budget.maxBytes) return;
        settled = true;
        ctx.signal?.removeEventListener('abort', onAbort);
        call.cancel();
        chunks.length = 0;
        reject(
          this.error(
            {
              code: GrpcStatus.RESOURCE_EXHAUSTED,
              details: `node '${this.node}' answered more than the gateway's limit of ${budget.maxBytes} bytes: narrow the query`,
            },
            ctx,
          ),
        );
      });
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

  /** A whole map, collected; smaps figures expanded into each VMA's `fields` (map-wire.ts). */
  async getMemoryMap(req: GetMemoryMapRequest, ctx: CallCtx): Promise<GetMemoryMapResponse[]> {
    const chunks = await this.collect((o) => this.pmap.getMemoryMap(req, new Metadata(), o), ctx);
    try {
      return expandMapChunks(chunks);
    } catch (e) {
      throw this.error({ code: GrpcStatus.INTERNAL, details: (e as Error).message }, ctx);
    }
  }

  /**
   * GetMemoryMap as the open stream, for callers that write it out as it arrives (the maps
   * route): the ctx deadline applies, the HTTP client going away cancels it; errors arrive as
   * ServiceErrors (toError(e, ctx) maps them). The compact VMAs are left as sent.
   */
  openMemoryMap(
    req: GetMemoryMapRequest,
    ctx: CallCtx,
  ): ClientReadableStream<GetMemoryMapResponse> {
    const call = this.pmap.getMemoryMap(req, new Metadata(), {
      deadline: Date.now() + ctx.timeoutMs,
    });
    const signal = ctx.signal;
    if (signal) {
      const onAbort = (): void => {
        this.onClientGone();
        call.cancel();
      };
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        call.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
    return call;
  }

  /** SearchMaps: the node's matches, every message (the counts in the last). */
  /** SearchMaps, collected up to `maxBytes` of matches (beyond: RESOURCE_EXHAUSTED, cancelled). */
  searchMaps(
    req: SearchMapsRequest,
    ctx: CallCtx,
    maxBytes = Number.MAX_SAFE_INTEGER,
  ): Promise<SearchMapsResponse[]> {
    return this.collect((o) => this.pmap.searchMaps(req, new Metadata(), o), ctx, {
      maxBytes,
      size: searchMatchBytes,
    });
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
  toError(e: ServiceError, ctx?: CallCtx): AgentCallError {
    return this.error(e, ctx);
  }
}
