import { mallocTrim, MemoryRelief, v8Gc } from './memory-relief';
import { ReadLimiter } from './read-limiter';

describe('MemoryRelief', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  function relief(idleMs = 1000): { r: MemoryRelief; gc: jest.Mock; trim: jest.Mock } {
    const gc = jest.fn();
    const trim = jest.fn();
    return { r: new MemoryRelief({ idleMs, gc, trim }), gc, trim };
  }

  it('collects and trims once heavy work has stopped for idleMs, not before', () => {
    jest.useFakeTimers();
    const { r, gc, trim } = relief();
    const limiter = new ReadLimiter(2, 10, Date.now, r);
    const order: string[] = [];
    gc.mockImplementation(() => order.push('gc'));
    trim.mockImplementation(() => order.push('trim'));
    return (async () => {
      const a = await limiter.acquire();
      const b = await limiter.acquire();
      a(); // one call still running: not idle
      jest.advanceTimersByTime(5000);
      expect(gc).not.toHaveBeenCalled();
      b();
      jest.advanceTimersByTime(999);
      expect(gc).not.toHaveBeenCalled();
      jest.advanceTimersByTime(1);
      expect(order).toEqual(['gc', 'trim']);
      expect(r.count).toBe(1);
      // idle stays idle: nothing more runs until heavy work starts and stops again
      jest.advanceTimersByTime(60_000);
      expect(r.count).toBe(1);
    })();
  });

  it('heavy work starting again within idleMs puts the relief off until it has stopped', async () => {
    jest.useFakeTimers();
    const { r, gc } = relief();
    const limiter = new ReadLimiter(1, 10, Date.now, r);
    (await limiter.acquire())();
    jest.advanceTimersByTime(500);
    const again = await limiter.acquire();
    jest.advanceTimersByTime(5000);
    expect(gc).not.toHaveBeenCalled();
    again();
    jest.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(1);
  });

  it('a permit handed on to a queued call keeps the agent busy', async () => {
    jest.useFakeTimers();
    const { r, gc } = relief();
    const limiter = new ReadLimiter(1, 10, Date.now, r);
    const first = await limiter.acquire();
    const queued = limiter.acquire();
    first();
    const second = await queued;
    jest.advanceTimersByTime(5000);
    expect(gc).not.toHaveBeenCalled();
    second();
    jest.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(1);
  });

  it('close() drops a pending relief; without a trim only the collection runs', () => {
    jest.useFakeTimers();
    const gc = jest.fn();
    const r = new MemoryRelief({ idleMs: 10, gc, trim: null });
    r.idle();
    r.close();
    jest.advanceTimersByTime(100);
    expect(gc).not.toHaveBeenCalled();
    r.idle();
    jest.advanceTimersByTime(10);
    expect(gc).toHaveBeenCalledTimes(1);
  });

  it('the real ones: a full collection frees garbage, and glibc malloc_trim is callable here', () => {
    const gc = v8Gc();
    let garbage: object[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i }));
    const before = process.memoryUsage().heapUsed;
    garbage = undefined;
    gc();
    expect(garbage).toBeUndefined();
    expect(process.memoryUsage().heapUsed).toBeLessThan(before);
    const trim = mallocTrim();
    expect(trim).not.toBeNull();
    expect(() => trim!()).not.toThrow();
  });
});
