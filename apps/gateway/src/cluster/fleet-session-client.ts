/**
 * The gateway's end of PmapService.FleetSession (docs/fleet.md "Sessions"): ONE long-lived stream
 * per agent, opened at the first query and reused by every later one, carrying queries and their
 * answers as messages (no HTTP/2 stream, headers and deadline per node per request).
 *
 * - Ids: a query gets the next id of the session (wrapping at 2^32, skipping ids in flight);
 *   answers are matched by it, in whatever order the agent completes them.
 * - Deadlines: a query carries its time left (deadline_ms); the agent ends it there. The gateway
 *   gives up at the same moment whatever the agent does (a stopped agent answers nothing) with
 *   ONE timer per session, armed for the earliest deadline in flight, not one per query.
 * - Cancellation: the HTTP client going away sends a cancel by id and fails the query CANCELLED.
 * - Errors: an answer's FleetError becomes the same AgentCallError a unary status does (code +
 *   reason, field, pid, validated the same way); the stream failing fails every query in flight
 *   with its status (UNAVAILABLE without a reason when the agent went away: "unreachable").
 * - Reopening: after a failure the next query opens a new stream, not before a backoff (100 ms,
 *   doubling to 1 s while streams keep failing before any answer; queries meanwhile fail at once
 *   UNAVAILABLE), so an agent that is down costs no reconnect storm.
 * - Per-query hooks (security.service.ts): the request id and redaction of the caller's request
 *   context travel in the query / apply to the answer, and the per-call metrics are counted per
 *   query, as the unary call's interceptor does.
 */
import { status as GrpcStatus, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { parseErrorReason } from '@app/domain';
import type {
  FleetError,
  FleetSessionRequest,
  GetNodeInfoResponse,
  ListProcessesRequest,
  ListProcessesResponse,
} from '@app/proto';
import type { AgentErrorTrailers } from './agent-connection';
import { materialize, type ListedProcesses, type SessionAnswer } from './listed-process';

/** The session's stream: answers decoded by decodeSessionAnswer (processes left as bytes). */
export type SessionStream = ClientDuplexStream<FleetSessionRequest, SessionAnswer>;

/** What the caller's request context says about one query (SecurityService.sessionHooks). */
export interface SessionQueryHooks {
  begin(rpc: SessionRpc): {
    requestId?: string;
    /** The answer is redacted (command lines) before it is returned. */
    redact?: (message: unknown) => unknown;
    /** The query ended with this gRPC code name (per-call metrics). */
    end(code: string): void;
  };
}

export type SessionRpc = 'ListProcesses' | 'GetNodeInfo';

/** How a session failure or an answer's error is turned into the connection's error type. */
export type SessionErrorFactory = (
  code: GrpcStatus,
  details: string,
  timeoutMs: number | undefined,
  trailers: AgentErrorTrailers,
) => Error;

interface Pending {
  rpc: SessionRpc;
  deadline: number;
  timeoutMs: number;
  resolve: (a: SessionAnswer) => void;
  reject: (e: Error) => void;
  hook?: ReturnType<SessionQueryHooks['begin']>;
  signal?: AbortSignal;
  onAbort?: () => void;
  /** The stream it was sent on (a cancel goes there, never to a later stream). */
  call: SessionStream;
}

const INITIAL_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 1000;
const FIELD_NAME = /^[a-z][a-z0-9_.]{0,63}$/;

/** An answer's FleetError as the trailers a unary status would carry (malformed parts left out). */
export function trailersOfAnswer(e: FleetError): AgentErrorTrailers {
  const out: AgentErrorTrailers = {};
  const reason = parseErrorReason(e.reason);
  if (reason) out.reason = reason;
  if (e.field.length > 0 && FIELD_NAME.test(e.field)) out.field = e.field;
  if (Number.isInteger(e.pid) && e.pid > 0) out.pid = e.pid;
  return out;
}

export class FleetSessionClient {
  private call: SessionStream | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Streams that failed in a row before any answer (the backoff's exponent). */
  private failures = 0;
  private reopenAt = 0;
  private answered = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closed = false;
  /** Streams opened so far (tests, metrics). */
  opened = 0;

  constructor(
    private readonly open: () => SessionStream,
    private readonly toError: SessionErrorFactory,
    private readonly hooks?: SessionQueryHooks,
    /** Told when a query is cancelled because the HTTP client went away. */
    private readonly onClientGone: () => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  get inFlight(): number {
    return this.pending.size;
  }

  async listProcesses(
    req: ListProcessesRequest,
    ctx: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<ListProcessesResponse> {
    return materialize(await this.listProcessesListed(req, ctx));
  }

  /** ListProcesses with the processes decoded (and redacted) only when read. */
  async listProcessesListed(
    req: ListProcessesRequest,
    ctx: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<ListedProcesses> {
    const a = await this.query('ListProcesses', { listProcesses: req }, ctx);
    if (!a.listProcesses) throw this.wrongAnswer(ctx);
    return a.listProcesses;
  }

  async getNodeInfo(ctx: {
    timeoutMs: number;
    signal?: AbortSignal;
  }): Promise<GetNodeInfoResponse> {
    const a = await this.query('GetNodeInfo', { getNodeInfo: {} }, ctx);
    if (!a.nodeInfo) throw this.wrongAnswer(ctx);
    return a.nodeInfo;
  }

  /** Ends the session (node removed, gateway stopping): queries in flight fail UNAVAILABLE. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const call = this.call;
    this.failAll(GrpcStatus.UNAVAILABLE, 'the connection to the agent was closed');
    call?.cancel();
  }

  private wrongAnswer(ctx: { timeoutMs: number }): Error {
    return this.toError(
      GrpcStatus.INTERNAL,
      'the agent answered another kind of query',
      ctx.timeoutMs,
      {},
    );
  }

  private query(
    rpc: SessionRpc,
    body: Pick<FleetSessionRequest, 'listProcesses' | 'getNodeInfo'>,
    ctx: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<SessionAnswer> {
    return new Promise<SessionAnswer>((resolve, reject) => {
      if (this.closed) {
        reject(
          this.toError(
            GrpcStatus.UNAVAILABLE,
            'the connection to the agent was closed',
            ctx.timeoutMs,
            {},
          ),
        );
        return;
      }
      if (ctx.signal?.aborted) {
        this.onClientGone();
        reject(this.toError(GrpcStatus.CANCELLED, 'client went away', ctx.timeoutMs, {}));
        return;
      }
      const now = this.now();
      if (!this.call && now < this.reopenAt) {
        reject(
          this.toError(
            GrpcStatus.UNAVAILABLE,
            `the session to the agent failed; reopening in ${this.reopenAt - now} ms`,
            ctx.timeoutMs,
            {},
          ),
        );
        return;
      }
      const call = this.call ?? this.openCall();
      const id = this.takeId();
      const hook = this.hooks?.begin(rpc);
      const p: Pending = {
        rpc,
        deadline: now + ctx.timeoutMs,
        timeoutMs: ctx.timeoutMs,
        resolve,
        reject,
        hook,
        call,
      };
      this.pending.set(id, p);
      const signal = ctx.signal;
      if (signal) {
        p.signal = signal;
        p.onAbort = () => {
          if (!this.pending.has(id)) return;
          this.onClientGone();
          if (this.call === p.call) p.call.write({ id, deadlineMs: 0, requestId: '', cancel: {} });
          this.settle(
            id,
            p,
            this.toError(GrpcStatus.CANCELLED, 'client went away', p.timeoutMs, {}),
          );
        };
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      call.write({
        id,
        deadlineMs: Math.max(1, Math.ceil(ctx.timeoutMs)),
        requestId: hook?.requestId ?? '',
        ...body,
      });
      this.arm(p.deadline);
    });
  }

  private takeId(): number {
    let id = this.nextId;
    while (this.pending.has(id)) id = id >= 0xffffffff ? 1 : id + 1;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    return id;
  }

  private openCall(): SessionStream {
    const call = this.open();
    this.call = call;
    this.answered = false;
    this.opened++;
    call.on('data', (a: SessionAnswer) => this.onAnswer(a));
    call.on('error', (e: ServiceError) => this.broken(call, e.code, e.details, e.metadata));
    call.on('end', () =>
      this.broken(call, GrpcStatus.UNAVAILABLE, 'the agent ended the session', undefined),
    );
    return call;
  }

  /** The stream is over: every query in flight fails with its status; the next one reopens. */
  private broken(
    call: SessionStream,
    code: GrpcStatus | undefined,
    details: string | undefined,
    metadata: ServiceError['metadata'] | undefined,
  ): void {
    if (this.call !== call) return;
    this.call = undefined;
    if (this.answered) this.failures = 0;
    else this.failures++;
    this.reopenAt =
      this.failures === 0
        ? 0
        : this.now() + Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** (this.failures - 1));
    const trailers: AgentErrorTrailers = {};
    const reason = parseErrorReason(metadata?.get('pmap-reason')[0]);
    if (reason) trailers.reason = reason;
    this.failAll(code ?? GrpcStatus.UNAVAILABLE, details ?? 'the session ended', trailers);
    call.end();
  }

  private failAll(code: GrpcStatus, details: string, trailers: AgentErrorTrailers = {}): void {
    for (const [id, p] of this.pending) {
      this.settle(id, p, this.toError(code, details, p.timeoutMs, trailers));
    }
    this.disarm();
  }

  private onAnswer(a: SessionAnswer): void {
    this.answered = true;
    const p = this.pending.get(a.id);
    if (!p) return; // expired or cancelled meanwhile
    if (a.error) {
      const e = a.error;
      this.settle(a.id, p, this.toError(e.code, e.message, p.timeoutMs, trailersOfAnswer(e)));
      return;
    }
    const redact = p.hook?.redact;
    if (redact) {
      // a process is redacted when it is decoded, before anyone reads it
      if (a.listProcesses) for (const lp of a.listProcesses.processes) lp.redactWith(redact);
      if (a.nodeInfo) redact(a.nodeInfo);
    }
    this.settle(a.id, p, a);
  }

  private settle(id: number, p: Pending, outcome: SessionAnswer | Error): void {
    this.pending.delete(id);
    if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
    if (outcome instanceof Error) {
      const code = (outcome as { code?: unknown }).code;
      p.hook?.end(typeof code === 'number' ? (GrpcStatus[code] ?? String(code)) : 'UNKNOWN');
      p.reject(outcome);
    } else {
      p.hook?.end('OK');
      p.resolve(outcome);
    }
  }

  /** The one deadline timer: armed for the earliest deadline in flight. */
  private arm(deadline: number): void {
    if (deadline >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = deadline;
    this.timer = setTimeout(() => this.expire(), Math.max(0, deadline - this.now()));
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private expire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.now();
    let next = Infinity;
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) {
        // no reason: the deadline passed in transit (AgentCallError.deadlinePassed)
        this.settle(
          id,
          p,
          this.toError(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded', p.timeoutMs, {}),
        );
      } else if (p.deadline < next) next = p.deadline;
    }
    if (next < Infinity) this.arm(next);
  }
}
