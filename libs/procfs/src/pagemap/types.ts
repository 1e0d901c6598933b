/**
 * Options of the histogram scanner (libs/procfs/src/pagemap); the result types live in
 * @app/domain (histogram.ts).
 */
import type { HistogramKind } from '@app/domain';

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
