/** The options and statistics of GuardedFileReader (guarded-read.ts). */

export interface GuardedReadOptions {
  /**
   * How long one read may take before it is declared hung (ms), counted from when a worker takes
   * it: one value for every path, or a function giving each path its own (a positive integer each
   * time; tests give the files that answer a long timeout and the one that blocks a short one).
   */
  timeoutMs: number | ((path: string) => number);
  /** Stuck reads kept at most; beyond that reads fail at once (default 8). */
  maxHung?: number;
  /** Worker threads reading at once (default 4), not counting slow and stuck ones. */
  workers?: number;
  /** A read running this long is slow (default 250 ms, at most the timeout). */
  slowMs?: number;
  /** Reads waiting for a worker at most; beyond that a read fails at once (default 4096). */
  maxQueued?: number;
  /** A read was declared hung. */
  onHung?: (path: string, hung: number) => void;
  /** A hung read returned after `ms` (its path can be read again). */
  onRecovered?: (path: string, ms: number, hung: number) => void;
}

export interface GuardedReadCallOptions {
  /** Aborting drops the read: it leaves the queue, or its result is discarded. */
  signal?: AbortSignal;
  /** The read became slow (it runs longer than slowMs): called once. */
  onSlow?: () => void;
  /** Awaited before a slow read's bytes are handed over (a rejection fails the read). */
  resume?: () => Promise<void>;
}

export interface GuardedReadStats {
  /** Live workers (idle or reading), not counting stuck ones. */
  workers: number;
  busy: number;
  /** Busy workers whose read is slow (not counted against `workers`). */
  slow: number;
  queued: number;
  hung: number;
}
