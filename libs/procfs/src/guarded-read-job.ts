/** The reads of GuardedFileReader (guarded-read.ts): their state, its workers' slots, errors. */
import type { Worker } from 'node:worker_threads';
import { PmapError } from '@app/domain';

/** The reason word of every "read stuck" failure's message (its code is TIMED_OUT). */
export const READ_STUCK = 'READ_STUCK';

export interface Job {
  path: string;
  resolve: (b: Buffer) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  onSlow: (() => void) | undefined;
  resume: (() => Promise<void>) | undefined;
  /** It ran longer than slowMs. */
  slow: boolean;
  /** Answered (or dropped): a late reply is discarded. */
  settled: boolean;
  /** A chunked read's consumer of pieces (readChunks). */
  onChunk: ((piece: Buffer) => void) | undefined;
  /** Pieces of a slow chunked read, held until the caller's resume has settled. */
  pending: Buffer[];
}

export interface Slot {
  worker: Worker;
  job: Job | undefined;
  started: number;
  timer: NodeJS.Timeout | undefined;
  slowTimer: NodeJS.Timeout | undefined;
  /** Its read is slow and it does not count against `workers`. */
  suspect: boolean;
}

/** What a chunked read resolves with (its bytes went to onChunk). */
export const EMPTY = Buffer.alloc(0);

/** A Node-style system error, so errno mappings (procError) treat it like a direct read's. */
export function systemError(code: string | undefined, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export function checkedTimeout(ms: number): number {
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new RangeError(`timeoutMs must be a positive integer, got ${ms}`);
  }
  return ms;
}

export function positive(name: string, n: number): number {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${n}`);
  }
  return n;
}

export function stuckError(message: string): PmapError {
  return new PmapError('TIMED_OUT', `${READ_STUCK}: ${message}`);
}

export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new PmapError('UNAVAILABLE', 'the read was cancelled');
}
