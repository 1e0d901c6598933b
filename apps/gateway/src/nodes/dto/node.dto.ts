import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class CapabilitiesDto {
  @ApiProperty({ description: 'PFNs in pagemap are readable (physical histograms work)' })
  pfnsReadable!: boolean;
  @ApiProperty({ description: 'The kernel has PAGEMAP_SCAN' }) pagemapScan!: boolean;
  @ApiProperty({ type: [Number] }) numaNodes!: number[];
  @ApiProperty({ description: "The agent may read other users' processes" })
  readOtherUsers!: boolean;
  @ApiProperty() kpageflagsReadable!: boolean;
  @ApiProperty({ description: 'libveosinfo was found and loaded' }) veLibrary!: boolean;
  @ApiProperty({
    type: [String],
    description: 'Implemented features ("maps", "smaps", "histogram:order"...)',
  })
  features!: string[];
  @ApiProperty({ type: [String], description: 'What the agent cannot do and why' })
  notes!: string[];
}

export class VeNodeDto {
  @ApiProperty() node!: number;
  @ApiProperty({ enum: ['online', 'offline', 'initializing', 'maintenance', 'unknown'] })
  state!: string;
  @ApiProperty() osState!: number;
  @ApiProperty() processCount!: number;
}

export class NodeDto {
  @ApiProperty({ example: 'node-a' }) name!: string;
  @ApiProperty({ description: 'Agent address host:port', example: '10.0.0.5:50051' })
  address!: string;
  @ApiProperty({ enum: ['config', 'dns'], description: 'Where the node came from' })
  source!: string;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) labels!: Record<
    string,
    string
  >;
  @ApiProperty({
    enum: ['up', 'down', 'unknown'],
    description: 'Result of the last grpc.health.v1 check',
  })
  status!: string;
  @ApiProperty({ nullable: true, description: 'Last successful health check, ISO 8601' })
  lastSeen!: string | null;
  @ApiProperty({
    nullable: true,
    description: 'Round trip of the last successful health check, ms',
  })
  latencyMs!: number | null;
  @ApiPropertyOptional({ description: 'Why the node is down' }) error?: string;
  @ApiProperty({
    nullable: true,
    description:
      'When the node information below (VE nodes included) was read from the agent, ISO 8601: when it came up, then every nodeInfoMaxAgeMs (default 60 s)',
  })
  infoReadAt!: string | null;
  @ApiProperty({ nullable: true }) hostname!: string | null;
  @ApiProperty({ nullable: true, example: 'x86_64' }) arch!: string | null;
  @ApiProperty({ nullable: true, description: 'Kernel release', example: '6.18.0' }) kernel!:
    string | null;
  @ApiProperty({ nullable: true, description: 'Page size in bytes' }) pageSize!: number | null;
  @ApiProperty({ nullable: true }) agentVersion!: string | null;
  @ApiProperty({ nullable: true }) cpuCount!: number | null;
  @ApiProperty({
    nullable: true,
    description: 'Memory in bytes (number below 2^53, else decimal string)',
    oneOf: [{ type: 'number' }, { type: 'string' }],
  })
  memTotal!: number | string | null;
  @ApiProperty({ nullable: true, description: 'Boot time, ISO 8601' }) bootTime!: string | null;
  @ApiProperty({ type: [Number], description: 'Huge page sizes in bytes' }) hugePageSizes!: (
    number | string
  )[];
  @ApiProperty({ type: CapabilitiesDto, nullable: true }) capabilities!: CapabilitiesDto | null;
  @ApiProperty({ type: [VeNodeDto] }) veNodes!: VeNodeDto[];
}

export class NodeListDto {
  @ApiProperty({ type: [NodeDto] }) nodes!: NodeDto[];
}
