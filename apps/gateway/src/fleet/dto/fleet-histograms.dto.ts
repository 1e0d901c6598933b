/**
 * GET /v1/histograms: the fleet aggregate of one histogram kind over the processes the selectors
 * pick on every selected node (query and answer DTOs).
 */
import { ApiProperty, ApiPropertyOptional, PickType } from '@nestjs/swagger';
import { BoolParam, IntParam, RangeParam } from '../../common/dto/query-fields';
import {
  CompatParam,
  HISTOGRAM_COMPATS,
  HISTOGRAM_KINDS,
  HistogramKindParam,
  MaxOrderParam,
  type HistogramKindName,
} from '../../histograms/dto/histogram-query.dto';
import { HistogramTotalsDto } from '../../histograms/dto/histogram.dto';
import { RangeDto } from '../../maps/dto/memory-map.dto';
import { FleetQuery } from './fleet-query.dto';
import { FleetEnvelopeDto, NodeProcessDto } from './fleet-result.dto';

/** Processes histogrammed per node when neither limit nor maxProcesses is given. */
export const DEFAULT_MAX_PROCESSES = 16;
/** The most processes histogrammed per node, whatever the parameters say. */
export const MAX_PROCESSES = 256;

export class FleetHistogramQuery extends FleetQuery {
  @HistogramKindParam(
    'Which histogram (as for …/processes/{pid}/histogram): order (present-page contiguity, mem_hist.py), physical (physically contiguous runs; needs CAP_SYS_ADMIN on the agent, else every process fails with FAILED_PRECONDITION), pagesize (mapped page sizes), numa (pages per node)',
  )
  kind!: HistogramKindName;

  @MaxOrderParam('order kind: the highest order counted (default 9)')
  maxOrder?: number;

  @CompatParam(
    "order kind: none = correct counting (default); memhist = mem_hist.py's numbers, its first-block defect included",
  )
  compat?: (typeof HISTOGRAM_COMPATS)[number];

  @RangeParam(
    'Address range LOW[,HIGH] (hex, pmap -A semantics): only VMAs overlapping it are scanned in every process',
    '0x7f0000000000,0x7fffffffffff',
  )
  range?: string;

  @BoolParam('Cut the VMAs to the range before they are scanned. Needs range.')
  clip?: boolean;

  @IntParam(
    `Histogram the N largest matching processes (by RSS) on each node, 1-${MAX_PROCESSES}. Needed when no process selector (name, user, cgroup, ve, slurmJob, k8sPod) is given.`,
    1,
    MAX_PROCESSES,
    'range',
  )
  limit?: number;

  @IntParam(
    `The most processes histogrammed per node (default ${DEFAULT_MAX_PROCESSES}, at most ${MAX_PROCESSES}): a node with more matching processes histograms the largest by RSS and reports truncated=true. With limit, the smaller of the two.`,
    1,
    MAX_PROCESSES,
    'range',
  )
  maxProcesses?: number;
}

export class FleetHistogramTotalsDto extends HistogramTotalsDto {
  @ApiProperty({ description: 'Processes whose histogram is in these totals' })
  processes!: number;
}

export class ProcessHistogramFailureDto {
  @ApiProperty() pid!: number;
  @ApiProperty() comm!: string;
  @ApiProperty({
    description:
      'gRPC status name of the GetHistogram call: NOT_FOUND (the process exited between the list and the scan), PERMISSION_DENIED, FAILED_PRECONDITION (physical without CAP_SYS_ADMIN), UNIMPLEMENTED…',
    example: 'NOT_FOUND',
  })
  code!: string;
  @ApiProperty() message!: string;
  @ApiPropertyOptional({
    description:
      "The agent's machine-readable reason (docs/agent.md): PROCESS_EXITED, PROCESS_NOT_FOUND, PERMISSION_DENIED, READ_STUCK, FAILED_PRECONDITION...",
    example: 'PROCESS_EXITED',
  })
  reason?: string;
}

export class ProcessHistogramDto extends PickType(NodeProcessDto, [
  'pid',
  'comm',
  'cmdline',
  'user',
] as const) {
  @ApiProperty({ type: HistogramTotalsDto, description: "The process's histogram totals" })
  totals!: HistogramTotalsDto;
}

export class HistogramNodeDto {
  @ApiProperty() node!: string;
  @ApiProperty() durationMs!: number;
  @ApiProperty({ description: 'Processes matching the selectors on the node' }) matched!: number;
  @ApiProperty({
    description:
      'More processes matched than the per-node cap: the largest by RSS were histogrammed',
  })
  truncated!: boolean;
  @ApiProperty({ type: FleetHistogramTotalsDto, description: "Sum over the node's processes" })
  totals!: FleetHistogramTotalsDto;
  @ApiProperty({ type: [ProcessHistogramDto], description: 'By pid' })
  processes!: ProcessHistogramDto[];
  @ApiProperty({
    type: [ProcessHistogramFailureDto],
    description: 'Processes whose histogram could not be read (not in the totals)',
  })
  failures!: ProcessHistogramFailureDto[];
}

export class FleetHistogramResultDto extends FleetEnvelopeDto {
  @ApiProperty({ enum: [...HISTOGRAM_KINDS] }) kind!: string;
  @ApiPropertyOptional({ description: 'order kind: the highest order' }) maxOrder?: number;
  @ApiPropertyOptional({ enum: [...HISTOGRAM_COMPATS], description: 'order kind' })
  compat?: string;
  @ApiPropertyOptional({ type: RangeDto, nullable: true }) range!: RangeDto | null;
  @ApiProperty({ description: 'The per-node process cap applied' }) maxProcesses!: number;
  @ApiProperty({
    type: FleetHistogramTotalsDto,
    description:
      'Sum over every histogrammed process of every node: orders added index by index, bins added by key',
  })
  totals!: FleetHistogramTotalsDto;
  @ApiProperty({ type: [HistogramNodeDto], description: 'Nodes that answered, by name' })
  nodes!: HistogramNodeDto[];
}
