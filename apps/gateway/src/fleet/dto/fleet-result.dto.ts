import { ApiProperty, ApiPropertyOptional, OmitType } from '@nestjs/swagger';
import { VMA_KINDS } from '@app/domain';

const BYTES = 'bytes (a JSON number below 2^53, else a decimal string)';
const SIZE = { oneOf: [{ type: 'number' }, { type: 'string' }] };
const SIZE_OR_NULL = { oneOf: [{ type: 'number' }, { type: 'string' }], nullable: true };

export class NodeFailureDto {
  @ApiProperty({ example: 'n7' }) node!: string;
  @ApiProperty({
    description:
      'gRPC status name: UNAVAILABLE (agent unreachable), DEADLINE_EXCEEDED (no answer within timeout), INVALID_ARGUMENT, UNIMPLEMENTED, PERMISSION_DENIED... or INTERNAL',
    example: 'DEADLINE_EXCEEDED',
  })
  code!: string;
  @ApiProperty({ example: 'the agent did not answer within 2000 ms' }) message!: string;
  @ApiPropertyOptional({
    description:
      "The agent's machine-readable reason (docs/agent.md), when the agent answered the error itself: AGENT_BUSY, READ_STUCK, PROCESS_EXITED, INVALID_FIELD, DEADLINE...; absent for an unreachable agent or a deadline that passed in transit",
    example: 'AGENT_BUSY',
  })
  reason?: string;
}

/** Fields every fleet answer has. */
export class FleetEnvelopeDto {
  @ApiProperty({ description: 'Nodes selected and asked' }) queried!: number;
  @ApiProperty({ description: 'Nodes that answered within the deadline' }) responded!: number;
  @ApiProperty({ type: [NodeFailureDto], description: 'Nodes that did not answer, and why' })
  failed!: NodeFailureDto[];
  @ApiProperty({ description: 'The per-node deadline used, ms' }) timeoutMs!: number;
}

export class VmaBriefDto {
  @ApiProperty({ example: '0x7f4af4f2a000' }) start!: string;
  @ApiProperty() end!: string;
  @ApiProperty({ description: BYTES, ...SIZE }) size!: number | string;
  @ApiProperty({ example: 'r-xp' }) perms!: string;
  @ApiProperty() offset!: string;
  @ApiProperty({ example: 'fe:00' }) device!: string;
  @ApiProperty({ description: 'decimal string' }) inode!: string;
  @ApiProperty({ example: '/usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)' }) name!: string;
  @ApiProperty({ enum: [...VMA_KINDS] }) kind!: string;
}

/** A process in a fleet answer: where it runs and who it is. */
export class NodeProcessDto {
  @ApiProperty() node!: string;
  @ApiProperty() pid!: number;
  @ApiProperty() comm!: string;
  @ApiProperty({ description: 'The command line, at most its first 4 KiB' }) cmdline!: string;
  @ApiPropertyOptional({
    description: 'Present (true) when the command line was longer than 4 KiB and was cut',
  })
  cmdlineTruncated?: boolean;
  @ApiProperty() user!: string;
  @ApiProperty() cgroup!: string;
}

export class MapMatchDto extends NodeProcessDto {
  @ApiProperty({ type: [VmaBriefDto], description: 'The matching VMAs' }) vmas!: VmaBriefDto[];
}

export class MapsNodeDto {
  @ApiProperty() node!: string;
  @ApiProperty({ description: 'Processes whose maps were read' }) scanned!: number;
  @ApiProperty({ description: 'Processes the agent may not read' }) unreadable!: number;
  @ApiProperty({ description: 'Processes that exited between the list and the read' })
  vanished!: number;
  @ApiProperty({ description: 'Matching processes' }) matched!: number;
  @ApiProperty() durationMs!: number;
}

export class MapsTotalsDto {
  @ApiProperty({ description: 'Matching processes' }) processes!: number;
  @ApiProperty({ description: 'Matching VMAs' }) vmas!: number;
  @ApiProperty() scanned!: number;
  @ApiProperty() unreadable!: number;
}

export class MapsSearchResultDto extends FleetEnvelopeDto {
  @ApiPropertyOptional({
    description: 'The range searched ("0x…" bounds), null without one',
    nullable: true,
    example: { low: '0x7f0000000000', high: '0x7fffffffffff' },
  })
  range!: { low?: string; high?: string } | null;
  @ApiPropertyOptional({ nullable: true, type: String }) mapping!: string | null;
  @ApiProperty({ type: [MapMatchDto], description: 'By node name, then pid' })
  matches!: MapMatchDto[];
  @ApiProperty({ type: [MapsNodeDto] }) nodes!: MapsNodeDto[];
  @ApiProperty({ type: MapsTotalsDto }) totals!: MapsTotalsDto;
}

export class AuditTotalsDto {
  @ApiProperty() processes!: number;
  @ApiProperty({ description: 'Processes whose rollup could not be read' }) unreadable!: number;
  @ApiProperty({ description: `Sum of Rss, ${BYTES}`, ...SIZE }) rss!: number | string;
  @ApiProperty({ description: `Sum of Pss, ${BYTES}`, ...SIZE }) pss!: number | string;
  @ApiProperty({ description: `Sum of Swap, ${BYTES}`, ...SIZE }) swap!: number | string;
  @ApiProperty({ description: `Sum of AnonHugePages, ${BYTES}`, ...SIZE }) anonHuge!:
    number | string;
  @ApiProperty({ description: `Sum of Locked, ${BYTES}`, ...SIZE }) locked!: number | string;
}

export class AuditNodeDto extends AuditTotalsDto {
  @ApiProperty() node!: string;
  @ApiProperty() durationMs!: number;
}

export class AuditProcessDto extends NodeProcessDto {
  @ApiProperty({ description: `The ranked figure (by), ${BYTES}`, ...SIZE }) value!:
    number | string;
  @ApiProperty({ description: BYTES, ...SIZE }) rss!: number | string;
  @ApiProperty({ description: `${BYTES}; null without a rollup`, ...SIZE_OR_NULL })
  pss!: number | string | null;
  @ApiProperty({ description: `${BYTES}; null without a rollup`, ...SIZE_OR_NULL })
  swap!: number | string | null;
  @ApiProperty({ description: `${BYTES}; null without a rollup`, ...SIZE_OR_NULL })
  anonHuge!: number | string | null;
  @ApiProperty({ description: `${BYTES}; null without a rollup`, ...SIZE_OR_NULL })
  locked!: number | string | null;
}

export class AuditResultDto extends FleetEnvelopeDto {
  @ApiProperty({ enum: ['rss', 'pss', 'swap', 'anonHuge', 'locked'] }) by!:
    'rss' | 'pss' | 'swap' | 'anonHuge' | 'locked';
  @ApiProperty() top!: number;
  @ApiProperty({ type: [AuditProcessDto], description: 'The fleet top N, descending' })
  processes!: AuditProcessDto[];
  @ApiProperty({ type: [AuditNodeDto], description: 'Totals over every selected process' })
  nodes!: AuditNodeDto[];
  @ApiProperty({ type: AuditTotalsDto }) totals!: AuditTotalsDto;
}

export class KindSumsDto {
  @ApiProperty() vmas!: number;
  @ApiProperty({ description: BYTES, ...SIZE }) size!: number | string;
  @ApiProperty({ description: BYTES, ...SIZE }) rss!: number | string;
  @ApiProperty({ description: BYTES, ...SIZE }) pss!: number | string;
  @ApiProperty({ description: BYTES, ...SIZE }) swap!: number | string;
  @ApiProperty({ description: BYTES, ...SIZE }) privateDirty!: number | string;
  @ApiProperty({
    description: `AnonHugePages + ShmemPmdMapped + FilePmdMapped, ${BYTES}`,
    ...SIZE,
  })
  thp!: number | string;
  @ApiProperty({ description: 'thp / rss, 0..1' }) thpShare!: number;
}

export class JobProcessDto extends OmitType(NodeProcessDto, ['node'] as const) {
  @ApiProperty({ description: BYTES, ...SIZE }) rss!: number | string;
  @ApiProperty({ description: BYTES, ...SIZE }) pss!: number | string;
  @ApiProperty({ description: BYTES, ...SIZE }) swap!: number | string;
  @ApiProperty({ description: BYTES, ...SIZE }) thp!: number | string;
  @ApiProperty() thpShare!: number;
}

const BY_KIND = {
  type: 'object',
  description: 'Per mapping kind (file, anon, heap, stack, ...), largest Rss first',
  additionalProperties: { $ref: '#/components/schemas/KindSumsDto' },
} as const;

export class JobNodeDto {
  @ApiProperty() node!: string;
  @ApiProperty() durationMs!: number;
  @ApiProperty({ type: [JobProcessDto] }) processes!: JobProcessDto[];
  @ApiProperty() unreadable!: number;
  @ApiProperty({ type: KindSumsDto }) totals!: KindSumsDto;
  @ApiProperty(BY_KIND) byKind!: Record<string, KindSumsDto>;
}

export class JobTotalsDto extends KindSumsDto {
  @ApiProperty() processes!: number;
  @ApiProperty({ description: 'Nodes running the job' }) nodes!: number;
}

export class JobMemoryResultDto extends FleetEnvelopeDto {
  @ApiProperty() job!: string;
  @ApiProperty({ type: [JobNodeDto], description: 'Nodes with at least one process of the job' })
  nodes!: JobNodeDto[];
  @ApiProperty({ type: JobTotalsDto }) totals!: JobTotalsDto;
  @ApiProperty(BY_KIND) byKind!: Record<string, KindSumsDto>;
}
