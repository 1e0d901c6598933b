/**
 * GetHistogram: request validation, the VMA read (through MemoryMapService: one read of maps or
 * smaps, the one range filter, the liveness check) and the scan (HistogramScanner of
 * @app/procfs), streamed in chunks: the first carries the header, the last the totals and
 * last=true.
 *
 * The pagemap scan runs on the event loop in time slices: the scanner yields after every chunk
 * (scanVmaSteps), and past a slice of SLICE_MS (or after each full batch) the handler gives the
 * event loop a turn, which lets a client cancel arrive — also inside one big VMA; a cancelled
 * call stops there. The deadline is checked by the library itself between VMAs and chunks. The order kind is sorted as mem_hist.py sorts, so
 * its VMAs are sent once the scan is over (still in batches); the other kinds stream as scanned.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import {
  type AddressRange,
  type ProcessHeader,
  type Vma,
  type HistogramKind as DomainHistogramKind,
  type VmaHistogram as DomainVmaHistogram,
} from '@app/domain';
import {
  HistogramScanner,
  sortByReversedOrders,
  type Capabilities,
  type HistogramOptions,
  type ProcReader,
  type ReadOptions,
} from '@app/procfs';
import {
  HistogramCompat,
  headerToProto,
  histogramKindFromProto,
  histogramTotalsToProto,
  vmaHistogramToProto,
  type GetHistogramRequest,
  type GetHistogramResponse,
} from '@app/proto';
import { invalidArgument, unimplemented } from './errors';
import { validatePid, validateRange, type MemoryMapService } from './memory-map.service';
import { VE_NOT_AVAILABLE } from './processes.service';
import { whenWritable, yieldLoop } from './stream-flow';

export const HISTOGRAM_KIND_NAMES: readonly DomainHistogramKind[] = [
  'order',
  'physical',
  'pagesize',
  'numa',
];
export const MAX_HISTOGRAM_ORDER = 30;
/** Runs per chunk before it is sent early (a chunk stays well below the 64 MiB message limit). */
const RUNS_PER_CHUNK = 50_000;
/** Longest synchronous stretch of scanning before the handler yields to the event loop. */
const SLICE_MS = 25;

export interface HistogramQuery {
  pid: number;
  kind: DomainHistogramKind;
  range: AddressRange | undefined;
  /** smaps when the kind needs VmFlags/KernelPageSize (pagesize: hugetlb, VM_PFNMAP). */
  detail: 'maps' | 'smaps';
  options: HistogramOptions;
}

/** The histogram features an agent with these capabilities offers (NodeInfo features). */
export function histogramFeatures(
  c: Pick<Capabilities, 'pfnsReadable' | 'pagemapScan' | 'numaNodes'>,
): string[] {
  const out = ['histogram:order'];
  if (c.pfnsReadable) out.push('histogram:physical');
  if (c.pagemapScan) out.push('histogram:pagesize');
  if (c.numaNodes.length > 0) out.push('histogram:numa');
  return out;
}

type HistogramCall = ServerWritableStream<GetHistogramRequest, GetHistogramResponse>;

/** grpc-js deadline -> milliseconds since the epoch, undefined when there is none. */
function deadlineOf(call: HistogramCall): number | undefined {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

export class HistogramService {
  constructor(
    private readonly maps: Pick<MemoryMapService, 'read'>,
    /** numa_maps for the numa kind, read off the event loop like the map. */
    private readonly reader: Pick<ProcReader, 'readNumaMapsText'>,
    private readonly opts: { procRoot: string; batchSize: number; sliceMs?: number },
  ) {}

  /** Longest synchronous stretch of scanning before yielding to the event loop. */
  private get sliceMs(): number {
    return this.opts.sliceMs ?? SLICE_MS;
  }

  /** Validates a request; throws GrpcStatusError naming the field. */
  toQuery(req: GetHistogramRequest): HistogramQuery {
    const pid = validatePid(req.pid);
    if (req.veNode !== undefined) throw unimplemented(VE_NOT_AVAILABLE);
    const kind = histogramKindFromProto(req.kind);
    if (kind === undefined) {
      throw invalidArgument(
        'kind',
        `kind: required, one of ${HISTOGRAM_KIND_NAMES.join(', ')} (got ${req.kind})`,
      );
    }
    const maxOrder = req.maxOrder ?? 9;
    if (!Number.isInteger(maxOrder) || maxOrder < 0 || maxOrder > MAX_HISTOGRAM_ORDER) {
      throw invalidArgument(
        'max_order',
        `max_order: an integer in 0..${MAX_HISTOGRAM_ORDER}, got ${req.maxOrder}`,
      );
    }
    let compat: 'memhist' | undefined;
    switch (req.compat) {
      case HistogramCompat.HISTOGRAM_COMPAT_UNSPECIFIED:
        break;
      case HistogramCompat.HISTOGRAM_COMPAT_MEMHIST:
        if (kind !== 'order') {
          throw invalidArgument('compat', 'compat: memhist applies to the order histogram only');
        }
        compat = 'memhist';
        break;
      default:
        throw invalidArgument('compat', `compat: unknown compat ${req.compat}`);
    }
    if (req.runs && kind !== 'pagesize' && kind !== 'numa') {
      throw invalidArgument('runs', 'runs: only the pagesize and numa histograms have runs');
    }
    const range = validateRange(req.range);
    return {
      pid,
      kind,
      range,
      detail: kind === 'pagesize' ? 'smaps' : 'maps',
      options: {
        kind,
        maxOrder,
        compat,
        omitFileBacked: req.omitFileBacked,
        omitUnfaulted: req.omitUnfaulted,
        runs: req.runs,
        procRoot: this.opts.procRoot,
      },
    };
  }

  /**
   * Reads the VMAs (range applied) and the header — and numa_maps for the numa kind — through
   * the reader's worker pool: a process stuck in the kernel fails here (READ_STUCK) before its
   * pagemap is opened.
   */
  async read(
    q: HistogramQuery,
    read: ReadOptions = {},
  ): Promise<{ header: ProcessHeader; vmas: Vma[]; numaMapsText?: string }> {
    const map = await this.maps.read(
      {
        pid: q.pid,
        detail: q.detail,
        threadStacks: false,
        range: q.range,
        batchSize: this.opts.batchSize,
      },
      read,
    );
    if (q.kind !== 'numa') return { header: map.header, vmas: map.vmas };
    const numaMapsText = await this.reader.readNumaMapsText(q.pid, read);
    return { header: map.header, vmas: map.vmas, numaMapsText };
  }

  /**
   * Serves one GetHistogram call; throws (for toGrpcError) on failure. `read`: the permit lease's
   * read options (pmap.service.ts) for the map and numa_maps reads.
   */
  async stream(call: HistogramCall, read: ReadOptions = {}): Promise<void> {
    const q = this.toQuery(call.request);
    if (call.cancelled) return;
    const ac = new AbortController();
    const onCancel = (): void => ac.abort(new Error('GetHistogram cancelled by the client'));
    call.once('cancelled', onCancel);
    try {
      const { header, vmas, numaMapsText } = await this.read(q, { ...read, signal: ac.signal });
      if (call.cancelled) return;
      if (numaMapsText !== undefined) q.options.numaMapsText = numaMapsText;
      await this.scanAndSend(call, q, header, vmas, ac.signal);
    } catch (e) {
      if (call.cancelled) return; // the client left: nobody to tell
      throw e;
    } finally {
      call.off('cancelled', onCancel);
    }
  }

  /** Scans VMA after VMA, yielding to the event loop every SLICE_MS; public for its spec. */
  async scanAndSend(
    call: HistogramCall,
    q: HistogramQuery,
    header: ProcessHeader,
    vmas: Vma[],
    signal: AbortSignal,
  ): Promise<void> {
    const scanner = new HistogramScanner(q.pid, {
      ...q.options,
      pageSize: Number(header.pageSize ?? 4096n),
      signal,
      deadlineMs: deadlineOf(call),
    });
    const sortLater = q.kind === 'order';
    const batchSize = this.opts.batchSize;
    const protoHeader = headerToProto(header);
    let headerSent = false;
    let batch: DomainVmaHistogram[] = [];
    let batchRuns = 0;
    const held: DomainVmaHistogram[] = [];

    /** Sends one chunk; waits for drain when the stream is full. False when the call is over. */
    const send = async (items: DomainVmaHistogram[], last: boolean): Promise<boolean> => {
      if (call.cancelled) return false;
      const ok = call.write({
        header: headerSent ? undefined : protoHeader,
        vmas: items.map(vmaHistogramToProto),
        totals: last ? histogramTotalsToProto(scanner.totals()) : undefined,
        last,
      });
      headerSent = true;
      if (!ok && !last) await whenWritable(call);
      return !call.cancelled;
    };

    try {
      let sliceStart = Date.now();
      for (const vma of vmas) {
        // VMA by VMA, chunk by chunk: past a time slice, the event loop gets a turn (between
        // two pagemap chunks of one big VMA too) and a cancelled call stops there
        const steps = scanner.scanVmaSteps(vma);
        let step = steps.next();
        while (!step.done) {
          if (Date.now() - sliceStart > this.sliceMs) {
            await yieldLoop();
            if (call.cancelled) {
              steps.return(null);
              return;
            }
            sliceStart = Date.now();
          }
          step = steps.next();
        }
        const h = step.value;
        if (h) {
          if (sortLater) held.push(h);
          else {
            batch.push(h);
            batchRuns += h.runs.length;
            if (batch.length >= batchSize || batchRuns >= RUNS_PER_CHUNK) {
              if (!(await send(batch, false))) return;
              batch = [];
              batchRuns = 0;
              sliceStart = Date.now();
            }
          }
        }
        if (Date.now() - sliceStart > this.sliceMs) {
          await yieldLoop(); // let a cancel (or drain) in
          if (call.cancelled) return;
          sliceStart = Date.now();
        }
      }
      if (sortLater) {
        const sorted = sortByReversedOrders(held);
        for (let i = 0; i + batchSize < sorted.length; i += batchSize) {
          if (!(await send(sorted.slice(i, i + batchSize), false))) return;
        }
        const rest = sorted.length % batchSize || Math.min(batchSize, sorted.length);
        batch = sorted.slice(sorted.length - rest);
      }
      if (await send(batch, true)) call.end();
    } finally {
      scanner.close();
    }
  }
}
