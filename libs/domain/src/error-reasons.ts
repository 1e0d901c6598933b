/**
 * The machine-readable reasons of the agent's gRPC errors: part of the gRPC contract
 * (docs/agent.md). The agent sends them as trailing metadata beside the status, set in one place
 * (apps/agent/src/errors.ts); the gateway reads them (apps/gateway/src/cluster/agent-connection.ts)
 * and maps (gRPC code, reason) to HTTP in its one error table. Status messages stay human and are
 * never parsed.
 */

/** Trailing metadata key: the reason, one of ERROR_REASONS. */
export const REASON_METADATA_KEY = 'pmap-reason';
/** Trailing metadata key: the request field at fault (with INVALID_FIELD), e.g. `batch_size`. */
export const FIELD_METADATA_KEY = 'pmap-field';
/** Trailing metadata key: the pid the error is about (decimal), where one is. */
export const PID_METADATA_KEY = 'pmap-pid';

export const ERROR_REASONS = [
  /** The heavy-read limiter's queue is full (RESOURCE_EXHAUSTED): retry later. */
  'AGENT_BUSY',
  /** A /proc read did not return in time: the process is stuck in the kernel (DEADLINE_EXCEEDED). */
  'READ_STUCK',
  /** The process exited during the read (NOT_FOUND). */
  'PROCESS_EXITED',
  /** No such process (NOT_FOUND). */
  'PROCESS_NOT_FOUND',
  /** Something else the request names does not exist, e.g. a VE node (NOT_FOUND). */
  'NOT_FOUND',
  /** The agent may not read the process (PERMISSION_DENIED). */
  'PERMISSION_DENIED',
  /** The caller's TLS identity is not in the agent's --allow-client list (PERMISSION_DENIED). */
  'CLIENT_NOT_ALLOWED',
  /** A request field is invalid (INVALID_ARGUMENT); `pmap-field` names it. */
  'INVALID_FIELD',
  /** The call's deadline passed at the agent (queued, or before the read) (DEADLINE_EXCEEDED). */
  'DEADLINE',
  /** The client cancelled the call (CANCELLED). */
  'CANCELLED',
  /** Not available on this target or node (UNIMPLEMENTED). */
  'UNSUPPORTED',
  /** The agent lacks a capability the call needs (FAILED_PRECONDITION). */
  'FAILED_PRECONDITION',
  /** A read failed for another reason (UNAVAILABLE from the agent, not from the transport). */
  'READ_FAILED',
  /** A bug in the agent, logged there (INTERNAL). */
  'INTERNAL',
] as const;

export type ErrorReason = (typeof ERROR_REASONS)[number];

const REASON_SET: ReadonlySet<string> = new Set(ERROR_REASONS);

/** The reason named by a metadata value, or undefined for anything else (absent, unknown). */
export function parseErrorReason(value: unknown): ErrorReason | undefined {
  return typeof value === 'string' && REASON_SET.has(value) ? (value as ErrorReason) : undefined;
}
