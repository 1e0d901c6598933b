import { FormatParam } from '../../common/dto/common-query';
import { BoolParam, EnumParam, IntParam } from '../../common/dto/query-fields';
import type { ResponseFormat } from '../../common/request-context';
import { RangeQuery } from '../../maps/dto/maps-query.dto';

export const HISTOGRAM_KINDS = ['order', 'physical', 'pagesize', 'numa'] as const;
export type HistogramKindName = (typeof HISTOGRAM_KINDS)[number];
export const HISTOGRAM_COMPATS = ['none', 'memhist'] as const;
export const MAX_ORDER = 30;

/** kind= (required), maxOrder= and compat= of a histogram query (per-endpoint descriptions). */
export const HistogramKindParam = (description: string): PropertyDecorator =>
  EnumParam(description, HISTOGRAM_KINDS, { required: true });
export const MaxOrderParam = (description: string): PropertyDecorator =>
  IntParam(description, 0, MAX_ORDER, 'range');
export const CompatParam = (description: string): PropertyDecorator =>
  EnumParam(description, HISTOGRAM_COMPATS);

export class HistogramQuery extends RangeQuery {
  @HistogramKindParam(
    'Which histogram. order: present-page order histogram of mem_hist.py (virtual contiguity, buddy decomposition, orders 0..maxOrder); physical: physically contiguous runs binned by power-of-two size, anon and file apart (needs CAP_SYS_ADMIN on the agent for page frame numbers: 412 without); pagesize: bytes per mapped page size (4K / PMD-mapped THP / hugetlb), runs=true gives illumos pmap -s rows; numa: pages per NUMA node (numa_maps), runs=true gives illumos pmap -L rows (move_pages)',
  )
  kind!: HistogramKindName;

  @BoolParam(
    'Leave file-backed VMAs out of vmas (mem_hist.py --omit-file-backed: a path name that is not /memfd:). Totals still count them.',
  )
  omitFileBacked?: boolean;

  @BoolParam(
    'Leave VMAs without a present page out of vmas (mem_hist.py --omit-unfaulted-vmas; order kind: an all-zero histogram). Totals still count them.',
  )
  omitUnfaulted?: boolean;

  @MaxOrderParam('order kind: the highest order counted (default 9: 2 MiB blocks of 4 KiB pages)')
  maxOrder?: number;

  @CompatParam(
    "order kind: none = correct counting (default); memhist = reproduce mem_hist.py's numbers, its first-block defect included",
  )
  compat?: (typeof HISTOGRAM_COMPATS)[number];

  @BoolParam(
    'pagesize and numa: also return runs (illumos pmap -s / -L rows: one per run of one page size / one node, tiling each VMA); text then prints those rows',
  )
  runs?: boolean;

  @FormatParam(
    'Response format. Default json; text is also chosen by "Accept: text/plain". Text: order = mem_hist.py lines, physical = blocks per bin per VMA, pagesize/numa = KiB per page size / node per VMA, or with runs the illumos pmap -s / -L rows.',
  )
  format?: ResponseFormat;
}
