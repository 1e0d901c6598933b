import { status as GrpcStatus } from '@grpc/grpc-js';
import { AgentCallError } from '../cluster/agent-connection';
import { DeadlineError, fanOut, FanOutDeadlines, Semaphore } from './fanout';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The deadlines' clock, moving only when told to (the timers stay real). */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_700_000_000_000;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

function agentError(node: string, code: GrpcStatus, details = 'x'): AgentCallError {
  return new AgentCallError(node, '127.0.0.9:1', code, details);
}

describe('Semaphore', () => {
  test('never more than `limit` holders; FIFO hand-over', async () => {
    const sem = new Semaphore(3);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const release = await sem.acquire();
        active++;
        peak = Math.max(peak, active);
        order.push(i);
        await sleep(2);
        active--;
        release();
        release(); // idempotent
      }),
    );
    expect(peak).toBe(3);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(sem.inUse).toBe(0);
  });
});

describe('fanOut', () => {
  const nodes = Array.from({ length: 10 }, (_, i) => `n${i}`);

  test('bounded concurrency, every node answered', async () => {
    let active = 0;
    let peak = 0;
    const res = await fanOut(
      nodes,
      async (node) => {
        active++;
        peak = Math.max(peak, active);
        await sleep(5);
        active--;
        return node.toUpperCase();
      },
      { concurrency: 4, timeoutMs: 60_000 }, // a deadline no task comes near
    );
    expect(peak).toBe(4);
    expect(res.queried).toBe(10);
    expect(res.responded).toBe(10);
    expect(res.failed).toEqual([]);
    expect(res.results.map((r) => r.value).sort()).toEqual(nodes.map((n) => n.toUpperCase()));
  });

  test('partial results: a node that never answers fails at its deadline, a failing one is reported', async () => {
    const clock = manualClock();
    const ctxs = new Map<string, [deadline: number, remaining: number]>();
    const res = await fanOut(
      ['fast', 'slow', 'bad'],
      async (node, ctx) => {
        ctxs.set(node, [ctx.deadline, ctx.remaining()]);
        // never settles: only the node's deadline can end it
        if (node === 'slow') await new Promise<never>(() => {});
        if (node === 'bad') throw agentError(node, GrpcStatus.NOT_FOUND, 'no such process 1');
        return 1;
      },
      { concurrency: 8, timeoutMs: 150, now: clock.now },
    );
    const start = clock.now();
    expect(Object.fromEntries(ctxs)).toEqual({
      fast: [start + 150, 150],
      slow: [start + 150, 150],
      bad: [start + 150, 150],
    });
    expect(res).toMatchObject({ queried: 3, responded: 1 });
    expect(res.results).toEqual([expect.objectContaining({ node: 'fast', value: 1 })]);
    expect(res.failed).toEqual([
      { node: 'bad', code: 'NOT_FOUND', message: 'no such process 1' },
      { node: 'slow', code: 'DEADLINE_EXCEEDED', message: 'no answer within 150 ms' },
    ]);
  });

  test('retries only UNAVAILABLE, once', async () => {
    const attempts = new Map<string, number>();
    const res = await fanOut(
      ['flaky', 'down', 'denied'],
      async (node) => {
        await sleep(1);
        const n = (attempts.get(node) ?? 0) + 1;
        attempts.set(node, n);
        if (node === 'flaky' && n === 1) throw agentError(node, GrpcStatus.UNAVAILABLE);
        if (node === 'down') throw agentError(node, GrpcStatus.UNAVAILABLE, 'connection refused');
        if (node === 'denied') throw agentError(node, GrpcStatus.PERMISSION_DENIED);
        return n;
      },
      // a clock standing still: the deadline always leaves room for the retry
      { concurrency: 2, timeoutMs: 2000, retryDelayMs: 5, now: manualClock().now },
    );
    expect(Object.fromEntries(attempts)).toEqual({ flaky: 2, down: 2, denied: 1 });
    expect(res.results).toEqual([expect.objectContaining({ node: 'flaky', value: 2 })]);
    expect(res.failed.map((f) => [f.node, f.code])).toEqual([
      ['denied', 'PERMISSION_DENIED'],
      ['down', 'UNAVAILABLE'],
    ]);
    expect(res.outcomes.find((o) => o.node === 'down')?.attempts).toBe(2);
  });

  test("an agent's own UNAVAILABLE (a reason) is not retried; failures carry the agent's reason", async () => {
    const attempts = new Map<string, number>();
    const res = await fanOut(
      ['readfail', 'busy', 'late'],
      async (node) => {
        await sleep(1);
        attempts.set(node, (attempts.get(node) ?? 0) + 1);
        if (node === 'readfail') {
          throw new AgentCallError(node, 'a:1', GrpcStatus.UNAVAILABLE, 'VE node 0 is OFFLINE', 9, {
            reason: 'READ_FAILED',
          });
        }
        if (node === 'busy') {
          throw new AgentCallError(node, 'a:1', GrpcStatus.RESOURCE_EXHAUSTED, 'busy', 9, {
            reason: 'AGENT_BUSY',
          });
        }
        // no reason: the deadline passed in transit, whatever the wording
        throw agentError(node, GrpcStatus.DEADLINE_EXCEEDED, 'some wording');
      },
      { concurrency: 3, timeoutMs: 2000, retryDelayMs: 5, now: manualClock().now },
    );
    expect(Object.fromEntries(attempts)).toEqual({ readfail: 1, busy: 1, late: 1 });
    expect(res.failed).toEqual([
      { node: 'busy', code: 'RESOURCE_EXHAUSTED', message: 'busy', reason: 'AGENT_BUSY' },
      {
        node: 'late',
        code: 'DEADLINE_EXCEEDED',
        message: 'the agent did not answer within 2000 ms',
      },
      {
        node: 'readfail',
        code: 'UNAVAILABLE',
        message: 'VE node 0 is OFFLINE',
        reason: 'READ_FAILED',
      },
    ]);
  });

  test('the deadline counts from the start of each node, not from the queue', async () => {
    // concurrency 1: each node takes 80 ms by the clock; the second starts 80 ms after the first
    // and still gets its full 100 ms.
    const clock = manualClock();
    const start = clock.now();
    const seen: [node: string, now: number, deadline: number, remaining: number][] = [];
    const res = await fanOut(
      ['a', 'b'],
      async (node, ctx) => {
        seen.push([node, clock.now(), ctx.deadline, ctx.remaining()]);
        await Promise.resolve();
        clock.advance(80);
        return true;
      },
      { concurrency: 1, timeoutMs: 100, now: clock.now },
    );
    expect(res.responded).toBe(2);
    expect(seen).toEqual([
      ['a', start, start + 100, 100],
      ['b', start + 80, start + 180, 100],
    ]);
  });

  test('onNode reports progress in completion order', async () => {
    const seen: [string, number, number][] = [];
    await fanOut(
      ['x', 'y', 'z'],
      async (node) => {
        await sleep(node === 'x' ? 30 : node === 'y' ? 10 : 20);
        return node;
      },
      {
        concurrency: 3,
        timeoutMs: 60_000, // a deadline no task comes near
        onNode: (o, done, total) => {
          seen.push([o.node, done, total]);
        },
      },
    );
    expect(seen).toEqual([
      ['y', 1, 3],
      ['z', 2, 3],
      ['x', 3, 3],
    ]);
  });
});

describe('FanOutDeadlines', () => {
  test('one timer for every node deadline of a fan-out, each node failed at its deadline', async () => {
    const clock = { t: 1_000 };
    const spy = jest.spyOn(global, 'setTimeout');
    try {
      const before = spy.mock.calls.length;
      const res = await fanOut(
        Array.from({ length: 200 }, (_, i) => `n${i}`),
        (node) => (node === 'n0' ? Promise.resolve(0) : new Promise<number>(() => {})),
        { concurrency: 200, timeoutMs: 30, now: () => clock.t },
      );
      expect(res.responded).toBe(1);
      expect(res.failed).toHaveLength(199);
      expect(res.failed.every((f) => f.code === 'DEADLINE_EXCEEDED')).toBe(true);
      // every node started at the same clock reading: one deadline, one timer
      expect(spy.mock.calls.length - before).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });

  test('deadlines in start order each expire, later ones re-arm the one timer', async () => {
    let t = 0;
    const d = new FanOutDeadlines(() => t);
    const never = new Promise<number>(() => {});
    const a = d.race(never, 10);
    t = 5;
    const b = d.race(Promise.resolve(2), 15);
    const c = d.race(never, 20);
    await expect(b).resolves.toBe(2);
    await expect(a).rejects.toBeInstanceOf(DeadlineError);
    await expect(c).rejects.toBeInstanceOf(DeadlineError);
    d.close();
  });
});
