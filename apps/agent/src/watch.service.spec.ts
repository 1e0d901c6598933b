import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { status } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { MemoryMap, Vma } from '@app/domain';
import { emptyRollup, ProcReader } from '@app/procfs';
import { DetailLevel, WatchEventType, type WatchMemoryMapRequest } from '@app/proto';
import { GrpcStatusError } from './errors';
import { createLogger } from './logger';
import { MemoryMapService } from './memory-map.service';
import { ReadLimiter } from './read-limiter';
import { VeService } from './ve.service';
import { diffVmas, rollupDelta } from './watch-diff';
import { WatchService, WatchSession } from './watch.service';

function vma(start: bigint, end: bigint, extra: Partial<Vma> = {}): Vma {
  return {
    start,
    end,
    perms: 'rw-p',
    offset: 0n,
    devMajor: 0,
    devMinor: 0,
    inode: 0n,
    name: '',
    kind: 'anon',
    ...extra,
  };
}

const rollup0 = emptyRollup();
const noVe = VeService.of(undefined, 'no VE in this spec');

describe('diffVmas', () => {
  test('added, removed and changed VMAs keyed by start, in address order', () => {
    const before = [vma(0x1000n, 0x2000n), vma(0x3000n, 0x4000n), vma(0x5000n, 0x6000n)];
    const after = [
      vma(0x1000n, 0x2000n),
      vma(0x3000n, 0x5000n), // grew
      vma(0x7000n, 0x8000n, { name: '/lib/x.so', kind: 'file' }),
    ];
    const d = diffVmas(before, after);
    expect(d.added.map((v) => v.start)).toEqual([0x7000n]);
    expect(d.removed.map((v) => v.start)).toEqual([0x5000n]);
    expect(d.changed).toHaveLength(1);
    expect(d.changed[0].before.end).toBe(0x4000n);
    expect(d.changed[0].after.end).toBe(0x5000n);
  });

  test('smaps fields and permissions count as changes; identical samples do not', () => {
    const f = (rss: bigint): Vma['fields'] => [{ name: 'Rss', value: rss, kb: true }];
    const a = [vma(0x1000n, 0x2000n, { fields: f(4n), vmFlags: 'rd wr' })];
    expect(diffVmas(a, [vma(0x1000n, 0x2000n, { fields: f(4n), vmFlags: 'rd wr' })])).toEqual({
      added: [],
      removed: [],
      changed: [],
    });
    expect(
      diffVmas(a, [vma(0x1000n, 0x2000n, { fields: f(8n), vmFlags: 'rd wr' })]).changed,
    ).toHaveLength(1);
    expect(
      diffVmas(a, [vma(0x1000n, 0x2000n, { fields: f(4n), vmFlags: 'rd wr', perms: 'r--p' })])
        .changed,
    ).toHaveLength(1);
  });

  test('rollupDelta is signed', () => {
    const d = rollupDelta({ ...rollup0, rss: 8192n, swap: 4096n }, { ...rollup0, rss: 4096n });
    expect(d).toMatchObject({ rss: -4096n, swap: -4096n, pss: 0n });
  });
});

describe('WatchService request validation', () => {
  const reader = new ProcReader();
  const svc = new WatchService(
    new MemoryMapService(reader, 1000, noVe),
    reader,
    createLogger('silent', {}),
    new ReadLimiter(),
  );
  const req = (r: Partial<WatchMemoryMapRequest>): WatchMemoryMapRequest => ({
    pid: process.pid,
    veNode: undefined,
    intervalMs: 0,
    detail: DetailLevel.DETAIL_LEVEL_MAPS,
    range: undefined,
    maxEvents: 0,
    ...r,
  });

  test('interval 0 means the default; bounds 100 ms .. 60 s', () => {
    expect(svc.toQuery(req({})).intervalMs).toBe(1000);
    expect(svc.toQuery(req({ intervalMs: 100 })).intervalMs).toBe(100);
    expect(svc.toQuery(req({ intervalMs: 60000 })).intervalMs).toBe(60000);
    for (const bad of [1, 99, 60001]) {
      const e = (() => {
        try {
          svc.toQuery(req({ intervalMs: bad }));
        } catch (x) {
          return x as GrpcStatusError;
        }
        throw new Error('accepted');
      })();
      expect(e).toBeInstanceOf(GrpcStatusError);
      expect(e.details).toMatch(/^interval_ms: must be 100-60000/);
    }
  });

  test('pid and range are validated like GetMemoryMap', () => {
    expect(() => svc.toQuery(req({ pid: 0 }))).toThrow(/pid must be a positive integer/);
    expect(() => svc.toQuery(req({ range: { low: 10n, high: 5n, clip: false } }))).toThrow(
      /range: low address/,
    );
  });
});

describe('WatchSession on live processes', () => {
  /** Spawning and watching processes on a loaded machine: far above the usual 100 ms. */
  const LIVE_TEST_MS = 30_000;
  const reader = new ProcReader();
  const maps = new MemoryMapService(reader, 1000, noVe);

  /**
   * 'spawn' fires at exec: the dynamic loader may still be mapping libraries. Wait until the
   * process sleeps (state S) with the same maps twice in a row.
   */
  async function settled(pid: number): Promise<void> {
    let prev = '';
    for (let i = 0; i < 1000; i++) {
      const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
      if (state === 'S' && maps === prev) return;
      prev = maps;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`process ${pid} did not settle`);
  }

  test(
    'SNAPSHOT, then CHANGE when the map changes, HEARTBEAT when it does not, EXITED at exit',
    async () => {
      const child = spawn('sleep', ['30'], { stdio: 'ignore' });
      try {
        await new Promise((r) => child.once('spawn', r));
        await settled(child.pid!);
        const s = new WatchSession(
          { pid: child.pid!, intervalMs: 100, detail: 'maps', range: undefined, maxEvents: 0 },
          maps,
          reader,
        );
        const snap = await s.sample();
        expect(snap.type).toBe(WatchEventType.WATCH_EVENT_TYPE_SNAPSHOT);
        expect(snap.seq).toBe(1n);
        expect(snap.header?.pid).toBe(child.pid);
        expect(snap.added.length).toBeGreaterThan(5);
        expect(snap.rollup?.rss).toBeGreaterThan(0n);
        // A sleeping `sleep` does not change its map. Its PSS may (other processes starting or
        // exiting share its libc pages): that is a CHANGE of the rollup alone, never of the VMAs.
        const quiet = await s.sample();
        expect(quiet.seq).toBe(2n);
        if (quiet.type !== WatchEventType.WATCH_EVENT_TYPE_HEARTBEAT) {
          expect(quiet.type).toBe(WatchEventType.WATCH_EVENT_TYPE_CHANGE);
          expect(quiet.added.length + quiet.removed.length + quiet.changed.length).toBe(0);
          expect(quiet.rollupDelta?.rss).toBe(0n);
          expect(quiet.rollupDelta?.pss).not.toBe(0n);
        }
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        const gone = await s.sample();
        expect(gone.type).toBe(WatchEventType.WATCH_EVENT_TYPE_EXITED);
        expect(gone.header?.pid).toBe(child.pid);
        expect(s.exited).toBe(true);
      } finally {
        child.kill('SIGKILL');
      }
    },
    LIVE_TEST_MS,
  );

  test(
    'a zombie (exited, not yet reaped) is EXITED, not a map whose VMAs all vanished',
    async () => {
      // `sleep 30` (after exec) is the parent of a `head` it never reaps: a zombie once head has
      // read the line the test sends it on fd 3 (the test decides when it exits, not a timer).
      const parent = spawn('sh', ['-c', 'head -n 1 <&3 >/dev/null & exec sleep 30'], {
        stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      });
      const toChild = parent.stdio[3] as Writable;
      try {
        let child = 0;
        for (let i = 0; i < 2000 && child === 0; i++) {
          await new Promise((r) => setTimeout(r, 10));
          try {
            const kids = readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8');
            child = Number(kids.trim().split(' ')[0]) || 0;
          } catch {
            // not yet
          }
        }
        expect(child).toBeGreaterThan(0);
        const s = new WatchSession(
          { pid: child, intervalMs: 100, detail: 'maps', range: undefined, maxEvents: 0 },
          maps,
          reader,
        );
        expect((await s.sample()).type).toBe(WatchEventType.WATCH_EVENT_TYPE_SNAPSHOT);
        toChild.write('exit now\n');
        for (let i = 0; i < 1000 && reader.readStat(child).state !== 'Z'; i++) {
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(reader.readStat(child).state).toBe('Z');
        expect((await s.sample()).type).toBe(WatchEventType.WATCH_EVENT_TYPE_EXITED);
      } finally {
        toChild.destroy();
        parent.kill('SIGKILL');
      }
    },
    LIVE_TEST_MS,
  );

  test(
    'a new mapping in a watched process shows up as added, with a rollup delta',
    async () => {
      // A quiet child that allocates and touches 64 MiB when told to: nothing else in it can
      // shrink its RSS between the two samples (this jest process's own GC could).
      const child = spawn(
        process.execPath,
        [
          '-e',
          "process.stdin.once('data', () => { globalThis.big = Buffer.alloc(64 << 20, 1); process.stdout.write('ok\\n'); }); process.stdout.write('ready\\n');",
        ],
        { stdio: ['pipe', 'pipe', 'ignore'] },
      );
      const line = (): Promise<string> =>
        new Promise((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
      try {
        expect(await line()).toContain('ready');
        const s = new WatchSession(
          { pid: child.pid!, intervalMs: 100, detail: 'maps', range: undefined, maxEvents: 0 },
          maps,
          reader,
        );
        expect((await s.sample()).type).toBe(WatchEventType.WATCH_EVENT_TYPE_SNAPSHOT);
        const ok = line();
        child.stdin.write('go\n');
        expect(await ok).toContain('ok');
        const ev = await s.sample();
        expect(ev.type).toBe(WatchEventType.WATCH_EVENT_TYPE_CHANGE);
        expect(ev.added.length + ev.changed.length).toBeGreaterThan(0);
        expect(ev.rollupDelta!.rss).toBeGreaterThan(32n * 1024n * 1024n);
      } finally {
        child.kill('SIGKILL');
      }
    },
    LIVE_TEST_MS,
  );

  test('a process that does not exist fails the first sample (NOT_FOUND)', async () => {
    const s = new WatchSession(
      { pid: 2 ** 22 + 7, intervalMs: 100, detail: 'maps', range: undefined, maxEvents: 0 },
      maps,
      reader,
    );
    await expect(s.sample()).rejects.toThrow(/no such process/);
  });
});

describe('WatchService scheduling: limiter, skips, cap, cancellation', () => {
  const TEST_MS = 30_000;

  /** A reader whose map reads wait until the test lets them answer; counts reads in flight. */
  function slowReader() {
    const pending: (() => void)[] = [];
    const state = { started: 0, inFlight: 0, maxInFlight: 0 };
    const reader = {
      readMemoryMap: (pid: number): Promise<MemoryMap> => {
        state.started++;
        state.inFlight++;
        state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
        return new Promise<MemoryMap>((resolve) =>
          pending.push(() => {
            state.inFlight--;
            resolve({
              header: { pid, cmdline: 'x', comm: 'x', startStack: 0n, kernelThread: false, uid: 0 },
              vmas: [],
            });
          }),
        );
      },
      readRollup: () => Promise.resolve(emptyRollup()),
      readStat: () => ({ state: 'S' }) as ReturnType<ProcReader['readStat']>,
    };
    const releaseAll = (): void => {
      for (const f of pending.splice(0)) f();
    };
    return { reader, state, releaseAll };
  }

  /** The part of a grpc-js server stream WatchService uses. */
  function fakeCall(req: Partial<WatchMemoryMapRequest>) {
    const call = Object.assign(new EventEmitter(), {
      request: {
        pid: 77,
        veNode: undefined,
        intervalMs: 100,
        detail: DetailLevel.DETAIL_LEVEL_MAPS,
        range: undefined,
        maxEvents: 0,
        ...req,
      },
      cancelled: false,
      writes: 0,
      errors: [] as { code: number }[],
      write(): boolean {
        call.writes++;
        return true;
      },
      end(): void {},
      cancel(): void {
        call.cancelled = true;
        call.emit('cancelled');
      },
    });
    call.on('error', (e: { code: number }) => call.errors.push(e));
    return call;
  }

  async function until(cond: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 2000; i++) {
      if (cond()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`never: ${what}`);
  }

  function service(reader: ReturnType<typeof slowReader>['reader'], limiter = new ReadLimiter()) {
    const maps = new MemoryMapService(reader, 1000, noVe);
    return new WatchService(maps, reader, createLogger('silent', {}), limiter, { maxWatches: 2 });
  }

  test(
    'a slow sample makes later ticks skip (counted), never two samples at once',
    async () => {
      const slow = slowReader();
      const svc = service(slow.reader);
      const call = fakeCall({});
      svc.serve(call as never);
      try {
        await until(() => svc.stats().skipped >= 3, '3 skipped ticks');
        expect(slow.state.started).toBe(1);
        expect(slow.state.maxInFlight).toBe(1);
        expect(call.writes).toBe(0);
        slow.releaseAll();
        await until(() => call.writes === 1, 'the snapshot written');
        // the next sample starts at a later tick, alone again
        await until(() => slow.state.started === 2, 'a second sample');
        expect(slow.state.maxInFlight).toBe(1);
      } finally {
        call.cancel();
        slow.releaseAll();
      }
      expect(svc.stats().active).toBe(0);
    },
    TEST_MS,
  );

  test(
    'samples take a heavy-read permit: none is read while the permits are taken',
    async () => {
      const slow = slowReader();
      const limiter = new ReadLimiter(1, 10);
      const svc = service(slow.reader, limiter);
      const held = await limiter.acquire();
      const call = fakeCall({});
      svc.serve(call as never);
      try {
        await until(() => limiter.stats().queued === 1, 'the sample queued for a permit');
        await until(() => svc.stats().skipped >= 2, 'ticks skipped while queued');
        expect(slow.state.started).toBe(0);
        // the client leaves: its queued permit request goes, nothing is read for it
        call.cancel();
        expect(limiter.stats().queued).toBe(0);
        held();
        await new Promise((r) => setTimeout(r, 300));
        expect(slow.state.started).toBe(0);
        expect(limiter.stats().active).toBe(0);
      } finally {
        held();
        slow.releaseAll();
      }
    },
    TEST_MS,
  );

  test(
    'a watch cancelled mid-read stops at once: no write, no further read',
    async () => {
      const slow = slowReader();
      const svc = service(slow.reader);
      const call = fakeCall({});
      svc.serve(call as never);
      await until(() => slow.state.started === 1, 'the first read');
      call.cancel();
      slow.releaseAll();
      const startedAtCancel = slow.state.started;
      // several intervals pass: nothing more is read or written for the gone client
      await new Promise((r) => setTimeout(r, 500));
      expect(slow.state.started).toBe(startedAtCancel);
      expect(call.writes).toBe(0);
      expect(svc.stats().active).toBe(0);
    },
    TEST_MS,
  );

  test(
    'watches of the same process at the same time share one read',
    async () => {
      const slow = slowReader();
      const svc = service(slow.reader);
      const a = fakeCall({});
      const b = fakeCall({});
      svc.serve(a as never);
      svc.serve(b as never);
      try {
        await until(() => slow.state.started === 1, 'the shared read');
        slow.releaseAll();
        await until(() => a.writes === 1 && b.writes === 1, 'both snapshots');
        expect(slow.state.started).toBe(1);
        expect(svc.stats()).toMatchObject({ reads: 1, joined: 1 });
      } finally {
        a.cancel();
        b.cancel();
        slow.releaseAll();
      }
    },
    TEST_MS,
  );

  test(
    'beyond maxWatches a watch is RESOURCE_EXHAUSTED; a slot frees when a watch ends',
    () => {
      const slow = slowReader();
      const svc = service(slow.reader);
      const a = fakeCall({});
      const b = fakeCall({});
      const c = fakeCall({});
      svc.serve(a as never);
      svc.serve(b as never);
      svc.serve(c as never);
      try {
        expect(c.errors.map((e) => e.code)).toEqual([status.RESOURCE_EXHAUSTED]);
        expect(svc.stats()).toMatchObject({ active: 2, refused: 1 });
        a.cancel();
        const d = fakeCall({});
        svc.serve(d as never);
        expect(d.errors).toEqual([]);
        d.cancel();
      } finally {
        b.cancel();
        slow.releaseAll();
      }
      expect(svc.stats().active).toBe(0);
    },
    TEST_MS,
  );
});
