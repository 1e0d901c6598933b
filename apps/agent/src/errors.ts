/**
 * The ONE place where the agent turns failures into gRPC status: PmapError codes from the readers
 * and raw errno errors (for anything that escaped a reader). Anything else is an INTERNAL error with
 * a generic message for the client and a log line (with the stack) for the operator.
 */
import { status, type StatusObject } from '@grpc/grpc-js';
import { isPmapError, PmapError } from '@app/domain';
import type { Logger } from './logger';

export type GrpcError = Pick<StatusObject, 'code' | 'details'>;

/** An error that is already a gRPC status (for UNIMPLEMENTED and friends raised by handlers). */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
  ) {
    super(details);
    this.name = 'GrpcStatusError';
  }
}

const EXITED_RE = /process (\d+) exited/;

function pmapErrorToStatus(e: PmapError, pid: number | undefined): GrpcError {
  switch (e.code) {
    case 'NOT_FOUND':
      return { code: status.NOT_FOUND, details: e.message };
    case 'EXITED': {
      const n = pid ?? EXITED_RE.exec(e.message)?.[1];
      return {
        code: status.NOT_FOUND,
        details: n !== undefined ? `process ${n} exited during the read` : e.message,
      };
    }
    case 'PERMISSION_DENIED':
      return { code: status.PERMISSION_DENIED, details: e.message };
    case 'INVALID_ARGUMENT':
      return { code: status.INVALID_ARGUMENT, details: e.message };
    case 'UNSUPPORTED':
      return { code: status.UNIMPLEMENTED, details: e.message };
    case 'FAILED_PRECONDITION':
      return { code: status.FAILED_PRECONDITION, details: e.message };
    case 'UNAVAILABLE':
      return { code: status.UNAVAILABLE, details: e.message };
    case 'TIMED_OUT':
      return { code: status.DEADLINE_EXCEEDED, details: e.message };
  }
}

const PTRACE_HINT =
  'the agent needs root or CAP_SYS_PTRACE to read processes of other users (see docs/agent.md)';

function errnoToStatus(code: string, pid: number | undefined): GrpcError | undefined {
  const what = pid !== undefined ? `process ${pid}` : 'the process';
  switch (code) {
    case 'ENOENT':
      return {
        code: status.NOT_FOUND,
        details: pid !== undefined ? `no such process ${pid}` : 'not found',
      };
    case 'ESRCH':
      return { code: status.NOT_FOUND, details: `${what} exited during the read` };
    case 'EACCES':
    case 'EPERM':
      return { code: status.PERMISSION_DENIED, details: `cannot read ${what}: ${PTRACE_HINT}` };
    default:
      return undefined;
  }
}

/**
 * Maps any thrown value to a gRPC status. `context` names the RPC and the pid for the log line and
 * for messages the readers did not phrase themselves.
 */
export function toGrpcError(
  err: unknown,
  log: Logger,
  context: { rpc: string; pid?: number },
): GrpcError {
  if (err instanceof GrpcStatusError) return { code: err.code, details: err.details };
  if (isPmapError(err)) return pmapErrorToStatus(err, context.pid);
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
  return { code: status.INTERNAL, details: `internal error in ${context.rpc} (see the agent log)` };
}

export function invalidArgument(details: string): GrpcStatusError {
  return new GrpcStatusError(status.INVALID_ARGUMENT, details);
}

export function unimplemented(details: string): GrpcStatusError {
  return new GrpcStatusError(status.UNIMPLEMENTED, details);
}
