/**
 * FleetSession (docs/agent.md "Fleet session"): one long-lived bidirectional stream per gateway
 * carrying fleet queries and their answers as messages, instead of one HTTP/2 stream, headers and
 * deadline per node per request.
 *
 * Each query is served exactly as its unary RPC: ListProcesses through the same ProcessesService
 * under the same heavy-read permit (unless skip_rollup), GetNodeInfo from NodeInfoService; its
 * deadline (deadline_ms from arrival) and a cancel message by id abort it as a signal (queued
 * reads leave the limiter's queue, reads in flight are dropped); every failure goes through
 * toGrpcError, the one status mapping, and leaves as a FleetError carrying the same code, reason,
 * field and pid as the unary status's trailers. One log line and one count per query, as the
 * unary RPC's interceptor writes (rpc, requestId, client, code, ms, plus the session's query id).
 *
 * Limits: at most `maxInFlight` queries in flight per session (beyond it a query is answered
 * RESOURCE_EXHAUSTED / AGENT_BUSY at once); when the stream cannot take more answers (write()
 * returns false) the session stops reading queries until it drains, so HTTP/2 flow control holds
 * the gateway back. The session ends when the gateway half-closes (after the answers in flight)
 * or cancels (every query is aborted), and when the agent stops (closeAll: answers in flight are
 * sent, then the stream ends with OK and the gateway opens a new one elsewhere or later).
 *
 * Authorization is the stream's: the mTLS client identity check (tls.ts) runs when it opens.
 */
import { Metadata, status, type ServerDuplexStream } from '@grpc/grpc-js';
import { FIELD_METADATA_KEY, PID_METADATA_KEY, REASON_METADATA_KEY } from '@app/domain';
import type { FleetSessionResponse, FleetError, FleetSessionRequest } from '@app/proto';
import {
  cancelled,
  deadlineExceeded,
  GrpcStatusError,
  invalidArgument,
  toGrpcError,
} from './errors';
import type { Logger } from './logger';
import type { NodeInfoService } from './node-info.service';
import type { AgentMetrics } from './observability';
import { listResponse, type ProcessesService } from './processes.service';
import { withPermit, type ReadLimiter } from './read-limiter';
import { clientCertificate, parseSubjectAltNames } from './tls';

/** Queries in flight per session at most (a gateway sends one per node task). */
export const DEFAULT_MAX_SESSION_QUERIES = 64;

export type FleetCall = ServerDuplexStream<FleetSessionRequest, FleetSessionResponse>;

export interface FleetSessionDeps {
  processes: Pick<ProcessesService, 'list'>;
  nodeInfo: Pick<NodeInfoService, 'getNodeInfo'>;
  limiter: Pick<ReadLimiter, 'acquire'>;
  log: Logger;
  metrics?: Pick<AgentMetrics, 'rpcs' | 'rpcDuration'>;
  maxInFlight?: number;
}

export interface FleetSessionStats {
  sessions: number;
  inFlight: number;
  /** Queries ended by a cancel message or by the session going away. */
  cancelled: number;
  /** Queries refused because the session had maxInFlight in flight. */
  busy: number;
}

interface InFlight {
  ac: AbortController;
  /** No answer is written: the client cancelled it, or the session is gone. */
  silent: boolean;
  /** Its deadline passed (the abort was the deadline's). */
  timedOut?: boolean;
}

/** The FleetSession handler and the sessions it serves. */
export class FleetSessions {
  private readonly open = new Set<Session>();
  readonly maxInFlight: number;
  private closing = false;
  private counts = { cancelled: 0, busy: 0 };

  constructor(private readonly deps: FleetSessionDeps) {
    this.maxInFlight = deps.maxInFlight ?? DEFAULT_MAX_SESSION_QUERIES;
  }

  /** The grpc-js handler of PmapService.FleetSession. */
  serve = (call: FleetCall): void => {
    const session = new Session(call, this.deps, this.maxInFlight, this.counts, () =>
      this.open.delete(session),
    );
    this.open.add(session);
    if (this.closing) session.finish();
  };

  /** The agent is stopping: every session answers what it has in flight, then ends (OK). */
  closeAll(): void {
    this.closing = true;
    for (const s of this.open) s.finish();
  }

  stats(): FleetSessionStats {
    let inFlight = 0;
    for (const s of this.open) inFlight += s.inFlight;
    return { sessions: this.open.size, inFlight, ...this.counts };
  }
}

/** A query's failure as the answer's FleetError (the unary status and its trailers). */
export function fleetError(e: unknown, log: Logger, rpc: string): FleetError {
  const st = toGrpcError(e, log, { rpc });
  const md = st.metadata ?? new Metadata();
  const one = (key: string): string => {
    const v = md.get(key)[0];
    return typeof v === 'string' ? v : '';
  };
  const pid = Number(one(PID_METADATA_KEY));
  return {
    code: st.code,
    message: st.details,
    reason: one(REASON_METADATA_KEY),
    field: one(FIELD_METADATA_KEY),
    pid: Number.isInteger(pid) && pid > 0 ? pid : 0,
  };
}

function rpcOf(q: FleetSessionRequest): 'ListProcesses' | 'GetNodeInfo' | undefined {
  if (q.listProcesses) return 'ListProcesses';
  if (q.getNodeInfo) return 'GetNodeInfo';
  return undefined;
}

class Session {
  private readonly queries = new Map<number, InFlight>();
  private readonly client: string[] | undefined;
  /** The gateway half-closed, or the agent is stopping: no new queries, end after these. */
  private ending = false;
  /** The stream is over (ended or cancelled): nothing more is written. */
  private over = false;
  private paused = false;

  constructor(
    private readonly call: FleetCall,
    private readonly deps: FleetSessionDeps,
    private readonly maxInFlight: number,
    private readonly counts: { cancelled: number; busy: number },
    private readonly onClose: () => void,
  ) {
    const sans = parseSubjectAltNames(clientCertificate(call)?.subjectaltname);
    this.client = sans.length > 0 ? sans : undefined;
    call.on('data', (q: FleetSessionRequest) => this.onQuery(q));
    call.on('end', () => this.finish());
    call.on('cancelled', () => this.gone());
    call.on('error', () => this.gone());
    call.on('close', () => this.gone());
  }

  get inFlight(): number {
    return this.queries.size;
  }

  /** No more queries: end the stream once the ones in flight are answered. */
  finish(): void {
    this.ending = true;
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (!this.ending || this.over || this.queries.size > 0) return;
    this.over = true;
    this.call.end();
    this.onClose();
  }

  /** The gateway went away: every query in flight is aborted, nothing is written. */
  private gone(): void {
    if (this.over && this.queries.size === 0) return;
    this.over = true;
    for (const q of this.queries.values()) {
      q.silent = true;
      q.ac.abort(cancelled('the session ended'));
    }
    this.onClose();
  }

  private onQuery(q: FleetSessionRequest): void {
    if (this.over) return;
    if (q.cancel) {
      const running = this.queries.get(q.id);
      if (running && !running.silent) {
        running.silent = true;
        running.ac.abort(cancelled('the query was cancelled'));
      }
      return;
    }
    const rpc = rpcOf(q);
    const t0 = performance.now();
    if (this.ending) {
      // the agent is stopping: as a refused connection would (no reason: not the agent's answer)
      this.write({
        id: q.id,
        error: {
          code: status.UNAVAILABLE,
          message: 'the agent is stopping',
          reason: '',
          field: '',
          pid: 0,
        },
      });
      return;
    }
    if (rpc === undefined) {
      this.answerError(
        q,
        'FleetSessionRequest',
        invalidArgument('body', 'the query has no body'),
        t0,
      );
      return;
    }
    if (this.queries.has(q.id)) {
      this.answerError(q, rpc, invalidArgument('id', `query ${q.id} is already in flight`), t0);
      return;
    }
    if (this.queries.size >= this.maxInFlight) {
      this.counts.busy++;
      const busy = new GrpcStatusError(
        status.RESOURCE_EXHAUSTED,
        `the agent serves at most ${this.maxInFlight} queries at once per session: retry later`,
        'AGENT_BUSY',
      );
      this.answerError(q, rpc, busy, t0);
      return;
    }
    const entry: InFlight = { ac: new AbortController(), silent: false };
    this.queries.set(q.id, entry);
    this.deps.log.debug({ rpc, requestId: q.requestId, session: q.id }, 'fleet query');
    const deadline = q.deadlineMs > 0 ? Date.now() + q.deadlineMs : undefined;
    const timer =
      deadline === undefined
        ? undefined
        : setTimeout(() => {
            entry.timedOut = true;
            entry.ac.abort(deadlineExceeded(`no answer within ${q.deadlineMs} ms`));
          }, q.deadlineMs);
    this.run(q, rpc, entry.ac.signal, deadline).then(
      (answer) => this.done(q, rpc, entry, timer, t0, answer, 'OK'),
      (e: unknown) => {
        // whatever the aborted step threw (the limiter's queue says CANCELLED), it was the deadline
        const cause = entry.timedOut ? deadlineExceeded(`no answer within ${q.deadlineMs} ms`) : e;
        const error = fleetError(cause, this.deps.log, rpc);
        this.done(q, rpc, entry, timer, t0, { id: q.id, error }, status[error.code] ?? '');
      },
    );
  }

  private async run(
    q: FleetSessionRequest,
    rpc: 'ListProcesses' | 'GetNodeInfo',
    signal: AbortSignal,
    deadline: number | undefined,
  ): Promise<FleetSessionResponse> {
    if (rpc === 'GetNodeInfo')
      return { id: q.id, nodeInfo: { node: this.deps.nodeInfo.getNodeInfo() } };
    const req = q.listProcesses!;
    // Reading every process's smaps_rollup is heavy; a list without rollups is not (as unary).
    const list = req.skipRollup
      ? await this.deps.processes.list(req, { signal })
      : await withPermit(this.deps.limiter, { deadline, signal }, (read) =>
          this.deps.processes.list(req, read),
        );
    if (signal.aborted) throw signal.reason;
    return { id: q.id, listProcesses: listResponse(list) };
  }

  private done(
    q: FleetSessionRequest,
    rpc: string,
    entry: InFlight,
    timer: NodeJS.Timeout | undefined,
    t0: number,
    answer: FleetSessionResponse,
    code: string,
  ): void {
    clearTimeout(timer);
    this.queries.delete(q.id);
    if (entry.silent) {
      this.counts.cancelled++;
      code = 'CANCELLED';
    }
    this.account(q, rpc, code, t0);
    if (!entry.silent) this.write(answer);
    this.endIfIdle();
  }

  private answerError(q: FleetSessionRequest, rpc: string, e: unknown, t0: number): void {
    const error = fleetError(e, this.deps.log, rpc);
    this.account(q, rpc, status[error.code] ?? String(error.code), t0);
    this.write({ id: q.id, error });
  }

  /** The query's count and log line, as rpcLogInterceptor writes for a unary call. */
  private account(q: FleetSessionRequest, rpc: string, code: string, t0: number): void {
    const seconds = (performance.now() - t0) / 1000;
    this.deps.metrics?.rpcs.inc({ rpc, code });
    this.deps.metrics?.rpcDuration.observe({ rpc }, seconds);
    this.deps.log.info(
      {
        rpc,
        requestId: q.requestId.length > 0 && q.requestId.length <= 128 ? q.requestId : undefined,
        client: this.client,
        code,
        ms: Math.round(seconds * 1e4) / 10,
        session: q.id,
      },
      'rpc',
    );
  }

  /** Writes an answer; a full stream stops the reading of queries until it drains. */
  private write(answer: FleetSessionResponse): void {
    if (this.over) return;
    if (this.call.write(answer) || this.paused) return;
    this.paused = true;
    this.call.pause();
    this.call.once('drain', () => {
      this.paused = false;
      if (!this.over) this.call.resume();
    });
  }
}
