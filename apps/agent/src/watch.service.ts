/**
 * WatchMemoryMap: a process's map over time. The first event is a SNAPSHOT (the whole map and the
 * smaps_rollup), then at every interval either a CHANGE (VMAs added / removed / changed since the
 * previous sample, the rollup and its delta) or a HEARTBEAT (nothing changed), and EXITED once the
 * process is gone, which ends the stream. The stream also ends after max_events events, and stops
 * as soon as the call is cancelled (client gone or deadline). With ve_node the VE process of the
 * pid is watched: its map from VEOS, its rollup the sum of that map.
 *
 * Limits: every sample takes a heavy-read permit (read-limiter.ts) like GetMemoryMap, so many
 * watches of a big process queue behind the same bound as other maps instead of overlapping;
 * samples are taken at a fixed rate, and a tick that comes while the previous sample is still
 * being read (or queued for a permit, or while the client has not drained the last event) is
 * skipped and counted — never two samples of one watch at once. At most `maxWatches` watches run
 * per agent (--max-watches); one more is RESOURCE_EXHAUSTED. A cancelled watch stops at once: its
 * timer is cleared, its queued permit request leaves the queue and its read in flight is dropped.
 *
 * The sampling is WatchSession here, the diff watch-diff.ts, shared samples watch-sampler.ts; the
 * gRPC handler in pmap.service.ts only forwards the call.
 */
import { status, type ServerWritableStream } from '@grpc/grpc-js';
import {
  filterVmasByRange,
  isPmapError,
  PmapError,
  type AddressRange,
  type MemoryMap,
  type MemoryRollup,
} from '@app/domain';
import { rollupOfVmas, type ProcReader, type ReadOptions } from '@app/procfs';
import {
  headerToProto,
  rollupToProto,
  vmaToProto,
  WatchEventType,
  type VmaChange,
  type WatchMemoryMapRequest,
  type WatchMemoryMapResponse,
} from '@app/proto';
import { GrpcStatusError, invalidArgument, toGrpcError } from './errors';
import type { Logger } from './logger';
import type { MemoryMapService } from './memory-map.service';
import { PermitLease, type ReadLimiter } from './read-limiter';
import { whenWritable } from './stream-flow';
import { deltaIsZero, diffVmas, rollupDelta } from './watch-diff';
import { sampleKey, WatchSampler, type WatchSample } from './watch-sampler';

export const MIN_WATCH_INTERVAL_MS = 100;
export const MAX_WATCH_INTERVAL_MS = 60_000;
export const DEFAULT_WATCH_INTERVAL_MS = 1000;
/** Concurrent watches per agent by default (--max-watches). */
export const DEFAULT_MAX_WATCHES = 64;

export interface WatchQuery {
  pid: number;
  intervalMs: number;
  detail: 'maps' | 'smaps';
  /** Only the VMAs overlapping it are watched (the rollup is always the whole process's). */
  range: AddressRange | undefined;
  maxEvents: number;
  /** The VE process of `pid` on this VE node (its map from VEOS) instead of the host process. */
  veNode?: number;
}

function isGone(e: unknown): boolean {
  return isPmapError(e) && (e.code === 'NOT_FOUND' || e.code === 'EXITED');
}

type Reader = Pick<ProcReader, 'readRollup' | 'readStat'>;

/**
 * One watched process: sample() reads the map and the rollup (off the event loop, through the
 * reader's worker pool) and returns the next event (or EXITED).
 */
export class WatchSession {
  private seq = 0n;
  private prevMap: MemoryMap | undefined;
  private prevRollup: MemoryRollup | undefined;
  exited = false;

  constructor(
    private readonly q: WatchQuery,
    private readonly maps: Pick<MemoryMapService, 'read'>,
    private readonly reader: Reader,
  ) {}

  private event(type: WatchEventType): WatchMemoryMapResponse {
    this.seq++;
    return {
      seq: this.seq,
      timeMs: BigInt(Date.now()),
      type,
      header: undefined,
      added: [],
      removed: [],
      changed: [],
      rollup: undefined,
      rollupDelta: undefined,
    };
  }

  /** One sample of the map (range-filtered) and the whole process's rollup. */
  /** One sample of the map (range-filtered) and the whole process's rollup, read now. */
  async read(opts: ReadOptions = {}): Promise<WatchSample> {
    const { pid, detail, range, veNode } = this.q;
    if (veNode === undefined) {
      const map = await this.maps.read(
        { pid, detail, threadStacks: false, range, batchSize: 0 },
        opts,
      );
      return { map, rollup: await this.reader.readRollup(pid, opts) };
    }
    // VEOS has no rollup: it is the sum of the whole VE map, which is always smaps-level; the
    // range and the maps detail level are applied to it here.
    const full = await this.maps.read(
      { pid, veNode, detail, threadStacks: false, range: undefined, batchSize: 0 },
      opts,
    );
    const pageSize = full.header.pageSize ?? 4096n;
    let vmas = filterVmasByRange(full.vmas, range, pageSize);
    if (detail === 'maps')
      vmas = vmas.map((v) => ({ ...v, fields: undefined, vmFlags: undefined }));
    return { map: { header: full.header, vmas }, rollup: rollupOfVmas(full.vmas) };
  }

  private assertNotZombie(): void {
    const state = this.reader.readStat(this.q.pid).state;
    if (state === 'Z' || state === 'X') {
      throw new PmapError('EXITED', `process ${this.q.pid} exited`);
    }
  }

  /**
   * The next event. The first call throws (NOT_FOUND...) when the process cannot be read; later,
   * a process that is gone yields EXITED.
   */
  async sample(opts: ReadOptions = {}): Promise<WatchMemoryMapResponse> {
    return this.sampleWith(() => this.read(opts));
  }

  /** sample() with the sample from `read` (a shared one: watch-sampler.ts). */
  async sampleWith(read: () => Promise<WatchSample>): Promise<WatchMemoryMapResponse> {
    const first = this.prevMap === undefined;
    let map: MemoryMap;
    let rollup: MemoryRollup;
    try {
      ({ map, rollup } = await read());
      // A zombie has an empty map and rollup: it has exited, not unmapped everything.
      if (!first && map.vmas.length === 0) this.assertNotZombie();
    } catch (e) {
      if (first || !isGone(e)) throw e;
      this.exited = true;
      const ev = this.event(WatchEventType.WATCH_EVENT_TYPE_EXITED);
      ev.header = headerToProto({ ...this.prevMap!.header, readAtMs: Date.now() });
      return ev;
    }
    if (first) {
      this.prevMap = map;
      this.prevRollup = rollup;
      const ev = this.event(WatchEventType.WATCH_EVENT_TYPE_SNAPSHOT);
      ev.header = headerToProto(map.header);
      ev.added = map.vmas.map((v) => vmaToProto(v));
      ev.rollup = rollupToProto(rollup);
      return ev;
    }
    const diff = diffVmas(this.prevMap!.vmas, map.vmas);
    const delta = rollupDelta(this.prevRollup!, rollup);
    this.prevMap = map;
    this.prevRollup = rollup;
    const quiet =
      diff.added.length === 0 &&
      diff.removed.length === 0 &&
      diff.changed.length === 0 &&
      deltaIsZero(delta);
    if (quiet) return this.event(WatchEventType.WATCH_EVENT_TYPE_HEARTBEAT);
    const ev = this.event(WatchEventType.WATCH_EVENT_TYPE_CHANGE);
    ev.header = headerToProto(map.header);
    ev.added = diff.added.map((v) => vmaToProto(v));
    ev.removed = diff.removed.map((v) => vmaToProto(v));
    ev.changed = diff.changed.map((c): VmaChange => ({
      before: vmaToProto(c.before),
      after: vmaToProto(c.after),
    }));
    ev.rollup = rollupToProto(rollup);
    ev.rollupDelta = delta;
    return ev;
  }
}

export interface WatchStats {
  /** Watches running now. */
  active: number;
  /** Ticks skipped because the previous sample was still being read (or not yet sent). */
  skipped: number;
  /** Watches refused because `maxWatches` were running. */
  refused: number;
  /** Reads made for the watches (each shared by the watches that joined it). */
  reads: number;
  /** Samples taken from a read another watch of the same process started. */
  joined: number;
}

type WatchCall = ServerWritableStream<WatchMemoryMapRequest, WatchMemoryMapResponse>;

export class WatchService {
  private active = 0;
  private skipped = 0;
  private refused = 0;
  private readonly sampler: WatchSampler;

  constructor(
    private readonly maps: MemoryMapService,
    private readonly reader: Reader,
    private readonly log: Logger,
    /** Every sample takes a heavy-read permit here. */
    private readonly limiter: Pick<ReadLimiter, 'acquire'>,
    private readonly opts: { maxWatches: number } = { maxWatches: DEFAULT_MAX_WATCHES },
  ) {
    this.sampler = new WatchSampler(limiter);
  }

  stats(): WatchStats {
    return {
      active: this.active,
      skipped: this.skipped,
      refused: this.refused,
      ...this.sampler.stats(),
    };
  }

  /** Validates a request (throws GrpcStatusError naming the field). */
  toQuery(req: WatchMemoryMapRequest): WatchQuery {
    // pid, ve_node, detail and range are checked by the GetMemoryMap validation.
    const base = this.maps.toQuery({
      pid: req.pid,
      veNode: req.veNode,
      range: req.range,
      detail: req.detail,
      batchSize: 0,
      threadStacks: false,
    });
    const interval = req.intervalMs === 0 ? DEFAULT_WATCH_INTERVAL_MS : req.intervalMs;
    if (interval < MIN_WATCH_INTERVAL_MS || interval > MAX_WATCH_INTERVAL_MS) {
      throw invalidArgument(
        'interval_ms',
        `interval_ms: must be ${MIN_WATCH_INTERVAL_MS}-${MAX_WATCH_INTERVAL_MS} (0 = ${DEFAULT_WATCH_INTERVAL_MS}), got ${req.intervalMs}`,
      );
    }
    return {
      pid: base.pid,
      intervalMs: interval,
      detail: base.detail,
      range: base.range,
      maxEvents: req.maxEvents,
      ...(base.veNode !== undefined ? { veNode: base.veNode } : {}),
    };
  }

  /** Serves one WatchMemoryMap call until the process exits, max_events, or cancellation. */
  serve(call: WatchCall): void {
    const fail = (e: unknown): void => {
      call.emit(
        'error',
        toGrpcError(e, this.log, { rpc: 'WatchMemoryMap', pid: call.request.pid }),
      );
    };
    let q: WatchQuery;
    let session: WatchSession;
    try {
      q = this.toQuery(call.request);
      session = new WatchSession(q, this.maps, this.reader);
    } catch (e) {
      fail(e);
      return;
    }
    if (this.active >= this.opts.maxWatches) {
      this.refused++;
      fail(
        new GrpcStatusError(
          status.RESOURCE_EXHAUSTED,
          `agent busy: ${this.active} watches running (--max-watches ${this.opts.maxWatches}); retry later`,
          'AGENT_BUSY',
        ),
      );
      return;
    }
    this.active++;
    this.run(call, q, session, fail);
  }

  private run(
    call: WatchCall,
    q: WatchQuery,
    session: WatchSession,
    fail: (e: unknown) => void,
  ): void {
    const ac = new AbortController();
    const key = sampleKey(q);
    // a sample begun up to half an interval ago is fresh enough for this watch
    const maxAgeMs = Math.floor(q.intervalMs / 2);
    let done = false;
    let busy = false;
    /** The last event was not taken by the stream yet (write returned false, no drain). */
    let full = false;
    let sent = 0;
    const finish = (): void => {
      if (done) return;
      done = true;
      this.active--;
      clearInterval(timer);
      ac.abort(new Error('the watch is over'));
      call.off('drain', onDrain);
    };
    const onDrain = (): void => {
      full = false;
    };
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('drain', onDrain);
    const sampleOnce = async (): Promise<void> => {
      const first = sent === 0;
      // The snapshot (the whole map as one message) is built and sent under a permit of its own,
      // taken once the shared read is over (never two at once: no permit waits on another),
      // and kept until the stream has taken it: a burst of watches of a big process holds at
      // most --max-heavy-reads snapshots in memory, as GetMemoryMap does.
      let snapshot: PermitLease | undefined;
      try {
        const ev = await session.sampleWith(async () => {
          const s = await this.sampler.sample(key, maxAgeMs, ac.signal, (o) => session.read(o));
          if (first) snapshot = await PermitLease.take(this.limiter, { signal: ac.signal });
          return s;
        });
        if (done || call.cancelled) return;
        full = !call.write(ev);
        sent++;
        if (session.exited || (q.maxEvents > 0 && sent >= q.maxEvents)) {
          finish();
          call.end();
          return;
        }
        if (snapshot && full) await whenWritable(call);
      } catch (e) {
        if (done || call.cancelled) return;
        const busyAgent = e instanceof GrpcStatusError && e.code === status.RESOURCE_EXHAUSTED;
        if (!first && busyAgent) {
          this.skipped++; // no permit for this tick: the next one tries again
          return;
        }
        finish();
        fail(e);
      } finally {
        snapshot?.end();
      }
    };
    const tick = (): void => {
      if (done || call.cancelled) return finish();
      if (busy || full) {
        this.skipped++;
        return;
      }
      busy = true;
      void sampleOnce().finally(() => {
        busy = false;
      });
    };
    const timer = setInterval(tick, q.intervalMs);
    tick();
  }
}
