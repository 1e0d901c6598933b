/** Types produced by the /proc parsers and readers (libs/procfs). */
import type { SafeRegex } from '@app/domain';

/** /proc/PID/stat, the fields pmapd uses. Small counts are numbers; addresses and sizes bigint. */
export interface ProcStat {
  pid: number;
  /** The command name between the parentheses (may contain spaces and parentheses). */
  comm: string;
  /** One letter: R S D T t Z X I … */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  ttyNr: number;
  /** Kernel task flags (PF_*); PF_KTHREAD = 0x00200000. */
  flags: number;
  minflt: number;
  majflt: number;
  utimeTicks: number;
  stimeTicks: number;
  priority: number;
  nice: number;
  numThreads: number;
  /** Field 22: start time in clock ticks after boot. */
  startTimeTicks: number;
  /** Field 23: virtual size, bytes. */
  vsize: bigint;
  /** Field 24: resident set, pages. */
  rssPages: bigint;
  /** Field 28: start of the main stack (0 when hidden). */
  startStack: bigint;
  /** Field 29: saved stack pointer (0 unless the task is stopped / core dumping). */
  kstkesp: bigint;
  /** Field 30: saved instruction pointer. */
  kstkeip: bigint;
  /** Field 39: CPU last run on (-1 when absent). */
  processor: number;
}

/** /proc/PID/status, the fields pmapd uses plus every raw line. */
export interface ProcStatus {
  name: string;
  state: string;
  tgid: number;
  pid: number;
  ppid: number;
  /** Real uid (first of the four Uid values). */
  uid: number;
  euid: number;
  gid: number;
  egid: number;
  threads: number;
  /** VmRSS in kB (undefined for kernel threads). */
  vmRssKb?: bigint;
  vmSizeKb?: bigint;
  /** CapEff as a 64-bit mask. */
  capEff: bigint;
  /** Kthread: 1 on kernels that print it (6.x), else undefined. */
  kthread?: boolean;
  /** Every "Key:\tvalue" line, value trimmed. */
  fields: Map<string, string>;
}

/** One line of /proc/PID/numa_maps. */
export interface NumaMapsEntry {
  start: bigint;
  /** "default", "bind:0-1", "interleave:0-3", "prefer:1", … */
  policy: string;
  /** Pages per NUMA node (N<node>=<pages>). */
  nodes: Map<number, bigint>;
  /** file=… (the rest of the line is not quoted, so names with spaces are joined back). */
  file?: string;
  heap?: boolean;
  stack?: boolean;
  huge?: boolean;
  anon?: bigint;
  dirty?: bigint;
  mapped?: bigint;
  mapmax?: bigint;
  swapcache?: bigint;
  active?: bigint;
  writeback?: bigint;
  kernelPageSizeKb?: bigint;
}

/**
 * Which processes `listProcesses` returns. Every given criterion must match.
 */
export interface ProcessFilter {
  /** Tested against comm and the cmdline (a client's pattern: compileSafeRegex of @app/domain). */
  nameRegex?: SafeRegex;
  /** A user name or a numeric uid (real uid). */
  user?: string;
  /** Substring of the cgroup path. */
  cgroup?: string;
  pids?: number[];
  /** Slurm job id: the cgroup path has a component "job_<id>". */
  slurmJob?: string;
  /** Kubernetes pod uid: the cgroup path contains "pod<uid>" with dashes or underscores. */
  k8sPod?: string;
  /** Do not read smaps_rollup (faster; `rollup` left undefined). */
  skipRollup?: boolean;
  includeKernelThreads?: boolean;
}

/** Options of every ProcReader read that can block. */
export interface ReadOptions {
  /** Aborting drops the read (it leaves the pool's queue, or its result is discarded). */
  signal?: AbortSignal;
  /**
   * A read has taken longer than the pool's slow threshold (it is probably stuck): the caller
   * may give back what it holds for the read (the agent: its heavy-read permit).
   */
  onSlow?: () => void;
  /** Awaited before the bytes of a read that was slow are used (the agent: take a permit back). */
  resume?: () => Promise<void>;
}

export interface ReadMemoryMapOptions extends ReadOptions {
  detail: 'maps' | 'smaps';
  /** Find thread stacks from each thread's stack pointer (task/TID/syscall, stat kstkesp). */
  threadStacks?: boolean;
}

export interface ProcReaderOptions {
  /** Default "/proc". */
  procRoot?: string;
  /** Where passwd lives (default "/etc"). */
  etcRoot?: string;
  /** Clock ticks per second for stat start times (default 100). */
  clockTicks?: number;
  /** Bytes per page for stat rss (default 4096). */
  pageSize?: bigint;
  /**
   * Reads the files that take the target's mmap_lock (cmdline, maps, smaps, smaps_rollup,
   * numa_maps), asynchronously: a GuardedFileReader's read in the agent (worker threads), so a
   * process stuck in the kernel cannot block the agent's event loop. Default: fs.promises.readFile.
   */
  lockedRead?: (path: string, opts: ReadOptions) => Promise<Buffer>;
  /**
   * lockedRead in pieces that each end at a line end, handed to `onChunk` in order as they are
   * read (the agent: GuardedFileReader.readChunks), so maps and smaps are parsed while the kernel
   * generates them. Default: lockedRead's whole file as one piece.
   */
  lockedReadChunks?: (
    path: string,
    onChunk: (piece: Buffer) => void,
    opts: ReadOptions,
  ) => Promise<void>;
}

export interface Capabilities {
  /** pagemap shows PFNs (CAP_SYS_ADMIN). */
  pfnsReadable: boolean;
  /** /proc/kpageflags can be read. */
  kpageflagsReadable: boolean;
  /** The PAGEMAP_SCAN ioctl works (Linux 6.7+). */
  pagemapScan: boolean;
  numaNodes: number[];
  /** The agent may read other users' maps (root or CAP_SYS_PTRACE). */
  readOtherUsers: boolean;
  /** Huge page sizes the kernel offers, bytes. */
  hugePageSizes: bigint[];
  pageSize: bigint;
  /** Plain-language explanation of each missing capability. */
  notes: string[];
}

export interface NodeBasics {
  hostname: string;
  kernelRelease: string;
  arch: string;
  cpuCount: number;
  /** Bytes. */
  memTotal: bigint;
  bootTimeMs: number;
}
