/**
 * Histogram results, whatever computed them (libs/procfs for Linux, the agent's VE source) and
 * whoever renders them (libs/pmap-format, the gateway). Shaped like the proto messages
 * VmaHistogram, HistogramBin, HistogramRun and HistogramTotals; u64 -> bigint.
 */
import type { VmaKind } from './types';

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
