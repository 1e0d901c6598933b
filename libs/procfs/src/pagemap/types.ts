/**
 * Histogram types (libs/procfs/src/pagemap). Shaped like the proto messages VmaHistogram,
 * HistogramBin, HistogramRun and HistogramTotals in proto/pmap/v1/pmap.proto; u64 -> bigint.
 */
import type { VmaKind } from '@app/domain';

export type HistogramKind = 'order' | 'physical' | 'pagesize' | 'numa';

/** Physical runs: anonymous or file (incl. shmem/tmpfs) pages; '' for the other kinds. */
export type HistogramCategory = '' | 'anon' | 'file';

export interface HistogramBin {
  /** "4K", "2M" (pagesize), "N0" (numa), "AnonCont8K" / "FileCont2M" (physical). */
  key: string;
  /** pagesize: the mapped page size; physical: the block size of the bin; numa: the VMA's page size. */
  pageSize: bigint;
  numaNode?: number;
  category: HistogramCategory;
  /** pagesize: pages of that size; physical: blocks of that size; numa: pages on that node. */
  count: bigint;
  bytes: bigint;
}

/** One row of the illumos `-s` (page size) or `-L` (NUMA node) views. */
export interface HistogramRun {
  start: bigint;
  end: bigint;
  pageSize: bigint;
  /** numa runs: the node of every page in the run; undefined when not present. */
  numaNode?: number;
  present: boolean;
}

export interface VmaHistogram {
  start: bigint;
  end: bigint;
  perms: string;
  name: string;
  kind: VmaKind;
  /** order: blocks counted per order, index = order (maxOrder + 1 entries); [] for other kinds. */
  orders: bigint[];
  bins: HistogramBin[];
  /** pagesize/numa with `runs: true`; [] otherwise. */
  runs: HistogramRun[];
  /** Present (resident, not swapped) base pages. */
  presentPages: bigint;
  /** mem_hist.py's notion: the name is a path ("/x…") that is not a memfd. */
  fileBacked: boolean;
}

export interface HistogramTotals {
  /** Sum of `orders` over every scanned VMA (omitted ones included, as mem_hist.py does). */
  orders: bigint[];
  /** Sum of the bins over every scanned VMA, merged by key. */
  bins: HistogramBin[];
  presentPages: bigint;
  /** Number of VMAs scanned (omitted ones included). */
  vmas: number;
}

export interface HistogramResult {
  kind: HistogramKind;
  /** The VMAs that passed the omit filters (order kind: sorted as mem_hist.py sorts). */
  vmas: VmaHistogram[];
  totals: HistogramTotals;
}

export interface HistogramOptions {
  kind: HistogramKind;
  /** order: highest order (default 9 = PMD size with 4 KiB pages). 0..30. */
  maxOrder?: number;
  /** Leave file-backed VMAs out of `vmas` (memfds count as anonymous). Totals still include them. */
  omitFileBacked?: boolean;
  /** Leave VMAs without a present page out of `vmas` (memhist: VMAs whose histogram is all zero). */
  omitUnfaulted?: boolean;
  /** 'memhist': reproduce mem_hist.py's order numbers, defect included (order kind only). */
  compat?: 'memhist';
  /** pagesize / numa: also compute runs (illumos -s / -L rows). */
  runs?: boolean;
  /**
   * Order of `vmas` from computeHistogram: 'memhist' = by reversed histogram, stable (the default
   * for the order kind), 'address' = as given (the default for the other kinds).
   */
  sort?: 'memhist' | 'address';
  /** Checked between VMAs and between chunks; an aborted signal stops the scan (throws). */
  signal?: AbortSignal;
  /** Milliseconds since the epoch (Date.now() scale): past it the scan stops with UNAVAILABLE. */
  deadlineMs?: number;
  /** Default "/proc". */
  procRoot?: string;
  /** Base page size in bytes (default 4096). */
  pageSize?: number;
  /** Use the PAGEMAP_SCAN ioctl when the kernel has it (default true); false forces pread. */
  useScan?: boolean;
  /** pagesize: hugetlb page size for VMAs without smaps fields (default: PMD size). */
  hugetlbPageSize?: bigint;
  /** numa: numa_maps text already read (else read from procRoot/PID/numa_maps). */
  numaMapsText?: string;
  /** numa runs: pages per move_pages call (default 16384). */
  movePagesBatch?: number;
}
