import type { MemoryMap, ProcessInfo } from '@app/domain';
import type { ProcReaderOptions } from '@app/procfs';

/** Where openVeSource looks for things; every path is configurable for tests and odd installs. */
export interface VeSourceOptions {
  /**
   * libveosinfo to load. Default: /opt/nec/ve/veos/lib64/libveosinfo.so.3, then
   * /opt/nec/ve/veos/lib64/libveosinfo.so (the first that exists).
   */
  libraryPath?: string;
  /** VE device class in sysfs. Default /sys/class/ve (holds ve0, ve1, …). */
  sysfsRoot?: string;
  /** Where VEOS puts its sockets veos<N>.sock. Default /var/opt/nec/ve/veos. */
  socketDir?: string;
  /** Host /proc (the pseudo processes). Default /proc. */
  procRoot?: string;
  /** Host /etc (user names). Default /etc. */
  etcRoot?: string;
  /**
   * How the pseudo processes' files that can block (cmdline) are read: the agent passes its
   * worker pool's read (ProcReaderOptions.lockedRead). Default: fs.promises.readFile.
   */
  lockedRead?: ProcReaderOptions['lockedRead'];
  /**
   * The effective uid the caller acts as, for `possiblyDenied`. Default process.geteuid().
   * VEOS itself decides with the socket peer's credentials; this only affects the flag.
   */
  euid?: number;
}

export type VeNodeState = 'online' | 'offline' | 'initializing' | 'maintenance' | 'unknown';

export interface VeNodeInfo {
  /** VE node number (the N of /sys/class/ve/veN and veosN.sock). */
  node: number;
  state: VeNodeState;
  /** Raw sysfs os_state (0 online, 1 offline, 2 initializing, 3 terminating); -1 unreadable. */
  osState: number;
  /** VE processes on the node (task_id_all folded to thread-group leaders). */
  processCount: number;
  /** veos<N>.sock exists in the socket directory (VEOS is running). */
  socketPresent: boolean;
}

export interface VeListOptions {
  /**
   * Do not ask VEOS for each process's map: vsize and rss stay 0 (the host pseudo process's
   * figures say nothing about VE memory). Default false: vsize/rss are the sums of the VE map's
   * Size and Rss.
   */
  skipMemory?: boolean;
}

/** A VE process's map. */
export interface VeMemoryMap extends MemoryMap {
  /**
   * VEOS answered with zero VMAs while the caller is not root and the process belongs to another
   * user: VEOS hides other users' maps that way (success, length 0) instead of failing, so the
   * empty map may be a denial rather than a process without memory.
   */
  possiblyDenied: boolean;
}

/** An opened VE data source (one libveosinfo handle). Synchronous, like the /proc readers. */
export interface VeSource {
  readonly libraryPath: string;
  readonly sysfsRoot: string;
  readonly socketDir: string;
  /** Every VE node of this host, sorted by node number. */
  listNodes(): VeNodeInfo[];
  /** The VE processes on a node (veNode and vePseudoOf set, cmdline = the VE program's). */
  listProcesses(node: number, opts?: VeListOptions): Promise<ProcessInfo[]>;
  /** The VE node running host pid `pid` (from sysfs task_id_all), or undefined. */
  nodeOfPid(pid: number): number | undefined;
  /** ve_check_pid: is `pid` a VE process on `node`? */
  checkPid(node: number, pid: number): boolean;
  /** ve_map_info: the VE process's memory map at smaps level (fields, vmFlags, notProvided). */
  readMemoryMap(node: number, pid: number): Promise<VeMemoryMap>;
  /** Unloads the library; later calls throw UNAVAILABLE. */
  close(): void;
}

/** openVeSource's answer when there is nothing to open. */
export interface VeUnavailable {
  unavailable: string;
}
