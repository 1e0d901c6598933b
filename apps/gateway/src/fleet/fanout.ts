/**
 * The fan-out engine: runs one task per node with bounded concurrency (a semaphore), gives each
 * node its own deadline (counted from the moment its task starts, propagated to the agent as the
 * gRPC deadline), retries a node only when its agent answered UNAVAILABLE (once, after a short
 * pause, within the same deadline), and always completes with a partial result:
 * {queried, responded, failed: [{node, code, message, reason?}]}. Plain TypeScript: no Nest, testable alone.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ErrorReason } from '@app/domain';
import { AgentCallError } from '../cluster/agent-connection';

/** A counting semaphore: at most `limit` holders at once, FIFO (O(1) per acquire/release). */
export class Semaphore {
  private active = 0;
  private waiting: (() => void)[] = [];
  /** Index of the next waiter in `waiting` (no Array.shift: a fan-out queues every node). */
  private head = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error('semaphore limit must be >= 1');
  }

  get inUse(): number {
    return this.active;
  }

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.head < this.waiting.length ? this.waiting[this.head++] : undefined;
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      if (next) next();
      else this.active--;
    };
  }
}

/** What a node task gets: the absolute deadline of this node and the request's abort signal. */
export interface NodeCtx {
  /** Epoch ms (FanOutOptions.now) after which the node counts as failed (DEADLINE_EXCEEDED). */
  deadline: number;
  /** Milliseconds left until the deadline (at least 1). */
  remaining(): number;
  signal?: AbortSignal;
  attempt: number;
}

export interface NodeFailure {
  node: string;
  /** gRPC status name of the failure (UNAVAILABLE, DEADLINE_EXCEEDED, NOT_FOUND...), or INTERNAL. */
  code: string;
  message: string;
  /** The agent's machine-readable reason (docs/agent.md), when the agent gave one. */
  reason?: ErrorReason;
}

export interface NodeOutcome<T> {
  node: string;
  ok: boolean;
  value?: T;
  failure?: NodeFailure;
  attempts: number;
  durationMs: number;
}

export interface FanOutOptions<T> {
  /** Concurrent node tasks at most. */
  concurrency: number;
  /** Per-node deadline in ms. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Pause before the one retry of an UNAVAILABLE node (default 100 ms). */
  retryDelayMs?: number;
  /**
   * Called as each node completes (success or failure), in completion order. A returned promise
   * (a stream waiting for its client to read) keeps that node's slot until it settles: while a
   * consumer does not take answers, no further node starts (at most `concurrency` answers wait).
   */
  onNode?: (outcome: NodeOutcome<T>, done: number, total: number) => void | Promise<void>;
  /** The clock of the deadlines, epoch ms (default Date.now; tests give their own). */
  now?: () => number;
}

export interface FanOutResult<T> {
  queried: number;
  responded: number;
  failed: NodeFailure[];
  /** Successful nodes in completion order. */
  results: { node: string; value: T; durationMs: number }[];
  outcomes: NodeOutcome<T>[];
}

export function failureOf(node: string, e: unknown, timeoutMs: number): NodeFailure {
  if (e instanceof AgentCallError) {
    const code = GrpcStatus[e.code] ?? String(e.code);
    const message = e.deadlinePassed
      ? `the agent did not answer within ${timeoutMs} ms`
      : e.details;
    return e.reason !== undefined
      ? { node, code, message, reason: e.reason }
      : { node, code, message };
  }
  if (e instanceof DeadlineError) {
    return { node, code: 'DEADLINE_EXCEEDED', message: `no answer within ${timeoutMs} ms` };
  }
  return { node, code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
}

/** Thrown by a node task that finds its deadline passed between calls. */
export class DeadlineError extends Error {
  constructor() {
    super('deadline exceeded');
    this.name = 'DeadlineError';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The node deadlines of one fan-out on ONE timer (not one per node). Every node gets the same
 * timeout from the moment its task starts, so deadlines come in start order: a FIFO whose head is
 * the earliest pending deadline, the timer armed for it. A task still running at its deadline is
 * abandoned (its gRPC calls carry the same deadline and end by themselves).
 */
export class FanOutDeadlines {
  private queue: { deadline: number; done: boolean; expire: () => void }[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The deadline the timer is armed for. */
  private armedFor = 0;

  constructor(private readonly now: () => number) {}

  /** `p`, or DeadlineError at `deadline` if it has not settled by then. */
  race<T>(p: Promise<T>, deadline: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = { deadline, done: false, expire: () => reject(new DeadlineError()) };
      this.queue.push(entry);
      if (this.timer === undefined) this.arm();
      p.then(
        (v) => {
          entry.done = true;
          resolve(v);
        },
        (e: unknown) => {
          entry.done = true;
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  /** The fan-out is over: no timer left behind. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    const q = this.queue;
    while (this.head < q.length && q[this.head].done) this.head++;
    if (this.head > 1024 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
    if (this.head >= this.queue.length) {
      this.timer = undefined;
      return;
    }
    this.armedFor = this.queue[this.head].deadline;
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.armedFor - this.now()));
  }

  private fire(): void {
    // the deadline armed for has come, whatever the clock says (tests give their own)
    const t = Math.max(this.now(), this.armedFor);
    const q = this.queue;
    while (this.head < q.length) {
      const e = q[this.head];
      if (!e.done) {
        if (e.deadline > t) break;
        e.done = true;
        e.expire();
      }
      this.head++;
    }
    this.arm();
  }
}

function isUnavailable(e: unknown): boolean {
  return e instanceof AgentCallError && e.unreachable;
}

/**
 * Runs `task` for every node, at most `concurrency` at a time. Never rejects: every node ends as a
 * result or a failure.
 */
export async function fanOut<T>(
  nodes: readonly string[],
  task: (node: string, ctx: NodeCtx) => Promise<T>,
  opts: FanOutOptions<T>,
): Promise<FanOutResult<T>> {
  const sem = new Semaphore(opts.concurrency);
  const outcomes: NodeOutcome<T>[] = [];
  const total = nodes.length;
  const retryDelay = opts.retryDelayMs ?? 100;
  const now = opts.now ?? Date.now;
  const deadlines = new FanOutDeadlines(now);

  const runNode = async (node: string): Promise<void> => {
    const release = await sem.acquire();
    const t0 = performance.now();
    const deadline = now() + opts.timeoutMs;
    let attempts = 0;
    let outcome: NodeOutcome<T>;
    try {
      for (;;) {
        attempts++;
        const ctx: NodeCtx = {
          deadline,
          remaining: () => Math.max(1, deadline - now()),
          signal: opts.signal,
          attempt: attempts,
        };
        try {
          if (opts.signal?.aborted) throw new Error('client went away');
          const value = await deadlines.race(task(node, ctx), deadline);
          outcome = { node, ok: true, value, attempts, durationMs: 0 };
          break;
        } catch (e) {
          // Retry only UNAVAILABLE, once, and only if the deadline leaves room for it.
          if (attempts === 1 && isUnavailable(e) && deadline - now() > retryDelay + 10) {
            await sleep(retryDelay);
            continue;
          }
          outcome = {
            node,
            ok: false,
            failure: failureOf(node, e, opts.timeoutMs),
            attempts,
            durationMs: 0,
          };
          break;
        }
      }
    } catch (e) {
      release();
      throw e;
    }
    outcome.durationMs = Math.round((performance.now() - t0) * 1000) / 1000;
    outcomes.push(outcome);
    try {
      await opts.onNode?.(outcome, outcomes.length, total);
    } catch {
      // a consumer's failure is its own (the stream is over); the fan-out still completes
    } finally {
      release();
    }
  };

  try {
    await Promise.all(nodes.map(runNode));
  } finally {
    deadlines.close();
  }
  const results: FanOutResult<T>['results'] = [];
  const failed: NodeFailure[] = [];
  for (const o of outcomes) {
    if (o.ok) results.push({ node: o.node, value: o.value as T, durationMs: o.durationMs });
    else failed.push(o.failure!);
  }
  failed.sort((a, b) => a.node.localeCompare(b.node));
  return { queried: total, responded: results.length, failed, results, outcomes };
}
