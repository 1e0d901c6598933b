import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PmapError } from '@app/domain';
import { GuardedFileReader, ProcReader, READ_CHUNK_BYTES } from '@app/procfs';
import { releaseFifo, STALLED_PID, writeStalledProc } from '../../../test/helpers/stalled-proc';

/** The timeout of a read that blocks (a FIFO nobody writes): it always runs out. */
const STUCK_MS = 250;
/**
 * The timeout of every other read: far beyond what a read (plus a fresh worker's start-up) takes
 * on a loaded machine, so only the FIFO reads time out.
 */
const ANSWER_MS = 30_000;
/** How long a released read may take to come back before the test fails. */
const RECOVERY_MS = 10_000;
/** Per test and hook: above everything the test may wait for. */
const TEST_MS = 30_000;

/**
 * A read that blocks in the kernel, for real: opening a FIFO for reading blocks until a writer
 * opens it — the same shape as a /proc read waiting on a stuck process's mmap_lock.
 *
 * A worker thread left blocked on a FIFO keeps the jest process from ever exiting, so afterEach
 * releases every FIFO until no read is stuck, whatever the test did.
 */
describe('GuardedFileReader', () => {
  let dir: string;
  let fifo: string;
  let plain: string;
  let reader: GuardedFileReader;
  /** Every FIFO made by the test: reads of these get STUCK_MS, and afterEach releases them. */
  const fifos = new Set<string>();
  const events: string[] = [];

  function mkfifo(...files: string[]): void {
    execFileSync('mkfifo', files);
    for (const f of files) fifos.add(f);
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guarded-'));
    fifo = path.join(dir, 'stuck');
    mkfifo(fifo);
    plain = path.join(dir, 'plain');
    fs.writeFileSync(plain, 'hello\n');
    events.length = 0;
    reader = new GuardedFileReader({
      timeoutMs: (p) => (fifos.has(p) ? STUCK_MS : ANSWER_MS),
      maxHung: 2,
      onHung: (p, n) => events.push(`hung ${path.basename(p)} ${n}`),
      onRecovered: (p, _ms, n) => events.push(`recovered ${path.basename(p)} ${n}`),
    });
  });

  afterEach(async () => {
    try {
      await releaseUntilRecovered();
    } finally {
      reader.close();
      fs.rmSync(dir, { recursive: true, force: true });
      fifos.clear();
    }
  }, TEST_MS);

  /**
   * Releases every FIFO until no read is stuck any more. Again and again: a timed-out read's
   * worker may not have reached its open() yet (a worker starting on a loaded machine), and a
   * release before that finds nobody waiting.
   */
  async function releaseUntilRecovered(): Promise<void> {
    const deadline = Date.now() + RECOVERY_MS;
    while (reader.hungReads > 0) {
      if (Date.now() > deadline) {
        throw new Error(`${reader.hungReads} stuck reads did not return once released`);
      }
      for (const f of fifos) releaseFifo(f);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('reads files whole, big and small, and rethrows file-system errors with their code', async () => {
    expect((await reader.read(plain)).toString()).toBe('hello\n');
    const big = path.join(dir, 'big');
    const bytes = Buffer.alloc(3 << 20, 7);
    fs.writeFileSync(big, bytes);
    expect((await reader.read(big)).equals(bytes)).toBe(true);
    expect((await reader.read('/proc/self/status')).toString()).toMatch(/^Name:/);
    await expect(reader.read(path.join(dir, 'missing'))).rejects.toThrow(
      expect.objectContaining({ code: 'ENOENT' }) as Error,
    );
    await expect(reader.read(dir)).rejects.toThrow(
      expect.objectContaining({ code: 'EISDIR' }) as Error,
    );
  });

  it('reads a file in pieces that end at line ends, the whole file in order', async () => {
    const big = path.join(dir, 'lines');
    const lines = Array.from({ length: 60_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 97)}\n`);
    const bytes = Buffer.from(lines.join('') + 'no newline at the end');
    fs.writeFileSync(big, bytes);
    const pieces: Buffer[] = [];
    await reader.readChunks(big, (p) => pieces.push(Buffer.from(p)));
    expect(bytes.length).toBeGreaterThan(3 * READ_CHUNK_BYTES);
    expect(pieces.length).toBeGreaterThan(3);
    for (const p of pieces.slice(0, -1)) {
      expect(p.length).toBeLessThanOrEqual(READ_CHUNK_BYTES);
      expect(p[p.length - 1]).toBe(10);
    }
    expect(Buffer.concat(pieces).equals(bytes)).toBe(true);
    // a line longer than a piece stays whole; an empty file gives no piece
    const long = path.join(dir, 'long');
    const longBytes = Buffer.from('a'.repeat(READ_CHUNK_BYTES + 10) + '\nb\n');
    fs.writeFileSync(long, longBytes);
    const got: Buffer[] = [];
    await reader.readChunks(long, (p) => got.push(Buffer.from(p)));
    expect(Buffer.concat(got).equals(longBytes)).toBe(true);
    expect(got[0].length).toBeGreaterThan(READ_CHUNK_BYTES);
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '');
    const none: Buffer[] = [];
    await reader.readChunks(empty, (p) => none.push(p));
    expect(none).toEqual([]);
    expect((await reader.read('/proc/self/maps')).length).toBeGreaterThan(0);
    const status: Buffer[] = [];
    await reader.readChunks('/proc/self/status', (p) => status.push(Buffer.from(p)));
    expect(Buffer.concat(status).toString()).toMatch(/^Name:/);
    expect(reader.stats()).toMatchObject({ busy: 0, queued: 0, hung: 0 });
  });

  it('a chunked read fails with the file error, or with what its consumer throws', async () => {
    await expect(reader.readChunks(path.join(dir, 'missing'), () => {})).rejects.toThrow(
      expect.objectContaining({ code: 'ENOENT' }) as Error,
    );
    const big = path.join(dir, 'big');
    fs.writeFileSync(big, Buffer.alloc(3 * READ_CHUNK_BYTES, 10));
    let calls = 0;
    await expect(
      reader.readChunks(big, () => {
        calls++;
        throw new Error('consumer failed');
      }),
    ).rejects.toThrow('consumer failed');
    // no piece after the failure; the worker goes on reading other files
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1);
    expect((await reader.read(plain)).toString()).toBe('hello\n');
    // cancelled: rejected with the reason, nothing handed over after
    const ac = new AbortController();
    let after = 0;
    const read = reader.readChunks(big, () => after++, { signal: ac.signal });
    ac.abort(new Error('client gone'));
    await expect(read).rejects.toThrow('client gone');
    const seen = after;
    await new Promise((r) => setTimeout(r, 50));
    expect(after).toBe(seen);
  });

  it('reads many files in parallel on a few workers, each answer its own file', async () => {
    const files = Array.from({ length: 40 }, (_, i) => {
      const f = path.join(dir, `f${i}`);
      fs.writeFileSync(f, `file ${i}\n`);
      return f;
    });
    const got = await Promise.all(files.map((f) => reader.read(f)));
    expect(got.map((b) => b.toString())).toEqual(files.map((_, i) => `file ${i}\n`));
    expect(reader.stats()).toMatchObject({ busy: 0, queued: 0, hung: 0 });
    expect(reader.stats().workers).toBeLessThanOrEqual(4);
  });

  it('takes its timeout per path from a function, checked like a fixed one', async () => {
    expect(() => new GuardedFileReader({ timeoutMs: 0 })).toThrow(RangeError);
    const bad = new GuardedFileReader({ timeoutMs: (p) => (p === plain ? 1.5 : ANSWER_MS) });
    try {
      await expect(bad.read(plain)).rejects.toThrow(
        new RangeError('timeoutMs must be a positive integer, got 1.5'),
      );
      expect((await bad.read('/proc/self/status')).toString()).toMatch(/^Name:/);
    } finally {
      bad.close();
    }
  });

  it(
    'times out a stuck read, keeps serving other files, fails the stuck path at once, recovers',
    async () => {
      await expect(reader.read(fifo)).rejects.toThrow(
        new PmapError(
          'TIMED_OUT',
          `READ_STUCK: reading ${fifo} did not return within ${STUCK_MS} ms (the process is probably stuck in uninterruptible sleep)`,
        ),
      );
      expect(reader.hungReads).toBe(1);
      // a fresh worker serves the next read; the stuck path is refused without another wait
      expect((await reader.read(plain)).toString()).toBe('hello\n');
      await expect(reader.read(fifo)).rejects.toThrow(
        /READ_STUCK: an earlier read of .*stuck has not returned for \d+ ms/,
      );
      expect(events).toEqual(['hung stuck 1']);
      await releaseUntilRecovered();
      expect(reader.hungReads).toBe(0);
      expect(events).toEqual(['hung stuck 1', 'recovered stuck 0']);
    },
    TEST_MS,
  );

  it(
    'while a read is stuck, the event loop runs and other reads are answered',
    async () => {
      const stuck = reader.read(fifo);
      // a timer fires and 20 reads of other files answer while the FIFO read is blocked
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const others = await Promise.all(Array.from({ length: 20 }, () => reader.read(plain)));
      expect(others.every((b) => b.toString() === 'hello\n')).toBe(true);
      await new Promise((r) => setTimeout(r, 20));
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(0);
      await expect(stuck).rejects.toThrow(/READ_STUCK/);
    },
    TEST_MS,
  );

  it(
    'a second read of a path being read waits for the first, and fails at once when it hangs',
    async () => {
      const first = reader.read(fifo);
      const second = reader.read(fifo);
      await expect(first).rejects.toThrow(/did not return within/);
      await expect(second).rejects.toThrow(/an earlier read of .* has not returned/);
      // one worker is stuck, not two
      expect(reader.hungReads).toBe(1);
      expect(events).toEqual(['hung stuck 1']);
    },
    TEST_MS,
  );

  it(
    'a cancelled read leaves the queue without being read; a running one is answered at once',
    async () => {
      const one = new GuardedFileReader({ timeoutMs: ANSWER_MS, workers: 1 });
      try {
        // the only worker is blocked on the FIFO; the plain read waits behind it
        const running = new AbortController();
        const blocked = one.read(fifo, { signal: running.signal });
        const queued = new AbortController();
        const waiting = one.read(plain, { signal: queued.signal });
        expect(one.stats()).toMatchObject({ busy: 1, queued: 1 });
        queued.abort(new Error('client gone'));
        await expect(waiting).rejects.toThrow('client gone');
        expect(one.stats()).toMatchObject({ busy: 1, queued: 0 });
        running.abort(new Error('client gone too'));
        await expect(blocked).rejects.toThrow('client gone too');
        // the worker is still blocked: release it, its late bytes are dropped, it reads on
        const deadline = Date.now() + RECOVERY_MS;
        while (one.stats().busy > 0 && Date.now() < deadline) {
          releaseFifo(fifo);
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(one.stats()).toMatchObject({ busy: 0, hung: 0, workers: 1 });
        expect((await one.read(plain)).toString()).toBe('hello\n');
      } finally {
        one.close();
      }
    },
    TEST_MS,
  );

  it(
    'a slow read stops counting against the workers: other paths are read before its timeout',
    async () => {
      const slowEvents: string[] = [];
      const one = new GuardedFileReader({ timeoutMs: ANSWER_MS, workers: 1, slowMs: 100 });
      try {
        let resumed = false;
        const blocked = one.read(fifo, {
          onSlow: () => slowEvents.push('slow'),
          resume: async () => {
            slowEvents.push('resume');
            await new Promise((r) => setTimeout(r, 10));
            resumed = true;
          },
        });
        // the only worker is blocked on the FIFO, for far less than its timeout: once it is slow
        // a second worker reads the plain file
        expect((await one.read(plain)).toString()).toBe('hello\n');
        expect(slowEvents).toEqual(['slow']);
        expect(one.stats()).toMatchObject({ slow: 1, hung: 0 });
        // the slow read returns after all: its bytes only once the caller has resumed
        const deadline = Date.now() + RECOVERY_MS;
        let done = false;
        void blocked.then(() => (done = true));
        while (!done && Date.now() < deadline) {
          releaseFifo(fifo);
          await new Promise((r) => setTimeout(r, 10));
        }
        expect((await blocked).length).toBe(0);
        expect(resumed).toBe(true);
        expect(slowEvents).toEqual(['slow', 'resume']);
        // back to one worker, none slow
        expect(one.stats()).toMatchObject({ slow: 0, busy: 0, workers: 1 });
      } finally {
        one.close();
      }
    },
    TEST_MS,
  );

  it(
    'a slow chunked read hands its pieces over only once the caller has resumed',
    async () => {
      const order: string[] = [];
      const one = new GuardedFileReader({ timeoutMs: ANSWER_MS, workers: 1, slowMs: 100 });
      const pipe = path.join(dir, 'pipe');
      mkfifo(pipe);
      try {
        const pieces: Buffer[] = [];
        const read = one.readChunks(
          pipe,
          (p) => {
            order.push('piece');
            pieces.push(Buffer.from(p));
          },
          {
            onSlow: () => order.push('slow'),
            resume: async () => {
              order.push('resume');
              await new Promise((r) => setTimeout(r, 10));
            },
          },
        );
        // the worker opens the FIFO for reading; then a writer sends a line, waits, sends more
        let fd = -1;
        const deadline = Date.now() + RECOVERY_MS;
        while (fd < 0 && Date.now() < deadline) {
          try {
            fd = fs.openSync(pipe, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
          } catch {
            await new Promise((r) => setTimeout(r, 10));
          }
        }
        expect(fd).toBeGreaterThanOrEqual(0);
        fs.writeSync(fd, 'first\n');
        while (!order.includes('slow') && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 10));
        }
        fs.writeSync(fd, 'second\n');
        fs.closeSync(fd);
        await read;
        expect(order).toEqual(['slow', 'resume', 'piece']);
        expect(Buffer.concat(pieces).toString()).toBe('first\nsecond\n');
      } finally {
        one.close();
      }
    },
    TEST_MS,
  );

  it(
    'beyond maxHung stuck reads, every read fails at once',
    async () => {
      const second = path.join(dir, 'stuck2');
      mkfifo(second);
      await expect(reader.read(fifo)).rejects.toThrow(/did not return/);
      await expect(reader.read(second)).rejects.toThrow(/did not return/);
      await expect(reader.read(plain)).rejects.toThrow(
        new PmapError(
          'TIMED_OUT',
          `READ_STUCK: 2 reads of /proc are stuck in the kernel; not reading ${plain}`,
        ),
      );
      await releaseUntilRecovered();
      expect((await reader.read(plain)).toString()).toBe('hello\n');
    },
    TEST_MS,
  );

  it(
    'behind ProcReader: a process whose maps read is stuck is TIMED_OUT, listed without rollup',
    async () => {
      // A captured /proc tree: pid 4242 is this process (stat/status/cgroup copied), with its
      // cmdline and maps as FIFOs nobody writes (released by afterEach like the test's own).
      const proc = path.join(dir, 'proc');
      for (const f of writeStalledProc(proc, ['maps', 'cmdline'])) fifos.add(f);
      const pdir = path.join(proc, String(STALLED_PID));
      const procReader = new ProcReader({
        procRoot: proc,
        lockedRead: (p, o) => reader.read(p, o),
        lockedReadChunks: (p, onChunk, o) => reader.readChunks(p, onChunk, o),
      });
      // the header's cmdline read is the first to get stuck (the map is not read then)
      await expect(procReader.readMemoryMap(STALLED_PID, { detail: 'maps' })).rejects.toThrow(
        new PmapError(
          'TIMED_OUT',
          `READ_STUCK: reading ${pdir}/cmdline did not return within ${STUCK_MS} ms (the process is probably stuck in uninterruptible sleep)`,
        ),
      );
      const { processes, unreadable } = await procReader.listProcesses({});
      expect(processes.map((p) => p.pid)).toEqual([STALLED_PID]);
      expect(processes[0].cmdline).toBe('');
      expect(processes[0].rollupError).toMatch(/has not returned|did not return/);
      expect(unreadable).toBe(1);
    },
    TEST_MS,
  );
});
