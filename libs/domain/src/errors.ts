/**
 * Named failure conditions shared by readers and apps. Each app maps them to its transport in one
 * place (agent: gRPC status; gateway: HTTP).
 */
export type PmapErrorCode =
  | 'NOT_FOUND' // no such process
  | 'EXITED' // the process exited during the read
  | 'PERMISSION_DENIED'
  | 'INVALID_ARGUMENT'
  | 'UNSUPPORTED' // not available on this target / node
  | 'FAILED_PRECONDITION' // a capability the agent lacks
  | 'UNAVAILABLE'
  | 'TIMED_OUT'; // a read did not return in time (a process stuck in the kernel)

export class PmapError extends Error {
  constructor(
    readonly code: PmapErrorCode,
    message: string,
    /** For INVALID_ARGUMENT: the parameter at fault. */
    readonly field?: string,
    /** The process the error is about, when one is (no such process, exited, denied). */
    readonly pid?: number,
  ) {
    super(message);
    this.name = 'PmapError';
  }
}

export function isPmapError(e: unknown): e is PmapError {
  return e instanceof PmapError;
}
