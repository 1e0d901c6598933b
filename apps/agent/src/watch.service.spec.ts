import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Vma } from '@app/domain';
import { emptyRollup, ProcReader } from '@app/procfs';
import { DetailLevel, WatchEventType, type WatchMemoryMapRequest } from '@app/proto';
import { GrpcStatusError } from './errors';
import { createLogger } from './logger';
import { MemoryMapService } from './memory-map.service';
import { diffVmas, rollupDelta, WatchService, WatchSession } from './watch.service';

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
    new MemoryMapService(reader, 1000),
    reader,
    createLogger('silent', {}),
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
  const maps = new MemoryMapService(reader, 1000);

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
        const snap = s.sample();
        expect(snap.type).toBe(WatchEventType.WATCH_EVENT_TYPE_SNAPSHOT);
        expect(snap.seq).toBe(1n);
        expect(snap.header?.pid).toBe(child.pid);
        expect(snap.added.length).toBeGreaterThan(5);
        expect(snap.rollup?.rss).toBeGreaterThan(0n);
        // A sleeping `sleep` does not change its map. Its PSS may (other processes starting or
        // exiting share its libc pages): that is a CHANGE of the rollup alone, never of the VMAs.
        const quiet = s.sample();
        expect(quiet.seq).toBe(2n);
        if (quiet.type !== WatchEventType.WATCH_EVENT_TYPE_HEARTBEAT) {
          expect(quiet.type).toBe(WatchEventType.WATCH_EVENT_TYPE_CHANGE);
          expect(quiet.added.length + quiet.removed.length + quiet.changed.length).toBe(0);
          expect(quiet.rollupDelta?.rss).toBe(0n);
          expect(quiet.rollupDelta?.pss).not.toBe(0n);
        }
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        const gone = s.sample();
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
        expect(s.sample().type).toBe(WatchEventType.WATCH_EVENT_TYPE_SNAPSHOT);
        toChild.write('exit now\n');
        for (let i = 0; i < 1000 && reader.readStat(child).state !== 'Z'; i++) {
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(reader.readStat(child).state).toBe('Z');
        expect(s.sample().type).toBe(WatchEventType.WATCH_EVENT_TYPE_EXITED);
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
        expect(s.sample().type).toBe(WatchEventType.WATCH_EVENT_TYPE_SNAPSHOT);
        const ok = line();
        child.stdin.write('go\n');
        expect(await ok).toContain('ok');
        const ev = s.sample();
        expect(ev.type).toBe(WatchEventType.WATCH_EVENT_TYPE_CHANGE);
        expect(ev.added.length + ev.changed.length).toBeGreaterThan(0);
        expect(ev.rollupDelta!.rss).toBeGreaterThan(32n * 1024n * 1024n);
      } finally {
        child.kill('SIGKILL');
      }
    },
    LIVE_TEST_MS,
  );

  test('a process that does not exist fails the first sample (NOT_FOUND)', () => {
    const s = new WatchSession(
      { pid: 2 ** 22 + 7, intervalMs: 100, detail: 'maps', range: undefined, maxEvents: 0 },
      maps,
      reader,
    );
    expect(() => s.sample()).toThrow(/no such process/);
  });
});
