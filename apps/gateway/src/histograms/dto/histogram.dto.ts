import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { VMA_KINDS } from '@app/domain';
import { MapHeaderDto, RangeDto } from '../../maps/dto/memory-map.dto';

const NUM = '(a JSON number below 2^53, else a decimal string)';
const SIZE = { oneOf: [{ type: 'number' }, { type: 'string' }] };

export class HistogramBinDto {
  @ApiProperty({
    description:
      'pagesize: "4K", "2M", "1G"; numa: "N0", "N1"; physical: "AnonCont4K" … "AnonCont2M", "FileCont4K" … "FileCont2M"',
    example: 'AnonCont64K',
  })
  key!: string;
  @ApiProperty({
    description: `pagesize: the mapped page size; physical: the block size of the bin; numa: the VMA's page size. Bytes ${NUM}`,
    ...SIZE,
  })
  pageSize!: number | string;
  @ApiPropertyOptional({ description: 'numa: the node' }) numaNode?: number;
  @ApiProperty({
    enum: ['anon', 'file', ''],
    description: 'physical: anon or file (page cache, shmem, memfd); "" for the other kinds',
  })
  category!: string;
  @ApiProperty({
    description: `pagesize: pages of that size; physical: blocks of that size; numa: pages on that node ${NUM}`,
    ...SIZE,
  })
  count!: number | string;
  @ApiProperty({ description: `Bytes in the bin ${NUM}`, ...SIZE }) bytes!: number | string;
}

export class HistogramRunDto {
  @ApiProperty({ description: 'First address, "0x…"' }) start!: string;
  @ApiProperty({ description: 'End address (exclusive), "0x…"' }) end!: string;
  @ApiProperty({ description: `end - start in bytes ${NUM}`, ...SIZE }) size!: number | string;
  @ApiProperty({
    description: `Page size of the run (pagesize: the mapped size; holes carry the VMA's) ${NUM}`,
    ...SIZE,
  })
  pageSize!: number | string;
  @ApiPropertyOptional({ description: 'numa: the node of every page of the run (when present)' })
  numaNode?: number;
  @ApiProperty({ description: 'Whether the pages of the run are present (resident)' })
  present!: boolean;
}

export class VmaHistogramDto {
  @ApiProperty({ description: 'First address, "0x…"', example: '0x7f4af4f2a000' }) start!: string;
  @ApiProperty({ description: 'End address (exclusive), "0x…"' }) end!: string;
  @ApiProperty({ description: `end - start in bytes ${NUM}`, ...SIZE }) size!: number | string;
  @ApiProperty({ example: 'rw-p' }) perms!: string;
  @ApiProperty({ description: 'Name exactly as the kernel printed it ("" for anonymous memory)' })
  name!: string;
  @ApiProperty({ enum: [...VMA_KINDS] }) kind!: string;
  @ApiProperty({ description: 'mem_hist.py: a path name that is not a memfd' })
  fileBacked!: boolean;
  @ApiProperty({ description: `Present (resident) base pages ${NUM}`, ...SIZE }) presentPages!:
    number | string;
  @ApiPropertyOptional({
    description:
      'order kind: blocks counted per order, index = order (0..maxOrder): aligned blocks of 2^n present pages, buddy decomposition',
    type: 'array',
    items: SIZE,
    example: [0, 0, 1, 1, 0, 1, 0, 0, 1, 0],
  })
  orders?: (number | string)[];
  @ApiPropertyOptional({ type: [HistogramBinDto], description: 'physical, pagesize, numa' })
  bins?: HistogramBinDto[];
  @ApiPropertyOptional({
    type: [HistogramRunDto],
    description: 'pagesize/numa with runs=true: the illumos -s / -L rows, tiling the VMA',
  })
  runs?: HistogramRunDto[];
}

export class HistogramTotalsDto {
  @ApiProperty({ description: 'VMAs scanned (omitted ones included)' }) vmas!: number;
  @ApiProperty({ description: `Present base pages over every scanned VMA ${NUM}`, ...SIZE })
  presentPages!: number | string;
  @ApiPropertyOptional({
    description:
      'order kind: per-process histogram (sum over every scanned VMA, omitted ones included, as mem_hist.py prints it), index = order',
    type: 'array',
    items: SIZE,
  })
  orders?: (number | string)[];
  @ApiPropertyOptional({ type: [HistogramBinDto], description: 'Bins summed by key' })
  bins?: HistogramBinDto[];
}

export class HistogramDto {
  @ApiProperty() node!: string;
  @ApiProperty({ enum: ['order', 'physical', 'pagesize', 'numa'] }) kind!: string;
  @ApiPropertyOptional({ description: 'order kind: the highest order' }) maxOrder?: number;
  @ApiPropertyOptional({ enum: ['none', 'memhist'], description: 'order kind' }) compat?: string;
  @ApiPropertyOptional({ type: RangeDto, nullable: true }) range!: RangeDto | null;
  @ApiProperty({ type: MapHeaderDto }) header!: MapHeaderDto;
  @ApiProperty({
    type: [VmaHistogramDto],
    description:
      'Per VMA, in address order; the order kind sorted as mem_hist.py sorts (ascending by the reversed histogram: more high-order blocks last)',
  })
  vmas!: VmaHistogramDto[];
  @ApiProperty({ type: HistogramTotalsDto }) totals!: HistogramTotalsDto;
}
