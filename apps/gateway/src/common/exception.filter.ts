import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  Inject,
} from '@nestjs/common';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { isPmapError, type ErrorReason, type PmapErrorCode } from '@app/domain';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AgentCallError } from '../cluster/agent-connection';
import { ApiError, reason, type ErrorBody } from './api-error';
import { LOGGER } from './logger';

/**
 * THE table of agent errors: (gRPC code, agent reason) -> HTTP status. A row with a reason wins
 * over the code's row; a status without a reason (the transport's, or grpc-js's own deadline)
 * takes the code's row. Reasons: libs/domain/src/error-reasons.ts (docs/agent.md).
 */
const AGENT_ERRORS: readonly [GrpcStatus, ErrorReason | undefined, number][] = [
  [GrpcStatus.CANCELLED, undefined, 499],
  [GrpcStatus.INVALID_ARGUMENT, undefined, 400],
  [GrpcStatus.OUT_OF_RANGE, undefined, 400],
  [GrpcStatus.DEADLINE_EXCEEDED, undefined, 504],
  [GrpcStatus.NOT_FOUND, undefined, 404],
  [GrpcStatus.ALREADY_EXISTS, undefined, 409],
  [GrpcStatus.ABORTED, undefined, 409],
  [GrpcStatus.PERMISSION_DENIED, undefined, 403],
  // the gateway's own identity refused by the agent (--allow-client): not the client's doing
  [GrpcStatus.PERMISSION_DENIED, 'CLIENT_NOT_ALLOWED', 502],
  // the agent's heavy-read limiter refusing a call (its queue is full) is "retry later"; other
  // RESOURCE_EXHAUSTED (a message over the size limit) are the gateway's problem
  [GrpcStatus.RESOURCE_EXHAUSTED, undefined, 502],
  [GrpcStatus.RESOURCE_EXHAUSTED, 'AGENT_BUSY', 429],
  [GrpcStatus.FAILED_PRECONDITION, undefined, 412],
  [GrpcStatus.UNIMPLEMENTED, undefined, 501],
  [GrpcStatus.UNAVAILABLE, undefined, 503],
];

const AGENT_TO_HTTP = new Map(
  AGENT_ERRORS.map(([code, why, http]) => [`${code}/${why ?? ''}`, http]),
);

/** The HTTP status of an agent's error: its (code, reason) row, else its code's, else 502. */
export function agentHttpStatus(e: Pick<AgentCallError, 'code' | 'reason'>): number {
  return (
    (e.reason !== undefined ? AGENT_TO_HTTP.get(`${e.code}/${e.reason}`) : undefined) ??
    AGENT_TO_HTTP.get(`${e.code}/`) ??
    502
  );
}

/** Domain errors raised in the gateway itself (range parsing...). */
const PMAP_TO_HTTP: Record<PmapErrorCode, number> = {
  NOT_FOUND: 404,
  EXITED: 404,
  PERMISSION_DENIED: 403,
  INVALID_ARGUMENT: 400,
  UNSUPPORTED: 501,
  FAILED_PRECONDITION: 412,
  UNAVAILABLE: 503,
  TIMED_OUT: 504,
};

function body(status: number, message: string, extra: Partial<ErrorBody> = {}): ErrorBody {
  return { statusCode: status, error: reason(status), message, ...extra };
}

function agentMessage(e: AgentCallError): string {
  switch (e.code) {
    case GrpcStatus.UNAVAILABLE:
      return `the agent of node '${e.node}' at ${e.address} is unavailable: ${e.details}`;
    case GrpcStatus.DEADLINE_EXCEEDED:
      if (!e.deadlinePassed) return `node '${e.node}': ${e.details}`;
      return `the agent of node '${e.node}' did not answer within ${e.timeoutMs ?? '?'} ms`;
    case GrpcStatus.UNIMPLEMENTED:
      return `node '${e.node}' does not implement this yet: ${e.details}`;
    default:
      return `node '${e.node}': ${e.details}`;
  }
}

/**
 * The gateway's ONE exception filter: every error becomes a JSON body
 * {statusCode, error, message, parameter?, allowed?, node?}. Unknown errors answer a generic 500
 * and are logged; no stack trace ever reaches a client.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  toBody(e: unknown): ErrorBody {
    if (e instanceof ApiError) return e.body;
    if (e instanceof AgentCallError) {
      const status = agentHttpStatus(e);
      const extra: Partial<ErrorBody> = { node: e.node };
      if (e.reason !== undefined) extra.reason = e.reason;
      if (status === 400 && e.field !== undefined) extra.parameter = e.field;
      return body(status, agentMessage(e), extra);
    }
    if (isPmapError(e)) {
      const status = PMAP_TO_HTTP[e.code];
      return body(status, e.message, e.field ? { parameter: e.field } : {});
    }
    if (e instanceof HttpException) {
      const status = e.getStatus();
      const res = e.getResponse();
      let message = e.message;
      if (typeof res === 'object' && res !== null && 'message' in res) {
        const m = res.message;
        message = Array.isArray(m) ? m.map(String).join('; ') : String(m);
      } else if (typeof res === 'string') message = res;
      return body(status, message);
    }
    // Fastify's own errors (bad URL encoding, body limits...) carry a 4xx statusCode.
    const fst = e as { statusCode?: unknown; code?: unknown; message?: unknown };
    if (
      typeof fst?.statusCode === 'number' &&
      fst.statusCode >= 400 &&
      fst.statusCode < 500 &&
      typeof fst.message === 'string'
    ) {
      return body(fst.statusCode, fst.message);
    }
    return body(500, 'internal error (logged by the gateway)');
  }

  catch(e: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();
    const out = this.toBody(e);
    if (out.statusCode >= 500 && out.statusCode !== 501) {
      const log = { method: request.method, url: request.url, status: out.statusCode };
      if (out.statusCode === 500) {
        this.logger.error(
          {
            ...log,
            err:
              e instanceof Error ? { name: e.name, message: e.message, stack: e.stack } : String(e),
          },
          'unhandled error',
        );
      } else {
        this.logger.warn({ ...log, message: out.message }, 'request failed');
      }
    }
    if (reply.sent) return; // the client went away or the answer already left
    void reply
      .status(out.statusCode)
      .header('content-type', 'application/json; charset=utf-8')
      .send(JSON.stringify(out));
  }
}
