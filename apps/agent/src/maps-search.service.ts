/**
 * SearchMaps: which of the node's processes map an address range or a mapping name, in one call.
 * The processes of a ListProcesses filter (no rollup), each one's maps read like GetMemoryMap
 * (maps detail, the range applied) and its VMAs kept when the mapping regex (linear time, or
 * refused: `compileSafeRegex`, used through `.test` only) matches the name. A process that exits
 * meanwhile counts as vanished; one that may not be read, or whose read is stuck in the kernel,
 * as unreadable: neither fails the call. The event loop is given back between processes, the
 * call's cancellation and deadline are checked before each, and matches go out in messages of
 * about 1 MiB at most, awaiting the client's flow control.
 */
import { status, type ServerWritableStream } from '@grpc/grpc-js';
import { compileSafeRegex, isPmapError, redactPath, type AddressRange } from '@app/domain';
import type { ReadOptions } from '@app/procfs';
import {
  processToProto,
  vmaToProto,
  type ProcessMaps,
  type SearchMapsRequest,
  type SearchMapsResponse,
} from '@app/proto';
import { invalidArgument, toGrpcError } from './errors';
import type { Logger } from './logger';
import { validateRange, type MemoryMapService } from './memory-map.service';
import type { ProcessesService } from './processes.service';
import { whenWritable, yieldLoop } from './stream-flow';

/** About how many bytes of matches one message carries before it is sent. */
export const SEARCH_MESSAGE_BYTES = 1024 * 1024;
/** The fixed part of one encoded VMA at maps detail (numbers, perms, tags), generous. */
const VMA_FIXED_BYTES = 64;

export type SearchCall = ServerWritableStream<SearchMapsRequest, SearchMapsResponse>;

export interface PreparedMapsSearch {
  range?: AddressRange;
  mapping?: { test(s: string): boolean };
}

export class MapsSearchService {
  constructor(
    private readonly processes: Pick<ProcessesService, 'matching' | 'toFilter'>,
    private readonly maps: Pick<MemoryMapService, 'read'>,
    private readonly log: Logger,
  ) {}

  /** Validates the request (throws INVALID_ARGUMENT naming the field). */
  prepare(req: SearchMapsRequest): PreparedMapsSearch {
    const range = validateRange(req.range);
    if (range === undefined && req.mappingRegex === '') {
      throw invalidArgument('mapping_regex', 'range or mapping_regex is required');
    }
    let mapping: PreparedMapsSearch['mapping'];
    if (req.mappingRegex !== '') {
      try {
        mapping = compileSafeRegex(req.mappingRegex, 'mapping_regex');
      } catch (e) {
        if (isPmapError(e)) throw invalidArgument('mapping_regex', e.message);
        throw e;
      }
    }
    return { range: range ? { ...range, clip: false } : undefined, mapping };
  }

  /** An aborted `read.signal` drops the reads in flight (the call was cancelled). */
  async serve(call: SearchCall, read: ReadOptions = {}): Promise<void> {
    const search = this.prepare(call.request);
    const listReq = call.request.processes;
    if (!listReq) throw invalidArgument('processes', 'processes: the process filter is required');
    const { processes, unreadable } = await this.processes.matching(
      { ...listReq, skipRollup: true, sort: 0, limit: 0, offset: 0, totals: false },
      read,
    );
    processes.sort((a, b) => a.pid - b.pid);
    const out: SearchMapsResponse = {
      matches: [],
      last: false,
      scanned: 0,
      unreadable,
      vanished: 0,
    };
    let pending: ProcessMaps[] = [];
    let bytes = 0;
    for (const p of processes) {
      await yieldLoop();
      if (call.cancelled) {
        this.log.debug({ scanned: out.scanned }, 'SearchMaps cancelled');
        return;
      }
      let vmas;
      try {
        const map = await this.maps.read(
          {
            pid: p.pid,
            detail: 'maps',
            threadStacks: false,
            range: search.range,
            batchSize: 0,
            ...(listReq.veNode !== undefined ? { veNode: listReq.veNode } : {}),
          },
          read,
        );
        if (call.cancelled) return;
        vmas = map.vmas;
      } catch (e) {
        const code = toGrpcError(e, this.log, { rpc: 'SearchMaps', pid: p.pid }).code;
        if (code === status.NOT_FOUND) out.vanished++;
        else if (code === status.PERMISSION_DENIED || code === status.DEADLINE_EXCEEDED) {
          out.unreadable++;
        } else throw e;
        continue;
      }
      out.scanned++;
      const kept = [];
      const redacted = call.request.matchRedactedNames;
      for (const v of vmas) {
        if (search.mapping && !search.mapping.test(redacted ? redactPath(v.name) : v.name)) {
          continue;
        }
        kept.push(vmaToProto(v));
        bytes += VMA_FIXED_BYTES + v.name.length * 3;
      }
      if (kept.length === 0) continue;
      pending.push({ process: processToProto(p), vmas: kept });
      bytes += 256 + p.cmdline.length * 3 + p.cgroup.length;
      if (bytes >= SEARCH_MESSAGE_BYTES) {
        const ok = call.write({ ...out, matches: pending });
        pending = [];
        bytes = 0;
        if (!ok) await whenWritable(call);
      }
    }
    if (call.cancelled) return;
    call.write({ ...out, matches: pending, last: true });
    call.end();
  }
}
