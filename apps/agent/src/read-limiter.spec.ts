import { status } from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { loadConfig } from './config';
import { GrpcStatusError } from './errors';
import { callAcquireOptions, PermitLease, ReadLimiter } from './read-limiter';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function codeOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(GrpcStatusError);
    return (e as GrpcStatusError).code;
  }
}

describe('ReadLimiter', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('grants at most maxActive permits and hands them on in FIFO order', async () => {
    const l = new ReadLimiter(2, 10);
    const r1 = await l.acquire();
    const r2 = await l.acquire();
    const order: number[] = [];
    const p3 = l.acquire().then((r) => (order.push(3), r));
    const p4 = l.acquire().then((r) => (order.push(4), r));
    await tick();
    expect(order).toEqual([]);
    expect(l.stats()).toMatchObject({ active: 2, queued: 2 });
    r1();
    r1(); // idempotent: does not free a second permit
    const r3 = await p3;
    await tick();
    expect(order).toEqual([3]);
    expect(l.stats()).toMatchObject({ active: 2, queued: 1 });
    r2();
    const r4 = await p4;
    expect(order).toEqual([3, 4]);
    r3();
    r4();
    expect(l.stats()).toMatchObject({ active: 0, queued: 0 });
  });

  it('priority waiters go before every ordinary one (FIFO among them) and are never refused', async () => {
    const l = new ReadLimiter(1, 2);
    const r = await l.acquire();
    const order: string[] = [];
    const take = (name: string, priority = false): Promise<() => void> =>
      l.acquire({ priority }).then((release) => (order.push(name), release));
    const waiting = [take('a'), take('b'), take('p1', true), take('p2', true)];
    // the ordinary queue is full: another ordinary call is refused, a priority one is not
    expect(await codeOf(l.acquire())).toBe(status.RESOURCE_EXHAUSTED);
    expect(l.stats()).toMatchObject({ active: 1, queued: 4 });
    let release = r;
    for (const p of [waiting[2], waiting[3], waiting[0], waiting[1]]) {
      release();
      release = await p;
    }
    release();
    expect(order).toEqual(['p1', 'p2', 'a', 'b']);
    expect(l.stats()).toMatchObject({ active: 0, queued: 0 });
  });

  it('a cancelled priority waiter leaves its place to the next one', async () => {
    const l = new ReadLimiter(1, 4);
    const r = await l.acquire();
    const ac = new AbortController();
    const gone = l.acquire({ priority: true, signal: ac.signal });
    const order: string[] = [];
    const a = l.acquire().then((rel) => (order.push('a'), rel));
    const p = l.acquire({ priority: true }).then((rel) => (order.push('p'), rel));
    ac.abort();
    expect(await codeOf(gone)).toBe(status.CANCELLED);
    r();
    (await p)();
    (await a)();
    expect(order).toEqual(['p', 'a']);
  });

  it('refuses beyond the queue bound with RESOURCE_EXHAUSTED naming the flags', async () => {
    const l = new ReadLimiter(1, 1);
    const r = await l.acquire();
    const queued = l.acquire();
    const refused = l.acquire();
    await expect(refused).rejects.toThrow(/agent busy.*--max-heavy-reads/);
    expect(await codeOf(refused)).toBe(status.RESOURCE_EXHAUSTED);
    expect(l.stats().rejected).toBe(1);
    r();
    (await queued)();
    expect(l.stats()).toMatchObject({ active: 0, queued: 0 });
  });

  it('a queued call leaves at its deadline, not before, without taking a permit', async () => {
    // fake timers and Date: the limiter's default clock and its deadline timers move together
    const t0 = 1_700_000_000_000;
    jest.useFakeTimers({ now: t0, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const l = new ReadLimiter(1, 5);
    const r = await l.acquire();
    const late = codeOf(l.acquire({ deadline: t0 + 50 }));
    const patient = l.acquire({ deadline: t0 + 60_000 });
    jest.advanceTimersByTime(49);
    await tick();
    expect(l.stats()).toMatchObject({ active: 1, queued: 2, expired: 0 });
    jest.advanceTimersByTime(1);
    expect(await late).toBe(status.DEADLINE_EXCEEDED);
    expect(l.stats()).toMatchObject({ active: 1, queued: 1, expired: 1 });
    // a deadline already past never queues
    expect(await codeOf(l.acquire({ deadline: t0 + 49 }))).toBe(status.DEADLINE_EXCEEDED);
    r();
    (await patient)();
    expect(l.stats()).toMatchObject({ active: 0, queued: 0, expired: 2 });
  });

  it('a waiter whose deadline passed while the loop was blocked is skipped at release', async () => {
    let now = 1_700_000_000_000;
    const l = new ReadLimiter(1, 5, () => now);
    const r = await l.acquire();
    const stale = codeOf(l.acquire({ deadline: now + 20 }));
    const fresh = l.acquire({ deadline: now + 1000 });
    expect(l.stats()).toMatchObject({ active: 1, queued: 2 });
    // A synchronous read held the loop for 40 ms: the clock moved on, no deadline timer could
    // fire before the release (nothing can run between these two statements).
    now += 40;
    r();
    expect(await stale).toBe(status.DEADLINE_EXCEEDED);
    (await fresh)();
    expect(l.stats()).toMatchObject({ active: 0, queued: 0, expired: 1 });
  });

  it('a queued call leaves when cancelled; an already aborted one never queues', async () => {
    const l = new ReadLimiter(1, 5);
    const r = await l.acquire();
    const ac = new AbortController();
    const waiting = l.acquire({ signal: ac.signal });
    await tick();
    expect(l.stats().queued).toBe(1);
    ac.abort();
    expect(await codeOf(waiting)).toBe(status.CANCELLED);
    expect(l.stats().queued).toBe(0);
    expect(await codeOf(l.acquire({ signal: ac.signal }))).toBe(status.CANCELLED);
    r();
    expect(l.stats().active).toBe(0);
  });

  it('run() releases the permit when the work throws', async () => {
    const l = new ReadLimiter(1, 0);
    await expect(
      l.run({}, () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await l.run({}, () => 7)).toBe(7);
    expect(l.stats().active).toBe(0);
  });

  it('callAcquireOptions follows a call: its deadline and its cancel event', async () => {
    const at = 1_700_000_010_000;
    const call = Object.assign(new EventEmitter(), {
      cancelled: false,
      getDeadline: (): Date | number => new Date(at),
    });
    const { opts, dispose } = callAcquireOptions(call);
    expect(opts.deadline).toBe(at);
    // 10 s left by the limiter's clock: the cancel event, not the deadline, ends the wait
    const l = new ReadLimiter(1, 5, () => at - 10_000);
    const r = await l.acquire();
    const waiting = l.acquire(opts);
    call.emit('cancelled');
    expect(await codeOf(waiting)).toBe(status.CANCELLED);
    dispose();
    expect(call.listenerCount('cancelled')).toBe(0);
    r();
    const noDeadline = callAcquireOptions(
      Object.assign(new EventEmitter(), { cancelled: false, getDeadline: () => Infinity }),
    );
    expect(noDeadline.opts.deadline).toBeUndefined();
    noDeadline.dispose();
  });

  it('rejects nonsensical bounds; the flags are validated', () => {
    expect(() => new ReadLimiter(0, 1)).toThrow(RangeError);
    const base = ['--listen', '127.0.0.1:0', '--node-name', 'n', '--insecure'];
    expect(loadConfig([...base, '--max-heavy-reads', '4'], {})).toMatchObject({
      maxHeavyReads: 4,
    });
    expect(loadConfig(base, { PMAPD_MAX_QUEUED_READS: '9' })).toMatchObject({
      maxQueuedReads: 9,
    });
    expect(() => loadConfig([...base, '--max-heavy-reads', '0'], {})).toThrow(/max-heavy-reads/);
  });
});

describe('PermitLease', () => {
  it('lends its permit while a read is slow and takes one back before the bytes are used', async () => {
    const limiter = new ReadLimiter(1, 10);
    const lease = await PermitLease.take(limiter);
    expect(limiter.stats().active).toBe(1);
    const opts = lease.readOptions();
    opts.onSlow!(); // the read is probably stuck: another call may read meanwhile
    expect(lease.held).toBe(false);
    expect(limiter.stats().active).toBe(0);
    const other = await limiter.acquire();
    // a new call queues for its first permit
    let laterServed = false;
    const later = limiter.acquire().then((rel) => ((laterServed = true), rel));
    // the slow read returns: resume waits for the other call's permit to come back, ahead of the
    // new call (the lease already holds its read's bytes)
    let resumed = false;
    const back = opts.resume!().then(() => (resumed = true));
    await new Promise((r) => setImmediate(r));
    expect(resumed).toBe(false);
    expect(limiter.stats().queued).toBe(2);
    other();
    await back;
    expect(lease.held).toBe(true);
    expect(laterServed).toBe(false);
    expect(limiter.stats()).toMatchObject({ active: 1, queued: 1 });
    lease.end();
    lease.end();
    (await later)();
    expect(limiter.stats()).toMatchObject({ active: 0, queued: 0 });
  });

  it('a lease ended while it waits to resume gives the permit straight back', async () => {
    const limiter = new ReadLimiter(1, 10);
    const lease = await PermitLease.take(limiter);
    lease.lend();
    const other = await limiter.acquire();
    const back = lease.resume();
    lease.end();
    other();
    await back;
    expect(lease.held).toBe(false);
    expect(limiter.stats()).toMatchObject({ active: 0, queued: 0 });
  });
});
