/**
 * pmapd's domain model: one shape for a memory map whatever its source (Linux /proc, VEOS),
 * used by the readers (libs/procfs, libs/ve), the renderers (libs/pmap-format) and both apps.
 * 64-bit quantities are bigint; small counts are number.
 */

export type VmaKind =
  | 'file'
  | 'deleted_file'
  | 'anon'
  | 'named_anon'
  | 'heap'
  | 'stack'
  | 'thread_stack'
  | 'vdso'
  | 'vvar'
  | 'vsyscall'
  | 'sysv_shm'
  | 'memfd'
  | 'named_shmem'
  | 've_memory'
  | 'other';

export const VMA_KINDS: readonly VmaKind[] = [
  'file',
  'deleted_file',
  'anon',
  'named_anon',
  'heap',
  'stack',
  'thread_stack',
  'vdso',
  'vvar',
  'vsyscall',
  'sysv_shm',
  'memfd',
  'named_shmem',
  've_memory',
  'other',
];

/** One "Name: number [kB]" line of /proc/PID/smaps, in the kernel's order. */
export interface SmapsField {
  name: string;
  /** The number as the kernel printed it (kB when `kb`). */
  value: bigint;
  /** The kernel printed " kB" after the number. */
  kb: boolean;
}

export interface Vma {
  start: bigint;
  end: bigint;
  /** The four permission characters as in maps: "r-xp", "rw-s". */
  perms: string;
  offset: bigint;
  devMajor: number;
  devMinor: number;
  inode: bigint;
  /** The name exactly as the kernel printed it ("" for anonymous memory). */
  name: string;
  kind: VmaKind;
  /** SysV shm: the segment id (the kernel shows it as the inode). */
  shmId?: bigint;
  /** A thread stack: the thread whose stack pointer lies inside. */
  threadId?: number;
  /** smaps level: every numeric field in the kernel's order. Undefined at maps level. */
  fields?: SmapsField[];
  /** smaps level: the VmFlags value ("rd wr mr mw me ac sd"); "" when the kernel printed none. */
  vmFlags?: string;
  /** VE: fields the source never fills ("not provided", not zero). */
  notProvided?: string[];
  /** VE pseudo process: the VE node whose memory this reservation mirrors. */
  veNode?: number;
}

/**
 * Where the fields of one maps header line lie in its bytes (procfs scanMapsLine): `[at, to)`
 * offsets, plus start/end and the device as JS numbers (maps addresses are page-aligned, so
 * exact as doubles even above 2^53, e.g. vsyscall's ffffffffff600000). Reused line after line:
 * what lets the text path render rows with no Vma, bigint or string per VMA.
 */
export interface MapsLine {
  start: number;
  end: number;
  startAt: number;
  startTo: number;
  endAt: number;
  endTo: number;
  /** Offset of the four permission bytes. */
  permsAt: number;
  offsetAt: number;
  offsetTo: number;
  majorAt: number;
  majorTo: number;
  minorAt: number;
  minorTo: number;
  devMajor: number;
  devMinor: number;
  inodeAt: number;
  inodeTo: number;
  /** The name exactly as the kernel printed it; empty when nameAt === nameTo. */
  nameAt: number;
  nameTo: number;
}

export interface ProcessHeader {
  pid: number;
  /** Arguments joined by single spaces; "[comm]" for a kernel thread. */
  cmdline: string;
  comm: string;
  /** /proc/PID/stat field 28. */
  startStack: bigint;
  kernelThread: boolean;
  uid: number;
  /** Set for a VE process: its VE node. */
  veNode?: number;
  /** Host pseudo process of a VE program: the VE node running it (or, on a VE process, the link back). */
  vePseudoOf?: number;
  readAtMs?: number;
  pageSize?: bigint;
}

export interface MemoryMap {
  header: ProcessHeader;
  vmas: Vma[];
}

/** smaps_rollup, in bytes. */
export interface MemoryRollup {
  rss: bigint;
  pss: bigint;
  pssAnon: bigint;
  pssFile: bigint;
  pssShmem: bigint;
  sharedClean: bigint;
  sharedDirty: bigint;
  privateClean: bigint;
  privateDirty: bigint;
  referenced: bigint;
  anonymous: bigint;
  anonHugePages: bigint;
  shmemPmdMapped: bigint;
  filePmdMapped: bigint;
  swap: bigint;
  swapPss: bigint;
  locked: bigint;
}

/** Sums over a node's matching processes (computed by the agent), bytes. */
export interface ProcessTotals {
  processes: number;
  /** Processes without a rollup: rss counts their /proc/PID/stat rss, the rest leaves them out. */
  withoutRollup: number;
  rss: bigint;
  pss: bigint;
  swap: bigint;
  anonHugePages: bigint;
  locked: bigint;
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
  /** cmdline holds only the first 4 KiB of a longer command line (the agent's cap). */
  cmdlineTruncated?: boolean;
  uid: number;
  user: string;
  state: string;
  threads: number;
  /** Milliseconds since the Unix epoch. */
  startTimeMs: number;
  vsize: bigint;
  /** Resident set from /proc/PID/stat, bytes. */
  rss: bigint;
  rollup?: MemoryRollup;
  rollupError?: string;
  cgroup: string;
  kernelThread: boolean;
  veNode?: number;
  vePseudoOf?: number;
}

/** An address range with pmap -A semantics: [low, high] inclusive, an absent side open. */
export interface AddressRange {
  low?: bigint;
  high?: bigint;
  /** illumos semantics: page-rounded, rows clipped to the range. */
  clip?: boolean;
}
