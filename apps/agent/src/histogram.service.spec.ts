import { EventEmitter } from 'node:events';
import { status } from '@grpc/grpc-js';
import type { Vma } from '@app/domain';
import { ProcReader } from '@app/procfs';
import { GetHistogramRequest, HistogramCompat, HistogramKind } from '@app/proto';
import { GrpcStatusError } from './errors';
import { histogramFeatures, HistogramService } from './histogram.service';

const svc = new HistogramService(
  {
    read: () => {
      throw new Error('not read in these specs');
    },
  },
  {
    readNumaMapsText: () => {
      throw new Error('not read in these specs');
    },
  },
  { procRoot: '/proc', batchSize: 1000 },
);

function invalid(partial: Partial<GetHistogramRequest>): string {
  try {
    svc.toQuery(GetHistogramRequest.fromPartial({ pid: 1, ...partial }));
  } catch (e) {
    expect(e).toBeInstanceOf(GrpcStatusError);
    expect((e as GrpcStatusError).code).toBe(status.INVALID_ARGUMENT);
    return (e as GrpcStatusError).details;
  }
  return 'accepted';
}

describe('HistogramService.toQuery', () => {
  it('requires a kind and names the field and the allowed kinds', () => {
    expect(invalid({})).toBe('kind: required, one of order, physical, pagesize, numa (got 0)');
    expect(invalid({ kind: 99 as HistogramKind })).toMatch(/^kind: required/);
  });

  it('names the field of every other bad value', () => {
    const ORDER = HistogramKind.HISTOGRAM_KIND_ORDER;
    expect(invalid({ pid: 0, kind: ORDER })).toMatch(/^pid must be a positive integer/);
    expect(invalid({ kind: ORDER, maxOrder: 31 })).toMatch(/^max_order: an integer in 0\.\.30/);
    expect(
      invalid({
        kind: HistogramKind.HISTOGRAM_KIND_PHYSICAL,
        compat: HistogramCompat.HISTOGRAM_COMPAT_MEMHIST,
      }),
    ).toMatch(/^compat: /);
    expect(invalid({ kind: ORDER, runs: true })).toMatch(/^runs: /);
    expect(invalid({ kind: ORDER, range: { low: 0x2000n, high: 0x1000n, clip: false } })).toMatch(
      /^range: low address 0x2000 is above/,
    );
  });

  it('maps a good request to library options (smaps only for pagesize)', () => {
    const q = svc.toQuery(
      GetHistogramRequest.fromPartial({
        pid: 42,
        kind: HistogramKind.HISTOGRAM_KIND_ORDER,
        maxOrder: 4,
        compat: HistogramCompat.HISTOGRAM_COMPAT_MEMHIST,
        omitFileBacked: true,
        range: { low: 0x1000n, clip: true },
      }),
    );
    expect(q).toMatchObject({
      pid: 42,
      kind: 'order',
      detail: 'maps',
      range: { low: 0x1000n, clip: true },
      options: { kind: 'order', maxOrder: 4, compat: 'memhist', omitFileBacked: true },
    });
    const p = svc.toQuery(
      GetHistogramRequest.fromPartial({
        pid: 42,
        kind: HistogramKind.HISTOGRAM_KIND_PAGESIZE,
        runs: true,
      }),
    );
    expect(p).toMatchObject({ kind: 'pagesize', detail: 'smaps', options: { runs: true } });
    expect(p.options.maxOrder).toBe(9);
  });
});

describe('histogramFeatures', () => {
  it('offers physical only with PFNs, pagesize only with PAGEMAP_SCAN, numa only with nodes', () => {
    expect(histogramFeatures({ pfnsReadable: false, pagemapScan: false, numaNodes: [] })).toEqual([
      'histogram:order',
    ]);
    expect(histogramFeatures({ pfnsReadable: true, pagemapScan: true, numaNodes: [0] })).toEqual([
      'histogram:order',
      'histogram:physical',
      'histogram:pagesize',
      'histogram:numa',
    ]);
  });
});

describe('HistogramService scan cancellation', () => {
  it('a scan cancelled mid-way scans no further VMA and writes nothing', async () => {
    const map = await new ProcReader().readMemoryMap(process.pid, { detail: 'maps' });
    // this process's VMAs over and over: far more scanning than one 25 ms slice
    const base = map.vmas.filter((v) => v.name !== '[vsyscall]');
    let taken = 0;
    const vmas = {
      *[Symbol.iterator](): Generator<Vma> {
        for (let i = 0; i < 200; i++) {
          for (const v of base) {
            taken++;
            yield v;
          }
        }
      },
    } as unknown as Vma[];
    let writes = 0;
    const call = Object.assign(new EventEmitter(), {
      request: GetHistogramRequest.fromPartial({ pid: process.pid }),
      cancelled: false,
      getDeadline: () => Infinity,
      write: () => {
        writes++;
        return true;
      },
      end: () => undefined,
    });
    const q = svc.toQuery(
      GetHistogramRequest.fromPartial({
        pid: process.pid,
        kind: HistogramKind.HISTOGRAM_KIND_ORDER,
      }),
    );
    const ac = new AbortController();
    let takenAtCancel = -1;
    // runs at the scan's first yield to the event loop (after its first time slice)
    setImmediate(() => {
      takenAtCancel = taken;
      call.cancelled = true;
      call.emit('cancelled');
      ac.abort(new Error('client gone'));
    });
    await svc.scanAndSend(call as never, q, map.header, vmas, ac.signal);
    expect(takenAtCancel).toBeGreaterThan(0);
    expect(takenAtCancel).toBeLessThan(200 * base.length);
    expect(taken).toBe(takenAtCancel);
    expect(writes).toBe(0);
  });
});

describe('HistogramService scan cancellation inside one VMA', () => {
  it('a scan cancelled between two pagemap chunks of one big VMA reads no further chunk', async () => {
    const reader = new ProcReader();
    const map = await reader.readMemoryMap(process.pid, { detail: 'maps' });
    // the biggest VMA of this process: several 32768-page chunks of positioned reads
    const big = [...map.vmas]
      .filter((v) => v.name !== '[vsyscall]')
      .sort((a, b) => (b.end - b.start > a.end - a.start ? 1 : -1))[0];
    const chunks = Math.ceil(Number((big.end - big.start) / 4096n) / 32768);
    expect(chunks).toBeGreaterThanOrEqual(2);
    const yielding = new HistogramService(
      { read: () => Promise.reject(new Error('not read here')) },
      { readNumaMapsText: () => Promise.reject(new Error('not read here')) },
      { procRoot: '/proc', batchSize: 1000, sliceMs: 0 },
    );
    const q = yielding.toQuery(
      GetHistogramRequest.fromPartial({
        pid: process.pid,
        kind: HistogramKind.HISTOGRAM_KIND_ORDER,
      }),
    );
    q.options.useScan = false; // positioned reads, 32768 pages each
    // the scanner looks at the signal once at its start, once per VMA and once before each chunk
    let checks = 0;
    const ac = new AbortController();
    const counting = {
      get aborted(): boolean {
        checks++;
        return ac.signal.aborted;
      },
      get reason(): unknown {
        return ac.signal.reason as unknown;
      },
    } as AbortSignal;
    const call = Object.assign(new EventEmitter(), {
      request: GetHistogramRequest.fromPartial({ pid: process.pid }),
      cancelled: false,
      getDeadline: () => Infinity,
      write: () => true,
      end: () => undefined,
    });
    let checksAtCancel = -1;
    setImmediate(() => {
      checksAtCancel = checks;
      call.cancelled = true;
      call.emit('cancelled');
      ac.abort(new Error('client gone'));
    });
    await yielding.scanAndSend(call as never, q, map.header, [big], counting);
    // start + VMA + the first chunk, then the first turn of the event loop: cancelled there
    expect(checksAtCancel).toBe(3);
    expect(checks).toBe(checksAtCancel);
  });
});
