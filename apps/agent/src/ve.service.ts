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
  type AddressRange,
  type MemoryMap,
  type ProcessInfo,
  type Vma,
  type HistogramTotals,
  type VmaHistogram,
} from '@app/domain';
import type { ProcessFilter, ProcReaderOptions } from '@app/procfs';
import type { VeNode } from '@app/proto';
import {
  assertVeHistogramKind,
  isVePseudoProcess,
  isVeUnavailable,
  markVePseudoRegions,
  openVeSource,
  VE_PAGE_SIZE,
  veHistogram,
  vePseudoNode,
  type VeHistogramOptions,
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

export type { VeHistogramOptions };

export interface VeHistogram {
  map: MemoryMap;
  vmas: VmaHistogram[];
  totals: HistogramTotals;
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
    /** The agent's read pool, for the pseudo processes' cmdline (ProcReaderOptions.lockedRead). */
    lockedRead?: ProcReaderOptions['lockedRead'],
  ): VeService {
    if (!config.ve) return new VeService(undefined, 'VE disabled (--no-ve)');
    const src = openVeSource({
      libraryPath: config.veLibrary,
      sysfsRoot: config.veSysfs,
      socketDir: config.veSocketDir,
      procRoot: config.procRoot,
      lockedRead,
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
  async listProcesses(
    node: number,
    filter: ProcessFilter,
  ): Promise<{ processes: ProcessInfo[]; unreadable: number }> {
    const src = this.require();
    const all = await src.listProcesses(node, { skipMemory: filter.skipRollup === true });
    const match = processMatcher(filter);
    const processes = all.filter(match);
    return { processes, unreadable: processes.filter((p) => p.rollupError).length };
  }

  /** GetMemoryMap with ve_node: the VE map (smaps level), range-filtered at VE page size. */
  async readMap(node: number, pid: number, range: AddressRange | undefined): Promise<MemoryMap> {
    const map = await this.require().readMemoryMap(node, pid);
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
  async markPseudoMap(map: MemoryMap): Promise<number | undefined> {
    const node = this.pseudoNodeOf(map.header.pid, map.header.cmdline);
    if (node === undefined) return undefined;
    let veVmas: Vma[] | undefined;
    if (this.source) {
      try {
        veVmas = (await this.source.readMemoryMap(node, map.header.pid)).vmas;
      } catch {
        // VEOS down, node offline, not (yet) a VE process: VEMMR alone is still marked
      }
    }
    markVePseudoRegions(map.vmas, node, veVmas);
    map.header.vePseudoOf = node;
    return node;
  }

  /**
   * GetHistogram with ve_node, from the VE map alone (the maths: veHistogram of @app/ve).
   * Physical and numa are UNSUPPORTED before anything is read.
   */
  async histogram(node: number, pid: number, opts: VeHistogramOptions): Promise<VeHistogram> {
    assertVeHistogramKind(opts.kind);
    const map = await this.readMap(node, pid, opts.range);
    return { map, ...veHistogram(map.vmas, opts) };
  }

  close(): void {
    this.source?.close();
  }
}
