/**
 * GET /v1/histograms: the fleet aggregate of one histogram kind over the processes the selectors
 * pick on every selected node (query and answer DTOs).
 */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { Param } from '../../common/param-doc';
import { ToBool, ToInt } from '../../common/transforms';
import {
  HISTOGRAM_COMPATS,
  HISTOGRAM_KINDS,
  MAX_ORDER,
  type HistogramKindName,
} from '../../histograms/dto/histogram-query.dto';
import { HistogramTotalsDto } from '../../histograms/dto/histogram.dto';
import { RangeDto } from '../../maps/dto/memory-map.dto';
import { FleetQuery } from './fleet-query.dto';
import { FleetEnvelopeDto } from './fleet-result.dto';

/** Processes histogrammed per node when neither limit nor maxProcesses is given. */
export const DEFAULT_MAX_PROCESSES = 16;
/** The most processes histogrammed per node, whatever the parameters say. */
export const MAX_PROCESSES = 256;

export class FleetHistogramQuery extends FleetQuery {
  @Param({
    required: true,
    description:
      'Which histogram (as for …/processes/{pid}/histogram): order (present-page contiguity, mem_hist.py), physical (physically contiguous runs; needs CAP_SYS_ADMIN on the agent, else every process fails with FAILED_PRECONDITION), pagesize (mapped page sizes), numa (pages per node)',
    enum: [...HISTOGRAM_KINDS],
  })
  @IsIn([...HISTOGRAM_KINDS], {
    message: `kind must be one of ${HISTOGRAM_KINDS.join(', ')} (required)`,
  })
  kind!: HistogramKindName;

  @Param({
    required: false,
    description: 'order kind: the highest order counted (default 9)',
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
      "order kind: none = correct counting (default); memhist = mem_hist.py's numbers, its first-block defect included",
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
      'Address range LOW[,HIGH] (hex, pmap -A semantics): only VMAs overlapping it are scanned in every process',
    example: '0x7f0000000000,0x7fffffffffff',
    allowed: 'LOW[,HIGH] in hexadecimal (0x optional, at most 64 bits), LOW <= HIGH',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  range?: string;

  @Param({
    required: false,
    description: 'Cut the VMAs to the range before they are scanned. Needs range.',
    type: Boolean,
    allowed: ['true', 'false', '1', '0'],
  })
  @IsOptional()
  @ToBool()
  @IsBoolean({ message: 'clip must be true or false' })
  clip?: boolean;

  @Param({
    required: false,
    description: `Histogram the N largest matching processes (by RSS) on each node, 1-${MAX_PROCESSES}. Needed when no process selector (name, user, cgroup, ve, slurmJob, k8sPod) is given.`,
    type: Number,
    minimum: 1,
    maximum: MAX_PROCESSES,
    allowed: `an integer 1-${MAX_PROCESSES}`,
  })
  @IsOptional()
  @ToInt()
  @IsInt({ message: `limit must be an integer 1-${MAX_PROCESSES}` })
  @Min(1, { message: `limit must be an integer 1-${MAX_PROCESSES}` })
  @Max(MAX_PROCESSES, { message: `limit must be an integer 1-${MAX_PROCESSES}` })
  limit?: number;

  @Param({
    required: false,
    description: `The most processes histogrammed per node (default ${DEFAULT_MAX_PROCESSES}, at most ${MAX_PROCESSES}): a node with more matching processes histograms the largest by RSS and reports truncated=true. With limit, the smaller of the two.`,
    type: Number,
    minimum: 1,
    maximum: MAX_PROCESSES,
    allowed: `an integer 1-${MAX_PROCESSES}`,
  })
  @IsOptional()
  @ToInt()
  @IsInt({ message: `maxProcesses must be an integer 1-${MAX_PROCESSES}` })
  @Min(1, { message: `maxProcesses must be an integer 1-${MAX_PROCESSES}` })
  @Max(MAX_PROCESSES, { message: `maxProcesses must be an integer 1-${MAX_PROCESSES}` })
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
}

export class ProcessHistogramDto {
  @ApiProperty() pid!: number;
  @ApiProperty() comm!: string;
  @ApiProperty() cmdline!: string;
  @ApiProperty() user!: string;
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
