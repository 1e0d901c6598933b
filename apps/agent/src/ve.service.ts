/**
 * Vector Engine targets of the agent: the VE processes of each VE node (card) of this host, read
 * through libveosinfo (`@app/ve`), and the host side of them (the ve_exec pseudo processes).
 *
 * Opened once at startup. No library (or no VE device class, or --no-ve): the agent serves the
 * host only, GetNodeInfo says why (`capabilities.ve_library=false` + a note) and any request with
 * `ve_node` answers UNIMPLEMENTED with the same reason.
 */
import {
  filterVmasByRange,
  PmapError,
  sizeKey,
  type AddressRange,
  type MemoryMap,
  type ProcessInfo,
  type Vma,
  type HistogramBin,
  type HistogramKind,
  type HistogramRun,
  type HistogramTotals,
  type VmaHistogram,
} from '@app/domain';
import { OrderAccumulator, sortByReversedOrders, type ProcessFilter } from '@app/procfs';
import type { VeNode } from '@app/proto';
import {
  isVePseudoProcess,
  isVeUnavailable,
  markVePseudoRegions,
  openVeSource,
  VE_PAGE_SIZE,
  veField,
  vePseudoNode,
  type VeSource,
} from '@app/ve';
import type { AgentConfig } from './config';
import { unimplemented } from './errors';
import { processMatcher } from './process-match';

/** NodeInfo.capabilities.features entry of an agent serving VE nodes. */
export const VE_FEATURE = 've';

/** What GetNodeInfo reports about VE. */
export interface VeNodeInfo {
  veLibrary: boolean;
  /** Why VE nodes are not served (absent when they are). */
  note?: string;
  veNodes: VeNode[];
}

/** GetHistogram options the VE side understands (validated by the caller). */
export interface VeHistogramOptions {
  kind: HistogramKind;
  range?: AddressRange;
  omitFileBacked: boolean;
  omitUnfaulted: boolean;
  maxOrder: number;
  compat: boolean;
  runs: boolean;
}

export interface VeHistogram {
  map: MemoryMap;
  vmas: VmaHistogram[];
  totals: HistogramTotals;
}

const LARGE_PAGE = 64n * 1024n * 1024n;

function hex(n: bigint): string {
  return '0x' + n.toString(16);
}

export class VeService {
  private constructor(
    private readonly source: VeSource | undefined,
    /** Why VE is not served, when it is not. */
    readonly reason: string | undefined,
  ) {}

  /** Opens libveosinfo as configured (never throws: unavailable is a state). */
  static open(
    config: Pick<AgentConfig, 've' | 'veLibrary' | 'veSysfs' | 'veSocketDir' | 'procRoot'>,
  ): VeService {
    if (!config.ve) return new VeService(undefined, 'VE disabled (--no-ve)');
    const src = openVeSource({
      libraryPath: config.veLibrary,
      sysfsRoot: config.veSysfs,
      socketDir: config.veSocketDir,
      procRoot: config.procRoot,
    });
    if (isVeUnavailable(src)) return new VeService(undefined, src.unavailable);
    return new VeService(src, undefined);
  }

  /** For tests and embedding: wrap an already opened source (or none, with the reason). */
  static of(source: VeSource | undefined, reason?: string): VeService {
    return new VeService(source, source ? undefined : (reason ?? 'no VE source'));
  }

  get available(): boolean {
    return this.source !== undefined;
  }

  get libraryPath(): string | undefined {
    return this.source?.libraryPath;
  }

  /** The source, or UNIMPLEMENTED "VE targets are not available on this agent: <reason>". */
  private require(): VeSource {
    if (!this.source) {
      throw unimplemented(`VE targets are not available on this agent: ${this.reason}`);
    }
    return this.source;
  }

  /** GetNodeInfo's VE part, read now (node states and process counts change). */
  nodeInfo(): VeNodeInfo {
    if (!this.source) {
      return { veLibrary: false, note: `VE nodes not served: ${this.reason}`, veNodes: [] };
    }
    let nodes: VeNode[] = [];
    try {
      nodes = this.source.listNodes().map((n) => ({
        node: n.node,
        state: n.state,
        osState: n.osState,
        processCount: n.processCount,
      }));
    } catch {
      // a closed source (shutdown): no nodes
    }
    return { veLibrary: true, veNodes: nodes };
  }

  /**
   * ListProcesses with ve_node: the node's VE processes (cmdline/comm of the VE program, vsize/rss
   * from the VE map unless skipRollup), filtered like host processes. `unreadable` counts those
   * whose VE map could not be read.
   */
  listProcesses(
    node: number,
    filter: ProcessFilter,
  ): { processes: ProcessInfo[]; unreadable: number } {
    const src = this.require();
    const all = src.listProcesses(node, { skipMemory: filter.skipRollup === true });
    const match = processMatcher(filter);
    const processes = all.filter(match);
    return { processes, unreadable: processes.filter((p) => p.rollupError).length };
  }

  /** GetMemoryMap with ve_node: the VE map (smaps level), range-filtered at VE page size. */
  readMap(node: number, pid: number, range: AddressRange | undefined): MemoryMap {
    const map = this.require().readMemoryMap(node, pid);
    const pageSize = map.header.pageSize ?? VE_PAGE_SIZE;
    return { header: map.header, vmas: filterVmasByRange(map.vmas, range, pageSize) };
  }

  /**
   * The VE node of a host process if it is a ve_exec pseudo process: from its command line
   * (`-d /dev/veslotN`, `-s …/veosN.sock`), else from sysfs task_id_all when the library is
   * loaded. undefined for any other process.
   */
  pseudoNodeOf(pid: number, cmdline: string): number | undefined {
    if (!isVePseudoProcess(cmdline)) return undefined;
    const fromArgs = vePseudoNode(cmdline);
    if (fromArgs !== undefined) return fromArgs;
    try {
      return this.source?.nodeOfPid(pid);
    } catch {
      return undefined;
    }
  }

  /** Host ListProcesses: sets vePseudoOf (the VE node) on ve_exec pseudo processes. */
  markPseudoProcesses(processes: ProcessInfo[]): void {
    for (const p of processes) {
      if (p.kernelThread || !p.cmdline.includes('ve_exec')) continue;
      const node = this.pseudoNodeOf(p.pid, p.cmdline);
      if (node !== undefined) p.vePseudoOf = node;
    }
  }

  /**
   * Host GetMemoryMap of a pseudo process: header.vePseudoOf = the VE node and the VMAs mirroring
   * VE memory (VEMMR, plus whatever overlaps the VE process's own VMAs when its map can be read)
   * get kind ve_memory and veNode. Call before range filtering. Returns the VE node, if any.
   */
  markPseudoMap(map: MemoryMap): number | undefined {
    const node = this.pseudoNodeOf(map.header.pid, map.header.cmdline);
    if (node === undefined) return undefined;
    let veVmas: Vma[] | undefined;
    if (this.source) {
      try {
        veVmas = this.source.readMemoryMap(node, map.header.pid).vmas;
      } catch {
        // VEOS down, node offline, not (yet) a VE process: VEMMR alone is still marked
      }
    }
    markVePseudoRegions(map.vmas, node, veVmas);
    map.header.vePseudoOf = node;
    return node;
  }

  /**
   * GetHistogram with ve_node, from the VE map alone (VEOS exposes no page tables, no PFNs and no
   * NUMA placement of VE memory):
   *
   * - pagesize: per VMA one bin of its VE page size (KernelPageSize: 2M or 64M), count = resident
   *   pages of that size (Rss / page size), bytes = Rss; totals always carry 2M and 64M.
   * - order: virtual contiguity at VE page granularity (2 MiB pages, page index = address / 2M).
   *   VEOS reports only a per-VMA Rss, not which pages are present, so this is exact only for
   *   VMAs that are wholly resident (Rss = Size) or not at all (Rss = 0). A partially resident
   *   VMA makes the request UNIMPLEMENTED, naming the VMA — never a guessed histogram.
   * - physical, numa: UNIMPLEMENTED "not supported on VE".
   *
   * presentPages counts 2 MiB VE pages (header.pageSize). Totals cover every VMA in the range
   * (omitted ones included), as on the host.
   */
  histogram(node: number, pid: number, opts: VeHistogramOptions): VeHistogram {
    if (opts.kind === 'physical') {
      throw new PmapError(
        'UNSUPPORTED',
        'physical histograms are not supported on VE: VEOS exposes no VE page frame numbers',
      );
    }
    if (opts.kind === 'numa') {
      throw new PmapError(
        'UNSUPPORTED',
        'numa histograms are not supported on VE: VE memory is the card HBM, not a host NUMA node',
      );
    }
    const map = this.readMap(node, pid, opts.range);
    const out: VmaHistogram[] = [];
    const totalOrders = new Array<bigint>(opts.maxOrder + 1).fill(0n);
    const totalBins = new Map<string, HistogramBin>();
    if (opts.kind === 'pagesize') {
      for (const ps of [VE_PAGE_SIZE, LARGE_PAGE]) {
        const key = sizeKey(ps);
        totalBins.set(key, { key, pageSize: ps, category: '', count: 0n, bytes: 0n });
      }
    }
    let present = 0n;
    for (const v of map.vmas) {
      const resident = residentBytes(v, opts.kind === 'order' || opts.runs);
      const pageSize = veField(v, 'KernelPageSize') * 1024n || VE_PAGE_SIZE;
      const presentPages = resident / VE_PAGE_SIZE;
      present += presentPages;
      const h: VmaHistogram = {
        start: v.start,
        end: v.end,
        perms: v.perms,
        name: v.name,
        kind: v.kind,
        orders: [],
        bins: [],
        runs: [],
        presentPages,
        fileBacked: v.name.startsWith('/'),
      };
      if (opts.kind === 'order') {
        const first = Number(v.start / VE_PAGE_SIZE);
        const acc = new OrderAccumulator(opts.maxOrder, first, opts.compat);
        if (resident > 0n) acc.add(first, Number(v.end / VE_PAGE_SIZE));
        h.orders = acc.orders();
        h.orders.forEach((c, i) => (totalOrders[i] += c));
      } else {
        const key = sizeKey(pageSize);
        const bin: HistogramBin = {
          key,
          pageSize,
          category: '',
          count: resident / pageSize,
          bytes: resident,
        };
        h.bins = [bin];
        const t = totalBins.get(key) ?? { key, pageSize, category: '', count: 0n, bytes: 0n };
        t.count += bin.count;
        t.bytes += bin.bytes;
        totalBins.set(key, t);
        if (opts.runs) {
          const run: HistogramRun = {
            start: v.start,
            end: v.end,
            pageSize,
            present: resident > 0n,
          };
          h.runs = [run];
        }
      }
      if (opts.omitFileBacked && h.fileBacked) continue;
      if (opts.omitUnfaulted && presentPages === 0n) continue;
      out.push(h);
    }
    const totals: HistogramTotals = {
      orders: opts.kind === 'order' ? totalOrders : [],
      bins: [...totalBins.values()].sort((a, b) => (a.pageSize < b.pageSize ? -1 : 1)),
      presentPages: present,
      vmas: map.vmas.length,
    };
    return { map, vmas: opts.kind === 'order' ? sortByReversedOrders(out) : out, totals };
  }

  close(): void {
    this.source?.close();
  }
}

/**
 * Resident bytes of a VE VMA within [start, end). A wholly resident VMA (Rss = Size) or one with
 * Rss 0 is exact also when clipped by a range; a partially resident one is exact only unclipped
 * and when where its pages lie does not matter (`needPlacement` false).
 */
function residentBytes(v: Vma, needPlacement: boolean): bigint {
  const size = veField(v, 'Size') * 1024n;
  const rss = veField(v, 'Rss') * 1024n;
  const len = v.end - v.start;
  if (rss === 0n) return 0n;
  if (rss >= size) return len;
  if (!needPlacement && len === size) return rss;
  throw new PmapError(
    'UNSUPPORTED',
    `not supported on VE: VMA ${hex(v.start)}-${hex(v.end)} is partially resident (Rss ${rss / 1024n} of ${size / 1024n} kB) and VEOS reports only a per-VMA Rss, not which pages are present`,
  );
}
