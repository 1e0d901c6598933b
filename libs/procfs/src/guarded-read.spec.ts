import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PmapError } from '@app/domain';
import { GuardedFileReader, ProcReader } from '@app/procfs';

/**
 * A read that blocks in the kernel, for real: opening a FIFO for reading blocks until a writer
 * opens it — the same shape as a /proc read waiting on a stuck process's mmap_lock.
 */
describe('GuardedFileReader', () => {
  let dir: string;
  let fifo: string;
  let plain: string;
  let reader: GuardedFileReader;
  const events: string[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guarded-'));
    fifo = path.join(dir, 'stuck');
    execFileSync('mkfifo', [fifo]);
    plain = path.join(dir, 'plain');
    fs.writeFileSync(plain, 'hello\n');
    events.length = 0;
    reader = new GuardedFileReader({
      timeoutMs: 200,
      maxHung: 2,
      onHung: (p, n) => events.push(`hung ${path.basename(p)} ${n}`),
      onRecovered: (p, _ms, n) => events.push(`recovered ${path.basename(p)} ${n}`),
    });
  });

  afterEach(() => {
    reader.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Unblocks a stuck FIFO open: a writer comes and goes, the blocked read sees EOF. Non-blocking,
   * so a FIFO nobody is waiting on (ENXIO) is left alone instead of blocking the test.
   */
  function release(file: string): void {
    try {
      fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENXIO') throw e;
    }
  }

  async function until(cond: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  }

  it('reads files whole, big and small, and rethrows file-system errors with their code', () => {
    expect(reader.read(plain).toString()).toBe('hello\n');
    const big = path.join(dir, 'big');
    const bytes = Buffer.alloc(3 << 20, 7);
    fs.writeFileSync(big, bytes);
    expect(reader.read(big).equals(bytes)).toBe(true);
    expect(reader.read('/proc/self/status').toString()).toMatch(/^Name:/);
    expect(() => reader.read(path.join(dir, 'missing'))).toThrow(
      expect.objectContaining({ code: 'ENOENT' }) as Error,
    );
    expect(() => reader.read(dir)).toThrow(expect.objectContaining({ code: 'EISDIR' }) as Error);
  });

  it('times out a stuck read, keeps serving other files, fails the stuck path at once, recovers', async () => {
    const t0 = Date.now();
    expect(() => reader.read(fifo)).toThrow(
      new PmapError(
        'TIMED_OUT',
        `reading ${fifo} did not return within 200 ms (the process is probably stuck in uninterruptible sleep)`,
      ),
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(reader.hungReads).toBe(1);
    // a fresh worker serves the next read; the stuck path is refused without another wait
    expect(reader.read(plain).toString()).toBe('hello\n');
    expect(() => reader.read(fifo)).toThrow(
      /an earlier read of .*stuck has not returned for \d+ ms/,
    );
    expect(events).toEqual(['hung stuck 1']);
    release(fifo);
    await until(() => reader.hungReads === 0);
    expect(reader.hungReads).toBe(0);
    expect(events).toEqual(['hung stuck 1', 'recovered stuck 0']);
  });

  it('beyond maxHung stuck reads, every read fails at once', async () => {
    const second = path.join(dir, 'stuck2');
    execFileSync('mkfifo', [second]);
    expect(() => reader.read(fifo)).toThrow(/did not return/);
    expect(() => reader.read(second)).toThrow(/did not return/);
    expect(() => reader.read(plain)).toThrow(
      new PmapError('TIMED_OUT', `2 reads of /proc are stuck in the kernel; not reading ${plain}`),
    );
    release(fifo);
    release(second);
    await until(() => reader.hungReads === 0);
    expect(reader.read(plain).toString()).toBe('hello\n');
  });

  it('behind ProcReader: a process whose maps read is stuck is TIMED_OUT, listed without rollup', async () => {
    // A captured /proc tree: pid 4242 is this process (stat/status/cgroup copied), with its
    // cmdline and maps as FIFOs nobody writes.
    const proc = path.join(dir, 'proc');
    const pdir = path.join(proc, '4242');
    fs.mkdirSync(pdir, { recursive: true });
    for (const f of ['stat', 'status', 'cgroup']) {
      fs.writeFileSync(path.join(pdir, f), fs.readFileSync(`/proc/self/${f}`));
    }
    fs.writeFileSync(path.join(proc, 'stat'), fs.readFileSync('/proc/stat'));
    execFileSync('mkfifo', [path.join(pdir, 'maps'), path.join(pdir, 'cmdline')]);
    const procReader = new ProcReader({ procRoot: proc, lockedRead: (p) => reader.read(p) });
    // the header's cmdline read is the first to get stuck
    expect(() => procReader.readMemoryMap(4242, { detail: 'maps' })).toThrow(
      new PmapError(
        'TIMED_OUT',
        `reading ${pdir}/cmdline did not return within 200 ms (the process is probably stuck in uninterruptible sleep)`,
      ),
    );
    const { processes, unreadable } = procReader.listProcesses({});
    expect(processes.map((p) => p.pid)).toEqual([4242]);
    expect(processes[0].cmdline).toBe('');
    expect(processes[0].rollupError).toMatch(/has not returned|did not return/);
    expect(unreadable).toBe(1);
    release(path.join(pdir, 'maps'));
    release(path.join(pdir, 'cmdline'));
    await until(() => reader.hungReads === 0);
  });
});
