/**
 * GuardedFileReader: whole-file reads off the caller's thread, by a bounded pool of worker
 * threads, answered asynchronously. The caller's event loop never waits on a read.
 *
 * Reading /proc/PID/{cmdline,maps,smaps,smaps_rollup,numa_maps} takes the target's mmap_lock. A
 * process stuck in uninterruptible sleep while holding it (a page fault on a dead NFS or Lustre
 * server, a hung FUSE daemon) makes such a read block in the kernel for as long as the process is
 * stuck. Here each read is synchronous (one readFileSync, or 1 MiB reads posted piece by piece:
 * readChunks) in one of at most `workers` worker threads (guarded-read-worker.ts); the bytes come
 * back by postMessage with the buffer transferred, not copied.
 *
 * - Reads wait in a FIFO queue while every worker is busy (at most `maxQueued`, beyond that a
 *   read fails at once with UNAVAILABLE). At most one read per path runs at a time: a second read
 *   of a path that is being read waits for the first, so a stuck path holds one worker, not many.
 * - A read still running after `slowMs` (a chunked read: `slowMs` without a new piece) is "slow"
 *   (probably stuck): its worker stops counting
 *   against `workers` (as long as slow plus stuck reads stay within `maxHung`), so other paths
 *   are read on another worker instead of waiting for the timeout; its caller is told
 *   (onSlow: the agent gives back its heavy-read permit) and, should the read return after all,
 *   its bytes are handed over once the caller's `resume` has settled (the agent takes a permit
 *   back). A slow worker that returns is kept, or ended when there are enough idle ones.
 * - A read that does not return within its timeout fails with TIMED_OUT ("READ_STUCK"); its worker
 *   — a thread blocked in the kernel cannot be cancelled — is set aside (onHung) and the pool goes
 *   on with a fresh worker. While that path's read has not returned, reading it again fails at
 *   once, and at most `maxHung` stuck reads are kept: beyond that every read fails at once. A stuck
 *   read that finally returns frees its slot and its thread (onRecovered).
 * - A read whose signal aborts leaves the queue at once; a running one is answered at once (with
 *   the signal's reason) and its bytes are dropped when they arrive.
 *
 * Plain TypeScript without process-wide effects: the app creates the pool (and closes it).
 */
import { Worker } from 'node:worker_threads';
import { PmapError } from '@app/domain';
import type {
  GuardedReadCallOptions,
  GuardedReadOptions,
  GuardedReadStats,
} from './guarded-read-options';
import { WORKER_SOURCE, type WorkerReply, type WorkerRequest } from './guarded-read-worker';
import {
  abortReason,
  checkedTimeout,
  EMPTY,
  positive,
  stuckError,
  systemError,
  type Job,
  type Slot,
} from './guarded-read-job';

export { READ_STUCK } from './guarded-read-job';

export type {
  GuardedReadCallOptions,
  GuardedReadOptions,
  GuardedReadStats,
} from './guarded-read-options';

export class GuardedFileReader {
  private readonly idle: Slot[] = [];
  private readonly busy = new Set<Slot>();
  private readonly queue: Job[] = [];
  /** Paths being read by a live worker. */
  private readonly inFlight = new Set<string>();
  /** path -> when its read started, for reads that did not return in time. */
  private readonly hung = new Map<string, number>();
  private readonly timeoutOf: (path: string) => number;
  private readonly maxHung: number;
  private readonly maxWorkers: number;
  private readonly maxQueued: number;
  private readonly slowMs: number;
  /** Busy slots whose read is slow (slot.suspect). */
  private suspects = 0;
  private closed = false;

  constructor(private readonly opts: GuardedReadOptions) {
    const { timeoutMs } = opts;
    if (typeof timeoutMs === 'function') {
      this.timeoutOf = (path) => checkedTimeout(timeoutMs(path));
    } else {
      checkedTimeout(timeoutMs);
      this.timeoutOf = () => timeoutMs;
    }
    this.maxHung = opts.maxHung ?? 8;
    this.maxWorkers = positive('workers', opts.workers ?? 4);
    this.maxQueued = positive('maxQueued', opts.maxQueued ?? 4096);
    this.slowMs = positive('slowMs', opts.slowMs ?? 250);
  }

  /** Reads still blocked in the kernel. */
  get hungReads(): number {
    return this.hung.size;
  }

  stats(): GuardedReadStats {
    return {
      workers: this.idle.length + this.busy.size,
      busy: this.busy.size,
      slow: this.suspects,
      queued: this.queue.length,
      hung: this.hung.size,
    };
  }

  /**
   * The whole file, as readFileSync would return it; file-system errors are rethrown as Node
   * system errors (with `code`). TIMED_OUT (READ_STUCK) when the read does not return within the
   * timeout, or at once when this path's earlier read is still stuck or too many reads are.
   */
  read(path: string, opts: GuardedReadCallOptions = {}): Promise<Buffer> {
    return this.enqueue(path, opts, undefined);
  }

  /**
   * The file in pieces, each ending at a line end (the last may not), handed to `onChunk` in order
   * as the worker reads them (1 MiB reads), so the caller works on one while the kernel makes the
   * next; resolves after the last piece. Failures as read's; a failure after some pieces (or
   * `onChunk` throwing) rejects, and no piece is handed over after the promise has settled. A
   * slow read's pieces are held until the caller's `resume` has settled.
   */
  readChunks(
    path: string,
    onChunk: (piece: Buffer) => void,
    opts: GuardedReadCallOptions = {},
  ): Promise<void> {
    return this.enqueue(path, opts, onChunk).then(() => undefined);
  }

  private enqueue(
    path: string,
    opts: GuardedReadCallOptions,
    onChunk: ((piece: Buffer) => void) | undefined,
  ): Promise<Buffer> {
    if (this.closed) return Promise.reject(new PmapError('UNAVAILABLE', 'the reader is closed'));
    const refused = this.refusal(path);
    if (refused) return Promise.reject(refused);
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.queue.length >= this.maxQueued) {
      return Promise.reject(
        new PmapError(
          'UNAVAILABLE',
          `${this.queue.length} /proc reads are queued; not reading ${path}`,
        ),
      );
    }
    return new Promise<Buffer>((resolve, reject) => {
      const job: Job = {
        path,
        resolve,
        reject,
        signal,
        onAbort: undefined,
        onSlow: opts.onSlow,
        resume: opts.resume,
        slow: false,
        settled: false,
        onChunk,
        pending: [],
      };
      if (signal) {
        job.onAbort = () => {
          const i = this.queue.indexOf(job);
          if (i >= 0) this.queue.splice(i, 1);
          this.settle(job, undefined, abortReason(signal));
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** Stops the workers and fails queued reads (stuck workers end when their read returns). */
  close(): void {
    this.closed = true;
    for (const job of this.queue.splice(0)) {
      this.settle(job, undefined, new PmapError('UNAVAILABLE', 'the reader is closed'));
    }
    for (const s of [...this.idle, ...this.busy]) {
      this.clearTimers(s);
      if (s.job)
        this.settle(s.job, undefined, new PmapError('UNAVAILABLE', 'the reader is closed'));
      void s.worker.terminate();
    }
    this.idle.length = 0;
    this.busy.clear();
    this.inFlight.clear();
    this.suspects = 0;
  }

  private clearTimers(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    if (slot.slowTimer) clearTimeout(slot.slowTimer);
    slot.timer = undefined;
    slot.slowTimer = undefined;
  }

  /** Hands a read's bytes (or error) to its caller; a slow read's after the caller's resume. */
  private answer(job: Job, value: Buffer | undefined, err?: unknown): void {
    if (job.settled) return;
    if (!job.slow || !job.resume) return this.finish(job, value, err);
    job.resume().then(
      () => this.finish(job, value, err),
      (e: unknown) => this.settle(job, undefined, e),
    );
  }

  /** The held pieces of a chunked read that succeeded, then the answer. */
  private finish(job: Job, value: Buffer | undefined, err?: unknown): void {
    if (value !== undefined) {
      for (const piece of job.pending.splice(0)) if (!this.deliver(job, piece)) return;
    }
    this.settle(job, value, err);
  }

  /** One piece to a chunked read's consumer; false (the read failed) when it throws. */
  private deliver(job: Job, piece: Buffer): boolean {
    if (job.settled) return false;
    try {
      job.onChunk?.(piece);
      return true;
    } catch (e) {
      this.settle(job, undefined, e);
      return false;
    }
  }

  /** A piece of a chunked read: handed over (held while the read is slow); progress, not slow. */
  private onChunk(slot: Slot, reply: { chunk: ArrayBuffer; length: number }): void {
    const job = slot.job;
    if (job === undefined || job.settled || !this.busy.has(slot)) return;
    const piece = Buffer.from(reply.chunk, 0, reply.length);
    if (job.slow && job.resume) {
      job.pending.push(piece);
      return;
    }
    if (!job.slow && slot.slowTimer) {
      clearTimeout(slot.slowTimer);
      slot.slowTimer = setTimeout(() => this.onSlow(slot), this.slowMs);
    }
    this.deliver(job, piece);
  }

  /** Why `path` is not read now (stuck), else undefined. */
  private refusal(path: string): PmapError | undefined {
    const since = this.hung.get(path);
    if (since !== undefined) {
      return stuckError(
        `an earlier read of ${path} has not returned for ${Date.now() - since} ms ` +
          '(the process is probably stuck in uninterruptible sleep)',
      );
    }
    if (this.hung.size >= this.maxHung) {
      return stuckError(
        `${this.hung.size} reads of /proc are stuck in the kernel; not reading ${path}`,
      );
    }
    return undefined;
  }

  private settle(job: Job, value: Buffer | undefined, err?: unknown): void {
    if (job.settled) return;
    job.settled = true;
    job.pending.length = 0;
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
    if (value !== undefined) job.resolve(value);
    else job.reject(err);
  }

  /** Hands queued reads to free workers, oldest first, one read per path at a time. */
  private dispatch(): void {
    for (let i = 0; i < this.queue.length;) {
      if (this.idle.length === 0 && this.busy.size - this.suspects >= this.maxWorkers) return;
      const job = this.queue[i];
      if (this.inFlight.has(job.path)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      const refused = this.refusal(job.path);
      if (refused) {
        this.settle(job, undefined, refused);
        continue;
      }
      this.start(this.idle.pop() ?? this.spawn(), job);
    }
  }

  private start(slot: Slot, job: Job): void {
    let timeoutMs: number;
    try {
      timeoutMs = this.timeoutOf(job.path);
    } catch (e) {
      this.idle.push(slot);
      this.settle(job, undefined, e);
      return;
    }
    slot.job = job;
    slot.started = Date.now();
    this.busy.add(slot);
    this.inFlight.add(job.path);
    slot.timer = setTimeout(() => this.onTimeout(slot, timeoutMs), timeoutMs);
    if (this.slowMs < timeoutMs) slot.slowTimer = setTimeout(() => this.onSlow(slot), this.slowMs);
    const request: WorkerRequest = job.onChunk ? { path: job.path, chunked: true } : job.path;
    slot.worker.postMessage(request);
  }

  /** The slot's read runs long: tell the caller; let another worker take the next reads. */
  private onSlow(slot: Slot): void {
    slot.slowTimer = undefined;
    const job = slot.job;
    if (job === undefined) return;
    job.slow = true;
    if (!job.settled) job.onSlow?.();
    if (this.suspects + this.hung.size < this.maxHung) {
      slot.suspect = true;
      this.suspects++;
      this.dispatch();
    }
  }

  /** A slow slot's read ended (returned or hung): it counts against `workers` again. */
  private unsuspect(slot: Slot): void {
    if (!slot.suspect) return;
    slot.suspect = false;
    this.suspects--;
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    const slot: Slot = {
      worker,
      job: undefined,
      started: 0,
      timer: undefined,
      slowTimer: undefined,
      suspect: false,
    };
    worker.on('message', (reply: WorkerReply) => {
      if ('chunk' in reply) this.onChunk(slot, reply);
      else this.onReply(slot, reply);
    });
    worker.on('error', () => this.onWorkerGone(slot));
    return slot;
  }

  private onReply(slot: Slot, reply: Exclude<WorkerReply, { chunk: ArrayBuffer }>): void {
    const job = slot.job;
    this.clearTimers(slot);
    slot.job = undefined;
    if (job === undefined) return;
    if (this.hung.has(job.path) && !this.busy.has(slot)) {
      // A stuck read returned: its slot and thread are freed.
      const ms = Date.now() - slot.started;
      this.hung.delete(job.path);
      void slot.worker.terminate();
      this.opts.onRecovered?.(job.path, ms, this.hung.size);
      this.dispatch();
      return;
    }
    const wasSuspect = slot.suspect;
    this.unsuspect(slot);
    this.busy.delete(slot);
    this.inFlight.delete(job.path);
    if (this.closed) return;
    // A slow worker that came back is one too many when the others already fill the pool.
    if (wasSuspect && this.idle.length + this.busy.size - this.suspects >= this.maxWorkers) {
      void slot.worker.terminate();
    } else {
      this.idle.push(slot);
    }
    if ('ok' in reply) this.answer(job, Buffer.from(reply.ok));
    else if ('done' in reply) this.answer(job, EMPTY);
    else this.answer(job, undefined, systemError(reply.code, reply.message));
    this.dispatch();
  }

  /** The slot's worker is blocked in the kernel: keep it aside until its read returns. */
  private onTimeout(slot: Slot, timeoutMs: number): void {
    const job = slot.job;
    this.clearTimers(slot);
    if (job === undefined) return;
    this.unsuspect(slot);
    this.busy.delete(slot);
    this.inFlight.delete(job.path);
    this.hung.set(job.path, slot.started);
    this.settle(
      job,
      undefined,
      stuckError(
        `reading ${job.path} did not return within ${timeoutMs} ms ` +
          '(the process is probably stuck in uninterruptible sleep)',
      ),
    );
    this.opts.onHung?.(job.path, this.hung.size);
    this.dispatch();
  }

  /** A worker died (out of memory...): its read fails, the pool goes on without it. */
  private onWorkerGone(slot: Slot): void {
    this.clearTimers(slot);
    this.unsuspect(slot);
    const i = this.idle.indexOf(slot);
    if (i >= 0) this.idle.splice(i, 1);
    const job = slot.job;
    slot.job = undefined;
    if (job && this.busy.delete(slot)) {
      this.inFlight.delete(job.path);
      this.settle(
        job,
        undefined,
        new PmapError('UNAVAILABLE', `reading ${job.path}: worker failed`),
      );
    } else if (job && this.hung.delete(job.path)) {
      this.opts.onRecovered?.(job.path, Date.now() - slot.started, this.hung.size);
    }
    this.dispatch();
  }
}
