import { existsSync, readFileSync } from 'node:fs';
import { PmapError, type ProcessInfo, type Vma } from '@app/domain';
import { ProcReader, rollupOfVmas } from '@app/procfs';
import { decodeVeMapinfoFile, veField } from './mapinfo';
import { veProgramCmdline } from './pseudo';
import {
  nodeState,
  readOsState,
  readTaskIds,
  readVeState,
  socketPath,
  socketPresent,
  sysfsNodes,
} from './sysfs';
import type {
  VeListOptions,
  VeMemoryMap,
  VeNodeInfo,
  VeSource,
  VeSourceOptions,
  VeUnavailable,
} from './types';
import { removeQuietly, VeosInfoLib } from './veosinfo';

export const DEFAULT_LIBRARY_PATHS: readonly string[] = [
  '/opt/nec/ve/veos/lib64/libveosinfo.so.3',
  '/opt/nec/ve/veos/lib64/libveosinfo.so',
];
export const DEFAULT_SYSFS_ROOT = '/sys/class/ve';
export const DEFAULT_SOCKET_DIR = '/var/opt/nec/ve/veos';
/** VE_PAGE_SIZE of veosinfo.h (the small VE page; large pages are 64 MiB). */
export const VE_PAGE_SIZE = 2097152n;

export function isVeUnavailable(x: VeSource | VeUnavailable): x is VeUnavailable {
  return typeof (x as VeUnavailable).unavailable === 'string';
}

/**
 * Opens libveosinfo. No library (or no VE device class in sysfs) is not an error: the answer is
 * `{ unavailable: reason }` and the caller serves the host only.
 */
export function openVeSource(opts: VeSourceOptions = {}): VeSource | VeUnavailable {
  const candidates = opts.libraryPath !== undefined ? [opts.libraryPath] : DEFAULT_LIBRARY_PATHS;
  const libraryPath = candidates.find((p) => existsSync(p));
  if (libraryPath === undefined) {
    return { unavailable: `libveosinfo not found (looked for ${candidates.join(', ')})` };
  }
  const sysfsRoot = opts.sysfsRoot ?? DEFAULT_SYSFS_ROOT;
  if (!existsSync(sysfsRoot)) {
    return { unavailable: `no Vector Engine devices: ${sysfsRoot} does not exist` };
  }
  let lib: VeosInfoLib;
  try {
    lib = new VeosInfoLib(libraryPath);
  } catch (e) {
    return {
      unavailable: `cannot load ${libraryPath}: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
  return new LibVeSource(lib, sysfsRoot, opts);
}

function checkNode(node: number): void {
  if (!Number.isSafeInteger(node) || node < 0 || node > 1023) {
    throw new PmapError('INVALID_ARGUMENT', `bad VE node number ${node}`, 'veNode');
  }
}

function checkPidArg(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid > 0x7fffffff) {
    throw new PmapError('INVALID_ARGUMENT', `bad pid ${pid}`, 'pid');
  }
}

/** The VE program's name: basename of its argv[0] ("./dgemm" -> "dgemm"). */
function veComm(veCmdline: string, fallback: string): string {
  const sp = veCmdline.indexOf(' ');
  const arg0 = sp < 0 ? veCmdline : veCmdline.slice(0, sp);
  const base = arg0.slice(arg0.lastIndexOf('/') + 1);
  return base || fallback;
}

class LibVeSource implements VeSource {
  readonly libraryPath: string;
  readonly socketDir: string;
  private readonly proc: ProcReader;
  private readonly euid: number;

  constructor(
    private readonly lib: VeosInfoLib,
    readonly sysfsRoot: string,
    opts: VeSourceOptions,
  ) {
    this.libraryPath = lib.path;
    this.socketDir = opts.socketDir ?? DEFAULT_SOCKET_DIR;
    this.proc = new ProcReader({
      procRoot: opts.procRoot,
      etcRoot: opts.etcRoot,
      lockedRead: opts.lockedRead,
    });
    this.euid = opts.euid ?? (typeof process.geteuid === 'function' ? process.geteuid() : 0);
  }

  close(): void {
    this.lib.close();
  }

  private assertOpen(): void {
    if (this.lib.closed) throw new PmapError('UNAVAILABLE', 'VE source is closed');
  }

  listNodes(): VeNodeInfo[] {
    this.assertOpen();
    const nodes = new Set(sysfsNodes(this.sysfsRoot));
    let online: number[] = [];
    try {
      online = this.lib.getNos();
    } catch {
      // VEOS unreachable: sysfs alone still tells which nodes exist and their state.
    }
    for (const n of online) nodes.add(n);
    return [...nodes]
      .sort((a, b) => a - b)
      .map((node) => {
        const osState = readOsState(this.sysfsRoot, node);
        const state =
          osState === -1 && online.includes(node)
            ? 'online'
            : nodeState(osState, readVeState(this.sysfsRoot, node));
        return {
          node,
          state,
          osState,
          processCount: this.processPids(node).length,
          socketPresent: socketPresent(this.socketDir, node),
        };
      });
  }

  /** task_id_all folded to thread-group leaders (VE threads are host threads too), sorted. */
  private processPids(node: number): number[] {
    const tgids = new Set<number>();
    for (const tid of readTaskIds(this.sysfsRoot, node)) {
      try {
        tgids.add(this.proc.readStatus(tid).tgid || tid);
      } catch {
        // exited since the driver listed it
      }
    }
    return [...tgids].sort((a, b) => a - b);
  }

  nodeOfPid(pid: number): number | undefined {
    this.assertOpen();
    for (const node of sysfsNodes(this.sysfsRoot)) {
      if (readTaskIds(this.sysfsRoot, node).includes(pid)) return node;
    }
    return undefined;
  }

  checkPid(node: number, pid: number): boolean {
    this.assertUsable(node, pid);
    return this.lib.checkPid(node, pid);
  }

  async listProcesses(node: number, opts: VeListOptions = {}): Promise<ProcessInfo[]> {
    this.assertOpen();
    checkNode(node);
    const pids = this.processPids(node);
    if (pids.length === 0) return [];
    const { processes } = await this.proc.listProcesses({ pids, skipRollup: true });
    const out: ProcessInfo[] = [];
    for (const p of processes) {
      const cmdline = veProgramCmdline(p.cmdline);
      const info: ProcessInfo = {
        ...p,
        cmdline,
        comm: veComm(cmdline, p.comm),
        vsize: 0n,
        rss: 0n,
        veNode: node,
        vePseudoOf: p.pid,
      };
      if (!opts.skipMemory) {
        try {
          const vmas = this.readVmas(node, p.pid);
          let size = 0n;
          for (const v of vmas) size += veField(v, 'Size');
          // VEOS has no smaps_rollup: the rollup is the sum of the VE map.
          info.rollup = rollupOfVmas(vmas);
          info.vsize = size * 1024n;
          info.rss = info.rollup.rss;
        } catch (e) {
          if (e instanceof PmapError && (e.code === 'NOT_FOUND' || e.code === 'EXITED')) continue;
          info.rollupError = e instanceof Error ? e.message : String(e);
        }
      }
      out.push(info);
    }
    return out;
  }

  async readMemoryMap(node: number, pid: number): Promise<VeMemoryMap> {
    this.assertUsable(node, pid);
    const host = await this.proc.readHeader(pid);
    const vmas = this.readVmas(node, pid);
    const cmdline = veProgramCmdline(host.cmdline);
    return {
      header: {
        pid,
        cmdline,
        comm: veComm(cmdline, host.comm),
        startStack: 0n,
        kernelThread: false,
        uid: host.uid,
        veNode: node,
        vePseudoOf: pid,
        readAtMs: host.readAtMs ?? Date.now(),
        pageSize: VE_PAGE_SIZE,
      },
      vmas,
      possiblyDenied: vmas.length === 0 && this.euid !== 0 && host.uid !== this.euid,
    };
  }

  /**
   * The real libveosinfo aborts the whole process when it cannot talk to a VEOS socket in some
   * ways, so a node that is not online (sysfs) or has no VEOS socket is refused up front.
   */
  /** The source is open, node and pid are valid and the node's VEOS is up. */
  private assertUsable(node: number, pid: number): void {
    this.assertOpen();
    checkNode(node);
    checkPidArg(pid);
    this.assertNodeUsable(node);
  }

  private assertNodeUsable(node: number): void {
    const osState = readOsState(this.sysfsRoot, node);
    if (osState === -1 && !sysfsNodes(this.sysfsRoot).includes(node)) {
      throw new PmapError('NOT_FOUND', `no VE node ${node}`);
    }
    if (osState !== 0) {
      const state = nodeState(osState, readVeState(this.sysfsRoot, node));
      throw new PmapError('UNAVAILABLE', `VE node ${node} is ${state} (os_state ${osState})`);
    }
    if (!socketPresent(this.socketDir, node)) {
      throw new PmapError(
        'UNAVAILABLE',
        `VEOS is not running on VE node ${node} (no ${socketPath(this.socketDir, node)})`,
      );
    }
  }

  /** ve_map_info + read + unlink (always, also when reading or decoding fails). */
  private readVmas(node: number, pid: number): Vma[] {
    const { length, filename } = this.lib.mapInfo(node, pid);
    if (length === 0) {
      if (filename) removeQuietly(filename);
      return [];
    }
    if (!filename) {
      throw new PmapError('UNAVAILABLE', `ve_map_info gave ${length} records but no file name`);
    }
    try {
      let data: Buffer;
      try {
        data = readFileSync(filename);
      } catch (e) {
        throw new PmapError(
          'UNAVAILABLE',
          `cannot read the VEOS map file ${filename}: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      return decodeVeMapinfoFile(data, length, node);
    } finally {
      removeQuietly(filename);
    }
  }
}
