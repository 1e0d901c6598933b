/**
 * GetMemoryMap: request validation and the read (ProcReader.readMemoryMap + the one range filter
 * of @app/domain). Streaming (batches, backpressure, cancellation) is the handler's job.
 */
import {
  filterVmasByRange,
  redactCmdline,
  redactMap,
  redactPath,
  type AddressRange,
  type MemoryMap,
  type ProcessHeader,
  type Vma,
} from '@app/domain';
import type { PmapRowRenderer } from '@app/pmap-format';
import type { ProcReader, ReadOptions } from '@app/procfs';
import {
  DetailLevel,
  rangeFromProto,
  type AddressRange as ProtoRange,
  type GetMemoryMapRequest,
} from '@app/proto';
import { MAX_BATCH_SIZE } from './config';
import { invalidArgument, unimplemented } from './errors';
import { isRowView, rowRenderer, textQuery, viewNeedsSmaps, type TextQuery } from './map-text';
import { VE_NOT_AVAILABLE } from './processes.service';
import type { VeService } from './ve.service';

export interface MemoryMapQuery {
  pid: number;
  detail: 'maps' | 'smaps';
  threadStacks: boolean;
  range: AddressRange | undefined;
  batchSize: number;
  /** A VE process on this VE node (VeService.readMap) instead of a host process. */
  veNode?: number;
  /** Rendered as pmap text (map-text.ts) instead of sent as VMAs. */
  text?: TextQuery;
  /** Command line and mapping paths redacted (@app/domain redactMap) before anything is sent. */
  redact?: boolean;
}

/** A map rendered as text while it was read (MemoryMapService.readRendered). */
export interface RenderedMap {
  header: ProcessHeader;
  /** VMAs printed. */
  vmas: number;
  text: Buffer;
}

const INT32_MAX = 2 ** 31 - 1;

/** Throws INVALID_ARGUMENT "pid must be a positive integer" unless 0 < pid <= 2^31-1. */
export function validatePid(pid: number): number {
  if (!Number.isInteger(pid) || pid <= 0 || pid > INT32_MAX) {
    throw invalidArgument('pid', `pid must be a positive integer, got ${pid}`);
  }
  return pid;
}

/** A request's range (low <= high, else INVALID_ARGUMENT naming `range`). */
export function validateRange(r: ProtoRange | undefined): AddressRange | undefined {
  const range = rangeFromProto(r);
  if (range?.low !== undefined && range.high !== undefined && range.low > range.high) {
    throw invalidArgument(
      'range',
      `range: low address 0x${range.low.toString(16)} is above high address 0x${range.high.toString(16)}`,
    );
  }
  return range;
}

export class MemoryMapService {
  constructor(
    private readonly reader: Pick<ProcReader, 'readMemoryMap'> &
      Partial<Pick<ProcReader, 'readMemoryMapRows' | 'readMapsLines'>>,
    private readonly defaultBatchSize: number,
    /** VE maps and pseudo-process marking (ve.service.ts). */
    private readonly ve: VeService,
  ) {}

  /** Validates a request (throws GrpcStatusError with the field named). */
  toQuery(req: GetMemoryMapRequest): MemoryMapQuery {
    const pid = validatePid(req.pid);
    if (req.veNode !== undefined && !this.ve.available) {
      throw unimplemented(`${VE_NOT_AVAILABLE}: ${this.ve.reason}`);
    }
    let detail: 'maps' | 'smaps';
    switch (req.detail) {
      case DetailLevel.DETAIL_LEVEL_UNSPECIFIED:
      case DetailLevel.DETAIL_LEVEL_MAPS:
        detail = 'maps';
        break;
      case DetailLevel.DETAIL_LEVEL_SMAPS:
        detail = 'smaps';
        break;
      default:
        throw invalidArgument('detail', `detail: unknown detail level ${req.detail}`);
    }
    if (req.batchSize > MAX_BATCH_SIZE) {
      throw invalidArgument(
        'batch_size',
        `batch_size: at most ${MAX_BATCH_SIZE}, got ${req.batchSize}`,
      );
    }
    const range = validateRange(req.range);
    const text = textQuery(req, req.veNode !== undefined);
    // A text view reads what it shows.
    if (text && viewNeedsSmaps(text.view)) detail = 'smaps';
    return {
      pid,
      detail,
      threadStacks: req.threadStacks,
      range,
      batchSize: req.batchSize === 0 ? this.defaultBatchSize : req.batchSize,
      ...(req.veNode !== undefined ? { veNode: req.veNode } : {}),
      ...(text ? { text } : {}),
      ...(req.redact ? { redact: true } : {}),
    };
  }

  /**
   * Reads and range-filters the map (one read of maps/smaps, off the event loop; ProcReader
   * reports a process that exited during the read as EXITED rather than a truncated map). An
   * aborted `read.signal` drops the read.
   */
  async read(q: MemoryMapQuery, read: ReadOptions = {}): Promise<MemoryMap> {
    const map = await this.readMap(q, read);
    return q.redact ? redactMap(map) : map;
  }

  /**
   * A text view whose rows have fixed widths (procps plain, -x, -d of a host process), rendered
   * row by row while the map is read (ProcReader.readMemoryMapRows): no VMA is kept, only the
   * text. Undefined for every other query (read() and renderText serve those). The range and
   * redaction apply as in read(); a ve_exec pseudo process gets its header's vePseudoOf (its VMA
   * marks do not change these views' text).
   */
  async readRendered(q: MemoryMapQuery, read: ReadOptions = {}): Promise<RenderedMap | undefined> {
    const text = q.text;
    const readRows = this.reader.readMemoryMapRows?.bind(this.reader);
    if (!text || !readRows || q.veNode !== undefined || !isRowView(text.view)) return undefined;
    let rows: ReturnType<typeof rowRenderer>;
    const begin = (h: ProcessHeader): PmapRowRenderer => {
      const node = this.ve.pseudoNodeOf(h.pid, h.cmdline);
      if (node !== undefined) h.vePseudoOf = node;
      if (q.redact) h.cmdline = redactCmdline(h.cmdline, h.comm);
      rows = rowRenderer(h, text, q.range)!;
      return rows;
    };
    const readLines = this.reader.readMapsLines?.bind(this.reader);
    if (q.detail === 'maps' && !q.redact && readLines) {
      // plain and -d straight from the maps bytes: no Vma (redaction rewrites names: below).
      const { header } = await readLines(q.pid, read, (h) => {
        const r = begin(h);
        return (b, f) => r.line(b, f);
      });
      return { header, vmas: rows!.rows, text: rows!.finish().bytes() };
    }
    const { header } = await readRows(
      q.pid,
      { detail: q.detail, threadStacks: false, ...read },
      (h): ((v: Vma) => void) => {
        const r = begin(h);
        if (!q.redact) return (v) => r.row(v);
        return (v) => {
          if (v.name.startsWith('/')) v.name = redactPath(v.name);
          r.row(v);
        };
      },
    );
    return { header, vmas: rows!.rows, text: rows!.finish().bytes() };
  }

  private async readMap(q: MemoryMapQuery, read: ReadOptions): Promise<MemoryMap> {
    if (q.veNode !== undefined) return this.ve.readMap(q.veNode, q.pid, q.range);
    const map = await this.reader.readMemoryMap(q.pid, {
      detail: q.detail,
      threadStacks: q.threadStacks,
      ...read,
    });
    await this.ve.markPseudoMap(map);
    const pageSize = map.header.pageSize ?? 4096n;
    return { header: map.header, vmas: filterVmasByRange(map.vmas, q.range, pageSize) };
  }
}
