/**
 * Memory relief after load: once the agent's heavy work (maps, histograms, rollup lists, watch
 * samples — everything under the read limiter) has stopped for `idleMs`, one full garbage
 * collection and then glibc's malloc_trim(0) give the memory of the finished reads back to the
 * system.
 *
 * Why both: V8 frees dead objects only when it next collects, and an idle agent does not
 * allocate, so the garbage of the last burst (parsed maps, read pieces) would stay; and the
 * bytes the read workers allocated live in glibc arenas of their threads, which glibc hands back
 * only from the top of each arena unless malloc_trim walks them. Measured (docs/BENCHMARKS.md
 * "Agent and gateway memory"): after 300 concurrent heavy requests the agent stayed at 4–7× its
 * fresh RSS without this, and comes back near it with it.
 *
 * Cheap when idle: nothing runs until a burst of heavy work ends, then one collection (tens of
 * ms on a heap of ~100 MB, while no heavy call is running) and one trim. Where glibc is not the
 * C library (musl), only the collection is done.
 */
import * as koffi from 'koffi';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './logger';

export const DEFAULT_RELIEF_IDLE_MS = 2000;

export interface MemoryReliefOptions {
  /** How long heavy work must have stopped before the relief runs (ms). */
  idleMs?: number;
  /** A full collection (default: V8's gc, made callable at construction). */
  gc?: () => void;
  /** Returns freed heap memory to the system (default: glibc malloc_trim(0) through koffi). */
  trim?: (() => void) | null;
  log?: Pick<Logger, 'debug'>;
  /** Told after each relief (metrics). */
  onRelief?: () => void;
}

type V8Gc = (opts?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * V8's full collection as a function (the `--expose-gc` flag set at run time): an ordinary full
 * collection, which frees the objects but keeps the heap's pages committed, then one of the
 * "last resort" flavour, which shrinks the spaces and returns their pages to the system (on
 * Node 20's V8 that flavour alone collects nothing, on Node 24's it does both; together they do
 * both on each).
 */
export function v8Gc(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as V8Gc;
  return () => {
    gc();
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  };
}

/** glibc's malloc_trim(0), or null when this C library has none. */
export function mallocTrim(): (() => void) | null {
  try {
    const trim = koffi.load('libc.so.6').func('int malloc_trim(size_t)') as (pad: number) => number;
    return () => {
      trim(0);
    };
  } catch {
    return null;
  }
}

/** Told by the read limiter when heavy work starts (busy) and when the last of it ends (idle). */
export class MemoryRelief {
  private timer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly gc: () => void;
  private readonly trim: (() => void) | null;
  private reliefs = 0;

  constructor(private readonly opts: MemoryReliefOptions = {}) {
    this.idleMs = opts.idleMs ?? DEFAULT_RELIEF_IDLE_MS;
    this.gc = opts.gc ?? v8Gc();
    this.trim = opts.trim === undefined ? mallocTrim() : opts.trim;
  }

  /** Reliefs run so far. */
  get count(): number {
    return this.reliefs;
  }

  busy(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  idle(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.relieve(), this.idleMs);
    this.timer.unref();
  }

  /** Stops a pending relief (shutdown). */
  close(): void {
    this.busy();
  }

  private relieve(): void {
    this.timer = undefined;
    const t0 = performance.now();
    this.gc();
    const t1 = performance.now();
    this.trim?.();
    this.reliefs++;
    this.opts.onRelief?.();
    this.opts.log?.debug(
      {
        gcMs: Math.round(t1 - t0),
        trimMs: Math.round(performance.now() - t1),
        rssMiB: Math.round(process.memoryUsage.rss() / 2 ** 20),
      },
      'memory relief after heavy work',
    );
  }
}
