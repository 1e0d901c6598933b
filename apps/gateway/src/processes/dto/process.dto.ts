import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

const BYTES = 'bytes (a JSON number below 2^53, else a decimal string)';

export class RollupDto {
  @ApiProperty({
    description: `Resident set, ${BYTES}`,
    oneOf: [{ type: 'number' }, { type: 'string' }],
  })
  rss!: number | string;
  @ApiProperty({ description: `Proportional set, ${BYTES}` }) pss!: number | string;
  @ApiProperty({ description: BYTES }) pssAnon!: number | string;
  @ApiProperty({ description: BYTES }) pssFile!: number | string;
  @ApiProperty({ description: BYTES }) pssShmem!: number | string;
  @ApiProperty({ description: BYTES }) sharedClean!: number | string;
  @ApiProperty({ description: BYTES }) sharedDirty!: number | string;
  @ApiProperty({ description: BYTES }) privateClean!: number | string;
  @ApiProperty({ description: BYTES }) privateDirty!: number | string;
  @ApiProperty({ description: BYTES }) referenced!: number | string;
  @ApiProperty({ description: BYTES }) anonymous!: number | string;
  @ApiProperty({ description: BYTES }) anonHugePages!: number | string;
  @ApiProperty({ description: BYTES }) shmemPmdMapped!: number | string;
  @ApiProperty({ description: BYTES }) filePmdMapped!: number | string;
  @ApiProperty({ description: BYTES }) swap!: number | string;
  @ApiProperty({ description: BYTES }) swapPss!: number | string;
  @ApiProperty({ description: BYTES }) locked!: number | string;
}

export class ProcessDto {
  @ApiProperty() pid!: number;
  @ApiProperty() ppid!: number;
  @ApiProperty({ description: 'Command name (/proc/PID/comm)' }) comm!: string;
  @ApiProperty({ description: 'Arguments joined by spaces, at most the first 4 KiB' })
  cmdline!: string;
  @ApiPropertyOptional({
    description: 'Present (true) when the command line was longer than 4 KiB and was cut',
  })
  cmdlineTruncated?: boolean;
  @ApiProperty() uid!: number;
  @ApiProperty() user!: string;
  @ApiProperty({ description: 'One-letter state from /proc/PID/stat' }) state!: string;
  @ApiProperty() threads!: number;
  @ApiProperty({ description: 'Start time, ISO 8601' }) startTime!: string;
  @ApiProperty({ description: `Virtual size, ${BYTES}` }) vsize!: number | string;
  @ApiProperty({ description: `Resident set from /proc/PID/stat, ${BYTES}` }) rss!: number | string;
  @ApiPropertyOptional({ description: `PSS from smaps_rollup, ${BYTES}` }) pss?: number | string;
  @ApiPropertyOptional({ description: `Swap from smaps_rollup, ${BYTES}` }) swap?: number | string;
  @ApiPropertyOptional({
    type: RollupDto,
    description: 'smaps_rollup in bytes; absent when unreadable',
  })
  rollup?: RollupDto;
  @ApiPropertyOptional({ description: 'Why the rollup is missing' }) rollupError?: string;
  @ApiProperty({ description: 'cgroup v2 path' }) cgroup!: string;
  @ApiProperty() kernelThread!: boolean;
  @ApiPropertyOptional({ description: 'VE node of a VE process' }) veNode?: number;
  @ApiPropertyOptional({ description: 'VE pseudo process: the VE node running its VE side' })
  vePseudoOf?: number;
}

export class ProcessListDto {
  @ApiProperty() node!: string;
  @ApiProperty({ description: 'Processes matching the filters before the limit' })
  totalMatched!: number;
  @ApiProperty({ description: 'Processes whose details could not be read (counted, not listed)' })
  unreadable!: number;
  @ApiProperty({ type: [ProcessDto] }) processes!: ProcessDto[];
}
