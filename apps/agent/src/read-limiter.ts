/**
 * A limit on concurrent heavy reads per agent (`--max-heavy-reads`, default 2; queue bound
 * `--max-queued-reads`, default 256).
 *
 * Heavy calls — GetMemoryMap (maps/smaps of one process), GetHistogram (pagemap scans),
 * ListProcesses with smaps_rollup (one rollup per process) and watch samples — take a permit
 * before they read and keep it until their answer has been written (or they were cancelled).
 * The reads run in the reader's worker pool; parsing and encoding run on the event loop. What the
 * limit bounds:
 *
 * - memory: at most N materialised maps / histograms are held while their stream drains to a slow
 *   client (a 20,000-VMA smaps map is tens of MB of objects; a burst of 200 would be gigabytes);
 * - interleaving: time-sliced histogram scans (histogram.service.ts yields every ~25 ms) run at
 *   most N at once instead of all sharing the core;
 * - wasted work: a queued call whose deadline passes, or whose client cancels, leaves the queue
 *   without reading anything (DEADLINE_EXCEEDED / CANCELLED), so a burst of calls nobody waits
 *   for any more costs nothing;
 * - floods: beyond the queue bound a call is refused at once with RESOURCE_EXHAUSTED
 *   (the gateway answers 429), instead of growing the queue without end.
 *
 * A call whose read is slow (probably stuck in the kernel) lends its permit back meanwhile
 * (PermitLease), so stuck calls hold none. Light calls (GetNodeInfo, health, ListProcesses
 * without rollup) are not limited.
 */
import { status } from '@grpc/grpc-js';
import type { ReadOptions } from '@app/procfs';
import { cancelled, deadlineExceeded, GrpcStatusError } from './errors';

export const DEFAULT_MAX_HEAVY_READS = 2;
export const DEFAULT_MAX_QUEUED_READS = 256;

/** What a queued caller needs: when to give up (epoch ms) and a way to hear about cancellation. */
export interface AcquireOptions {
  /** Epoch milliseconds; undefined or Infinity = no deadline. */
  deadline?: number;
  /** Resolves/rejects the wait when aborted (the call was cancelled). */
  signal?: AbortSignal;
  /**
   * Served before every ordinary waiter (FIFO among priority ones) and never refused for a full
   * queue: a call taking back its lent permit (PermitLease.resume) already holds its read's bytes,
   * so it goes first instead of waiting behind new reads that would hold more.
   */
  priority?: boolean;
}

interface Waiter {
  /** Epoch ms or Infinity. */
  deadline: number;
  priority: boolean;
  grant: (release: () => void) => void;
  fail: (e: GrpcStatusError) => void;
}

/** Told when heavy work starts (a first permit taken) and when it has all ended. */
export interface ReadLimiterEvents {
  busy(): void;
  idle(): void;
}

export interface ReadLimiterStats {
  active: number;
  queued: number;
  /** Calls refused because the queue was full. */
  rejected: number;
  /** Calls that left the queue at their deadline or cancellation without reading. */
  expired: number;
}

export class ReadLimiter {
  private active = 0;
  /** Priority waiters first, then the others; each part FIFO. */
  private readonly queue: Waiter[] = [];
  /** How many of the queue's waiters (at its front) are priority ones. */
  private priorityQueued = 0;
  private rejected = 0;
  private expired = 0;

  /**
   * @param now the clock the deadlines are read on, epoch ms (tests give their own; the queue's
   *   deadline timers are real ones, armed for the time left by this clock)
   */
  constructor(
    readonly maxActive: number = DEFAULT_MAX_HEAVY_READS,
    readonly maxQueued: number = DEFAULT_MAX_QUEUED_READS,
    private readonly now: () => number = Date.now,
    private readonly events?: ReadLimiterEvents,
  ) {
    if (!Number.isInteger(maxActive) || maxActive < 1) {
      throw new RangeError(`maxActive must be a positive integer, got ${maxActive}`);
    }
    if (!Number.isInteger(maxQueued) || maxQueued < 0) {
      throw new RangeError(`maxQueued must be a non-negative integer, got ${maxQueued}`);
    }
  }

  stats(): ReadLimiterStats {
    return {
      active: this.active,
      queued: this.queue.length,
      rejected: this.rejected,
      expired: this.expired,
    };
  }

  /**
   * Resolves with a release function once a permit is free (FIFO). Rejects with
   * RESOURCE_EXHAUSTED when the queue is full, DEADLINE_EXCEEDED at the deadline, CANCELLED when
   * the signal aborts. The release function is idempotent.
   */
  acquire(opts: AcquireOptions = {}): Promise<() => void> {
    if (opts.signal?.aborted) {
      return Promise.reject(cancelled('cancelled while queued'));
    }
    if (this.active < this.maxActive) {
      if (this.active++ === 0) this.events?.busy();
      return Promise.resolve(this.releaser());
    }
    if (this.queue.length >= this.maxQueued && !opts.priority) {
      this.rejected++;
      return Promise.reject(
        new GrpcStatusError(
          status.RESOURCE_EXHAUSTED,
          `agent busy: ${this.maxActive} heavy reads running and ${this.queue.length} queued (--max-heavy-reads, --max-queued-reads); retry later`,
          'AGENT_BUSY',
        ),
      );
    }
    const remaining = opts.deadline !== undefined ? opts.deadline - this.now() : Infinity;
    if (remaining <= 0) {
      this.expired++;
      return Promise.reject(deadlineExceeded('deadline exceeded while queued'));
    }
    return new Promise<() => void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const leave = (): void => {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        const i = this.queue.indexOf(waiter);
        if (i >= 0) {
          this.queue.splice(i, 1);
          if (waiter.priority) this.priorityQueued--;
        }
      };
      const waiter: Waiter = {
        deadline: opts.deadline ?? Infinity,
        priority: opts.priority === true,
        grant: (release) => {
          leave();
          resolve(release);
        },
        fail: (e) => {
          leave();
          this.expired++;
          reject(e);
        },
      };
      const onAbort = (): void => waiter.fail(cancelled('cancelled while queued'));
      if (Number.isFinite(remaining)) {
        // setTimeout takes at most 2^31-1 ms.
        timer = setTimeout(
          () => waiter.fail(deadlineExceeded('deadline exceeded while queued')),
          Math.min(remaining, 2 ** 31 - 1),
        );
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (waiter.priority) this.queue.splice(this.priorityQueued++, 0, waiter);
      else this.queue.push(waiter);
    });
  }

  /** Runs `fn` holding a permit; the permit is released when its promise settles. */
  async run<T>(opts: AcquireOptions, fn: () => Promise<T> | T): Promise<T> {
    const release = await this.acquire(opts);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private shift(): Waiter | undefined {
    const next = this.queue.shift();
    if (next?.priority) this.priorityQueued--;
    return next;
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      // A waiter whose deadline passed while the event loop was busy (a long parse delays
      // the timers) leaves now instead of reading for a caller that has given up.
      const now = this.now();
      let next = this.shift();
      while (next && next.deadline <= now) {
        next.fail(deadlineExceeded('deadline exceeded while queued'));
        next = this.shift();
      }
      if (next) next.grant(this.releaser());
      else if (--this.active === 0) this.events?.idle();
    };
  }
}

/**
 * The permit of one heavy call, lent back while the call's /proc read is slow (the reader's pool
 * says so: the target is probably stuck in the kernel) and taken back before the read's bytes are
 * used — ahead of every call still waiting for its first permit, so reads that came back do not
 * pile up their bytes behind new ones (a burst of big reads that all turn slow under load would
 * otherwise hold every one's bytes at once). So calls stuck on a process that does not answer hold no permit, and the other calls of
 * the agent keep being served. `readOptions()` wires it into ProcReader reads.
 */
export class PermitLease {
  private release: (() => void) | undefined;
  private pending: Promise<void> | undefined;
  private ended = false;

  private constructor(
    private readonly limiter: Pick<ReadLimiter, 'acquire'>,
    private readonly opts: AcquireOptions,
  ) {}

  /** Waits for a permit (as ReadLimiter.acquire: FIFO, deadline, cancellation, queue bound). */
  static async take(
    limiter: Pick<ReadLimiter, 'acquire'>,
    opts: AcquireOptions = {},
  ): Promise<PermitLease> {
    const lease = new PermitLease(limiter, opts);
    lease.release = await limiter.acquire(opts);
    return lease;
  }

  /** A permit is held now. */
  get held(): boolean {
    return this.release !== undefined;
  }

  /** Read options: the call's signal, the permit lent while a read is slow. */
  readOptions(): ReadOptions {
    return { signal: this.opts.signal, onSlow: () => this.lend(), resume: () => this.resume() };
  }

  /** Gives the permit back (a read is slow); resume() takes one again. */
  lend(): void {
    const release = this.release;
    this.release = undefined;
    release?.();
  }

  /** Holds a permit again (waiting in the limiter's queue if need be). */
  resume(): Promise<void> {
    if (this.release || this.ended) return Promise.resolve();
    this.pending ??= this.limiter.acquire({ ...this.opts, priority: true }).then(
      (release) => {
        this.pending = undefined;
        if (this.ended) release();
        else this.release = release;
      },
      (e: unknown) => {
        this.pending = undefined;
        throw e;
      },
    );
    return this.pending;
  }

  /** The call is done: the permit goes back for good. */
  end(): void {
    this.ended = true;
    this.lend();
  }
}

/**
 * Runs `fn` under a heavy-read permit taken with `opts` (the caller's deadline and cancellation:
 * FIFO queue, bound, AGENT_BUSY beyond it). A deadline that passed while queued fails with
 * DEADLINE_EXCEEDED before anything is read. `fn` gets the read options (signal, the permit lent
 * back while a read is slow); the permit goes back when it settles. The unary handlers
 * (pmap.service.ts) and the fleet session's queries (fleet-session.ts) share it.
 */
export async function withPermit<T>(
  limiter: Pick<ReadLimiter, 'acquire'>,
  opts: AcquireOptions,
  fn: (read: ReadOptions) => Promise<T> | T,
): Promise<T> {
  const lease = await PermitLease.take(limiter, opts);
  try {
    if (opts.deadline !== undefined && Date.now() >= opts.deadline) {
      throw deadlineExceeded('deadline exceeded before the read');
    }
    return await fn(lease.readOptions());
  } finally {
    lease.end();
  }
}

/** The part of a grpc-js server call the limiter looks at. */
export interface LimitedCall {
  getDeadline(): Date | number;
  readonly cancelled: boolean;
  on(event: 'cancelled', listener: () => void): unknown;
  off(event: 'cancelled', listener: () => void): unknown;
}

/**
 * Acquire options from a server call (its deadline, an abort signal fired on 'cancelled') and a
 * dispose function removing the listener once the call no longer waits.
 */
export function callAcquireOptions(call: LimitedCall): {
  opts: AcquireOptions;
  dispose: () => void;
} {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  const ac = new AbortController();
  // the reason is what a read aborted by it throws: CANCELLED, not an internal error
  const abort = (): void => ac.abort(cancelled('the call was cancelled'));
  if (call.cancelled) abort();
  const onCancel = abort;
  call.on('cancelled', onCancel);
  return {
    opts: { deadline: Number.isFinite(ms) && ms > 0 ? ms : undefined, signal: ac.signal },
    dispose: () => {
      call.off('cancelled', onCancel);
    },
  };
}
