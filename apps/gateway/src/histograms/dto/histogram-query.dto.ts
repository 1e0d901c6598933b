import { IsBoolean, IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { Param } from '../../common/param-doc';
import type { ResponseFormat } from '../../common/request-context';
import { ToBool, ToInt } from '../../common/transforms';
import { RangeQuery } from '../../maps/dto/maps-query.dto';

export const HISTOGRAM_KINDS = ['order', 'physical', 'pagesize', 'numa'] as const;
export type HistogramKindName = (typeof HISTOGRAM_KINDS)[number];
export const HISTOGRAM_COMPATS = ['none', 'memhist'] as const;
export const MAX_ORDER = 30;

const BOOL = ['true', 'false', '1', '0'];
const KIND_MESSAGE = `kind must be one of ${HISTOGRAM_KINDS.join(', ')} (required)`;

export class HistogramQuery extends RangeQuery {
  @Param({
    required: true,
    description:
      'Which histogram. order: present-page order histogram of mem_hist.py (virtual contiguity, buddy decomposition, orders 0..maxOrder); physical: physically contiguous runs binned by power-of-two size, anon and file apart (needs CAP_SYS_ADMIN on the agent for page frame numbers: 412 without); pagesize: bytes per mapped page size (4K / PMD-mapped THP / hugetlb), runs=true gives illumos pmap -s rows; numa: pages per NUMA node (numa_maps), runs=true gives illumos pmap -L rows (move_pages)',
    enum: [...HISTOGRAM_KINDS],
  })
  @IsIn([...HISTOGRAM_KINDS], { message: KIND_MESSAGE })
  kind!: HistogramKindName;

  @Param({
    required: false,
    description:
      'Leave file-backed VMAs out of vmas (mem_hist.py --omit-file-backed: a path name that is not /memfd:). Totals still count them.',
    type: Boolean,
    allowed: BOOL,
  })
  @IsOptional()
  @ToBool()
  @IsBoolean({ message: 'omitFileBacked must be true or false' })
  omitFileBacked?: boolean;

  @Param({
    required: false,
    description:
      'Leave VMAs without a present page out of vmas (mem_hist.py --omit-unfaulted-vmas; order kind: an all-zero histogram). Totals still count them.',
    type: Boolean,
    allowed: BOOL,
  })
  @IsOptional()
  @ToBool()
  @IsBoolean({ message: 'omitUnfaulted must be true or false' })
  omitUnfaulted?: boolean;

  @Param({
    required: false,
    description: 'order kind: the highest order counted (default 9: 2 MiB blocks of 4 KiB pages)',
    type: Number,
    minimum: 0,
    maximum: MAX_ORDER,
    allowed: `an integer 0-${MAX_ORDER}`,
  })
  @IsOptional()
  @ToInt()
  @IsInt({ message: `maxOrder must be an integer 0-${MAX_ORDER}` })
  @Min(0, { message: `maxOrder must be an integer 0-${MAX_ORDER}` })
  @Max(MAX_ORDER, { message: `maxOrder must be an integer 0-${MAX_ORDER}` })
  maxOrder?: number;

  @Param({
    required: false,
    description:
      "order kind: none = correct counting (default); memhist = reproduce mem_hist.py's numbers, its first-block defect included",
    enum: [...HISTOGRAM_COMPATS],
  })
  @IsOptional()
  @IsIn([...HISTOGRAM_COMPATS], {
    message: `compat must be one of ${HISTOGRAM_COMPATS.join(', ')}`,
  })
  compat?: (typeof HISTOGRAM_COMPATS)[number];

  @Param({
    required: false,
    description:
      'pagesize and numa: also return runs (illumos pmap -s / -L rows: one per run of one page size / one node, tiling each VMA); text then prints those rows',
    type: Boolean,
    allowed: BOOL,
  })
  @IsOptional()
  @ToBool()
  @IsBoolean({ message: 'runs must be true or false' })
  runs?: boolean;

  @Param({
    required: false,
    description:
      'Response format. Default json; text is also chosen by "Accept: text/plain". Text: order = mem_hist.py lines, physical = blocks per bin per VMA, pagesize/numa = KiB per page size / node per VMA, or with runs the illumos pmap -s / -L rows.',
    enum: ['json', 'text'],
  })
  @IsOptional()
  @IsIn(['json', 'text'], { message: 'format must be json or text' })
  format?: ResponseFormat;
}
