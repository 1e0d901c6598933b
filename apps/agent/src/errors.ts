/**
 * The ONE place where the agent turns failures into gRPC status: PmapError codes from the readers,
 * GrpcStatusError raised by the agent itself (validation, the heavy-read limiter) and raw errno
 * errors (for anything that escaped a reader). Anything else is an INTERNAL error with a generic
 * message for the client and a log line (with the stack) for the operator.
 *
 * Every status carries its machine-readable reason as trailing metadata (`pmap-reason`, plus
 * `pmap-field` for INVALID_FIELD and `pmap-pid` where a process is concerned; names in
 * libs/domain/src/error-reasons.ts, contract in docs/agent.md). The message is for humans.
 */
import { Metadata, status, type StatusObject } from '@grpc/grpc-js';
import {
  FIELD_METADATA_KEY,
  isPmapError,
  PID_METADATA_KEY,
  PmapError,
  REASON_METADATA_KEY,
  type ErrorReason,
} from '@app/domain';
import type { Logger } from './logger';

export type GrpcError = Pick<StatusObject, 'code' | 'details' | 'metadata'>;

/** What a status says beyond code and message. */
export interface ReasonExtra {
  /** The request field at fault (INVALID_FIELD), in the proto's spelling (`batch_size`). */
  field?: string;
  pid?: number;
}

/** An error that is already a gRPC status (validation, the limiter, UNIMPLEMENTED...). */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
    readonly reason: ErrorReason,
    readonly extra: ReasonExtra = {},
  ) {
    super(details);
    this.name = 'GrpcStatusError';
  }
}

/** A status with its reason in the trailing metadata: how every agent error leaves. */
export function grpcStatus(
  code: status,
  details: string,
  reason: ErrorReason,
  extra: ReasonExtra = {},
): GrpcError {
  const metadata = new Metadata();
  metadata.set(REASON_METADATA_KEY, reason);
  if (extra.field !== undefined) metadata.set(FIELD_METADATA_KEY, extra.field);
  if (extra.pid !== undefined) metadata.set(PID_METADATA_KEY, String(extra.pid));
  return { code, details, metadata };
}

function pmapErrorToStatus(e: PmapError, contextPid: number | undefined): GrpcError {
  const pid = e.pid ?? contextPid;
  switch (e.code) {
    case 'NOT_FOUND':
      // a PmapError names its pid when the process is what is missing (not a VE node...)
      return e.pid !== undefined
        ? grpcStatus(status.NOT_FOUND, e.message, 'PROCESS_NOT_FOUND', { pid: e.pid })
        : grpcStatus(status.NOT_FOUND, e.message, 'NOT_FOUND');
    case 'EXITED':
      return grpcStatus(
        status.NOT_FOUND,
        pid !== undefined ? `process ${pid} exited during the read` : e.message,
        'PROCESS_EXITED',
        { pid },
      );
    case 'PERMISSION_DENIED':
      return grpcStatus(status.PERMISSION_DENIED, e.message, 'PERMISSION_DENIED', { pid });
    case 'INVALID_ARGUMENT':
      return grpcStatus(status.INVALID_ARGUMENT, e.message, 'INVALID_FIELD', { field: e.field });
    case 'UNSUPPORTED':
      return grpcStatus(status.UNIMPLEMENTED, e.message, 'UNSUPPORTED');
    case 'FAILED_PRECONDITION':
      return grpcStatus(status.FAILED_PRECONDITION, e.message, 'FAILED_PRECONDITION');
    case 'UNAVAILABLE':
      return grpcStatus(status.UNAVAILABLE, e.message, 'READ_FAILED', { pid });
    case 'TIMED_OUT':
      return grpcStatus(status.DEADLINE_EXCEEDED, e.message, 'READ_STUCK', { pid });
  }
}

const PTRACE_HINT =
  'the agent needs root or CAP_SYS_PTRACE to read processes of other users (see docs/agent.md)';

function errnoToStatus(code: string, pid: number | undefined): GrpcError | undefined {
  const what = pid !== undefined ? `process ${pid}` : 'the process';
  switch (code) {
    case 'ENOENT':
      return grpcStatus(
        status.NOT_FOUND,
        pid !== undefined ? `no such process ${pid}` : 'not found',
        pid !== undefined ? 'PROCESS_NOT_FOUND' : 'NOT_FOUND',
        { pid },
      );
    case 'ESRCH':
      return grpcStatus(status.NOT_FOUND, `${what} exited during the read`, 'PROCESS_EXITED', {
        pid,
      });
    case 'EACCES':
    case 'EPERM':
      return grpcStatus(
        status.PERMISSION_DENIED,
        `cannot read ${what}: ${PTRACE_HINT}`,
        'PERMISSION_DENIED',
        { pid },
      );
    default:
      return undefined;
  }
}

/**
 * Maps any thrown value to a gRPC status with its reason. `context` names the RPC and the pid for
 * the log line, for the `pmap-pid` trailer and for messages the readers did not phrase themselves.
 */
export function toGrpcError(
  err: unknown,
  log: Logger,
  context: { rpc: string; pid?: number },
): GrpcError {
  if (err instanceof GrpcStatusError) {
    return grpcStatus(err.code, err.details, err.reason, err.extra);
  }
  if (isPmapError(err)) return pmapErrorToStatus(err, context.pid);
  // a read aborted by a signal without a reason of ours (DOMException or fs's AbortError)
  if ((err as { name?: unknown } | null)?.name === 'AbortError') {
    return grpcStatus(status.CANCELLED, 'the call was cancelled', 'CANCELLED');
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const mapped = errnoToStatus(code, context.pid);
    if (mapped) return mapped;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  log.error(
    { rpc: context.rpc, pid: context.pid, err: { message: e.message, stack: e.stack } },
    'internal error',
  );
  return grpcStatus(
    status.INTERNAL,
    `internal error in ${context.rpc} (see the agent log)`,
    'INTERNAL',
  );
}

/** INVALID_ARGUMENT with reason INVALID_FIELD naming `field` (the proto field, `batch_size`). */
export function invalidArgument(field: string, details: string): GrpcStatusError {
  return new GrpcStatusError(status.INVALID_ARGUMENT, details, 'INVALID_FIELD', { field });
}

export function unimplemented(details: string): GrpcStatusError {
  return new GrpcStatusError(status.UNIMPLEMENTED, details, 'UNSUPPORTED');
}

/** DEADLINE_EXCEEDED at the agent: the call's deadline passed before its read began. */
export function deadlineExceeded(details: string): GrpcStatusError {
  return new GrpcStatusError(status.DEADLINE_EXCEEDED, details, 'DEADLINE');
}

export function cancelled(details: string): GrpcStatusError {
  return new GrpcStatusError(status.CANCELLED, details, 'CANCELLED');
}
