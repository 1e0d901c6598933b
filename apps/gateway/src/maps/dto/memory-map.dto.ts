import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { VMA_KINDS } from '@app/domain';

const BYTES = 'bytes (a JSON number below 2^53, else a decimal string)';
const SIZE = { oneOf: [{ type: 'number' }, { type: 'string' }] };

export class MapHeaderDto {
  @ApiProperty() pid!: number;
  @ApiProperty({ description: 'Arguments joined by spaces; "[comm]" for a kernel thread' })
  cmdline!: string;
  @ApiProperty() comm!: string;
  @ApiProperty({ description: 'Start of the main thread\'s stack (stat field 28), "0x…"' })
  startStack!: string;
  @ApiProperty() kernelThread!: boolean;
  @ApiProperty() uid!: number;
  @ApiPropertyOptional({ description: `Page size, ${BYTES}`, ...SIZE }) pageSize?: number | string;
  @ApiPropertyOptional({ description: 'When the agent read the map, ISO 8601' }) readAt?: string;
  @ApiPropertyOptional() veNode?: number;
  @ApiPropertyOptional() vePseudoOf?: number;
}

export class VmaDto {
  @ApiProperty({ description: 'First address, "0x…"', example: '0x55d0c0a00000' }) start!: string;
  @ApiProperty({ description: 'End address (exclusive), "0x…"' }) end!: string;
  @ApiProperty({ description: `end - start, ${BYTES}`, ...SIZE }) size!: number | string;
  @ApiProperty({ description: 'Permissions as in maps', example: 'r-xp' }) perms!: string;
  @ApiProperty({ description: 'File offset, "0x…"' }) offset!: string;
  @ApiProperty({ description: 'Device as in maps: major:minor in hex', example: 'fd:01' })
  device!: string;
  @ApiProperty({ description: 'Inode, decimal string (64-bit)', example: '1835099' })
  inode!: string;
  @ApiProperty({ description: 'Name exactly as the kernel printed it ("" for anonymous memory)' })
  name!: string;
  @ApiProperty({ enum: [...VMA_KINDS] }) kind!: string;
  @ApiPropertyOptional({ description: 'SysV shm segment id (decimal string)' }) shmId?: string;
  @ApiPropertyOptional({ description: 'Thread whose stack this is' }) threadId?: number;
  @ApiPropertyOptional({
    description:
      "smaps views: every numeric smaps field in the kernel's order; fields the kernel prints in kB are converted to bytes, the others (THPeligible, ProtectionKey) are as printed",
    type: 'object',
    additionalProperties: SIZE,
    example: { Size: 8192, Rss: 4096, Pss: 4096, THPeligible: 0 },
  })
  fields?: Record<string, number | string>;
  @ApiPropertyOptional({
    description: 'smaps views: the VmFlags codes',
    type: [String],
    example: ['rd', 'ex', 'mr'],
  })
  vmFlags?: string[];
  @ApiPropertyOptional({ description: 'VE: fields VEOS never fills', type: [String] })
  notProvided?: string[];
  @ApiPropertyOptional() veNode?: number;
}

export class MapTotalsDto {
  @ApiProperty({ description: 'VMAs returned' }) vmas!: number;
  @ApiProperty({ description: `Sum of sizes, ${BYTES}`, ...SIZE }) size!: number | string;
  @ApiProperty({
    description: `Private writeable mappings (pmap -d "writeable/private"), ${BYTES}`,
    ...SIZE,
  })
  writeablePrivate!: number | string;
  @ApiProperty({ description: `Shared mappings (pmap -d "shared"), ${BYTES}`, ...SIZE }) shared!:
    number | string;
  @ApiPropertyOptional({ description: `smaps views: Rss, ${BYTES}`, ...SIZE }) rss?:
    number | string;
  @ApiPropertyOptional({ description: `smaps views: Pss, ${BYTES}`, ...SIZE }) pss?:
    number | string;
  @ApiPropertyOptional({
    description: `smaps views: Shared_Dirty + Private_Dirty, ${BYTES}`,
    ...SIZE,
  })
  dirty?: number | string;
  @ApiPropertyOptional({ description: `smaps views: Swap, ${BYTES}`, ...SIZE }) swap?:
    number | string;
  @ApiPropertyOptional({
    description: 'smaps views: every kB field summed, in bytes, by kernel name',
    type: 'object',
    additionalProperties: SIZE,
  })
  fields?: Record<string, number | string>;
}

export class RangeDto {
  @ApiPropertyOptional({ description: '"0x…"; absent = open' }) low?: string;
  @ApiPropertyOptional({ description: '"0x…"; absent = open' }) high?: string;
  @ApiProperty() clip!: boolean;
}

export class MapLinksDto {
  @ApiPropertyOptional({
    description: "On a VE pseudo process (ve_exec): its VE process's map (same pid, ve=N)",
    example: '/v1/nodes/node-a/processes/4242/maps?ve=0',
  })
  veProcess?: string;
  @ApiPropertyOptional({
    description: "On a VE process: its host pseudo process's map",
    example: '/v1/nodes/node-a/processes/4242/maps',
  })
  hostProcess?: string;
  @ApiPropertyOptional({
    description: 'Both maps side by side (side=both)',
    example: '/v1/nodes/node-a/processes/4242/maps?side=both',
  })
  both?: string;
}

export class MemoryMapDto {
  @ApiProperty() node!: string;
  @ApiProperty({ enum: ['default', 'x', 'X', 'XX', 'd', 'illumos'] }) view!: string;
  @ApiProperty({ enum: ['maps', 'smaps'], description: 'What the agent read' }) detail!: string;
  @ApiPropertyOptional({ type: RangeDto, nullable: true }) range!: RangeDto | null;
  @ApiProperty({ type: MapHeaderDto }) header!: MapHeaderDto;
  @ApiProperty({ type: [VmaDto] }) vmas!: VmaDto[];
  @ApiProperty({ type: MapTotalsDto }) totals!: MapTotalsDto;
  @ApiPropertyOptional({
    type: MapLinksDto,
    description:
      'VE programs only: links between the VE process and its host pseudo process (same pid)',
  })
  links?: MapLinksDto;
}

export class MapPairDto {
  @ApiProperty() node!: string;
  @ApiProperty({ description: 'The VE node of the VE side' }) veNode!: number;
  @ApiProperty({
    type: MemoryMapDto,
    description: 'The host map of the ve_exec pseudo process (VEMMR VMAs have kind ve_memory)',
  })
  host!: MemoryMapDto;
  @ApiProperty({ type: MemoryMapDto, description: 'The VE process map (same pid)' })
  ve!: MemoryMapDto;
}
