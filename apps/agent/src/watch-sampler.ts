/**
 * Samples shared by the watches of one process (watch.service.ts): watches asking for the same
 * thing (pid, VE node, detail, range) while a sample of it is being read, or within `maxAgeMs` of
 * when the last one began, get that sample instead of reading their own. So 32 watches of one
 * big process read and parse it about once per interval, not 32 times, and hold the same objects
 * as their previous sample instead of 32 copies.
 *
 * A shared read takes one heavy-read permit (PermitLease: lent while the read is slow). It is
 * cancelled when every watch waiting for it has gone.
 */
import type { MemoryMap, MemoryRollup } from '@app/domain';
import type { ReadOptions } from '@app/procfs';
import { PermitLease, type ReadLimiter } from './read-limiter';

export interface WatchSample {
  map: MemoryMap;
  rollup: MemoryRollup;
}

interface Shared {
  promise: Promise<WatchSample>;
  startedAt: number;
  done: boolean;
  waiters: number;
  ac: AbortController;
}

export interface SamplerStats {
  /** Reads made (each shared by every watch that joined it). */
  reads: number;
  /** Samples answered by joining a read another watch started. */
  joined: number;
}

export class WatchSampler {
  private readonly shared = new Map<string, Shared>();
  private reads = 0;
  private joined = 0;

  constructor(
    private readonly limiter: Pick<ReadLimiter, 'acquire'>,
    private readonly now: () => number = Date.now,
  ) {}

  stats(): SamplerStats {
    return { reads: this.reads, joined: this.joined };
  }

  /**
   * The sample `key` names, read by `read` under a permit unless one is in flight or began at
   * most `maxAgeMs` ago. Rejects at once when `signal` aborts (the read goes on while other
   * watches wait for it).
   */
  sample(
    key: string,
    maxAgeMs: number,
    signal: AbortSignal,
    read: (opts: ReadOptions) => Promise<WatchSample>,
  ): Promise<WatchSample> {
    let s = this.shared.get(key);
    if (s && s.done && this.now() - s.startedAt > maxAgeMs) s = undefined;
    if (s) this.joined++;
    else s = this.start(key, maxAgeMs, read);
    return this.join(s, signal);
  }

  private start(
    key: string,
    maxAgeMs: number,
    read: (opts: ReadOptions) => Promise<WatchSample>,
  ): Shared {
    this.reads++;
    const ac = new AbortController();
    const s: Shared = {
      promise: undefined as unknown as Promise<WatchSample>,
      startedAt: this.now(),
      done: false,
      waiters: 0,
      ac,
    };
    s.promise = (async () => {
      const lease = await PermitLease.take(this.limiter, { signal: ac.signal });
      try {
        return await read(lease.readOptions());
      } finally {
        lease.end();
      }
    })();
    const forget = (): void => {
      if (this.shared.get(key) === s) this.shared.delete(key);
    };
    s.promise.then(
      () => {
        s.done = true;
        // kept for the watches that come within maxAgeMs, then dropped (no closed watch's map
        // stays referenced from here)
        setTimeout(forget, maxAgeMs).unref();
      },
      () => {
        s.done = true;
        forget();
      },
    );
    this.shared.set(key, s);
    return s;
  }

  private join(s: Shared, signal: AbortSignal): Promise<WatchSample> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    s.waiters++;
    return new Promise<WatchSample>((resolve, reject) => {
      const leave = (): void => {
        signal.removeEventListener('abort', onAbort);
        s.waiters--;
      };
      const onAbort = (): void => {
        leave();
        if (s.waiters === 0 && !s.done) s.ac.abort(abortReason(signal));
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      s.promise.then(
        (v) => {
          if (signal.aborted) return;
          leave();
          resolve(v);
        },
        (e: unknown) => {
          if (signal.aborted) return;
          leave();
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('the watch is over');
}

/** The sampler key of a watch: what it reads. */
export function sampleKey(q: {
  pid: number;
  veNode?: number;
  detail: string;
  range?: { low?: bigint; high?: bigint; clip?: boolean };
}): string {
  const r = q.range;
  return `${q.pid}/${q.veNode ?? ''}/${q.detail}/${r?.low ?? ''}-${r?.high ?? ''}-${r?.clip ? 1 : 0}`;
}
