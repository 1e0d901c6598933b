import { Controller, Get, Param as PathParams, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiErrors } from '../common/api-errors.decorator';
import { PidParams } from '../common/dto/params.dto';
import { Accept, ClientGone, jsonOrText } from '../common/request-context';
import { HistogramQuery } from './dto/histogram-query.dto';
import { HistogramDto } from './dto/histogram.dto';
import { HistogramsService } from './histograms.service';

@ApiTags('histograms')
@Controller('v1/nodes')
export class HistogramsController {
  constructor(private readonly histograms: HistogramsService) {}

  @Get(':node/processes/:pid/histogram')
  @ApiOperation({
    summary: 'Per-VMA page histograms of one process: contiguity, physical runs, page sizes, NUMA',
    description:
      'JSON by default: per VMA its start/end ("0x…"), perms, name and the counts (order: `orders` indexed by order; other kinds: `bins`; with runs=true: `runs`), plus per-process `totals`. Text (format=text or Accept: text/plain): order = mem_hist.py lines; physical = blocks per bin per VMA; pagesize/numa = KiB per page size / node, or with runs=true illumos pmap -s / -L rows. physical needs CAP_SYS_ADMIN on the agent (412 otherwise, never zeros).',
  })
  @ApiProduces('application/json', 'text/plain')
  @ApiOkResponse({ type: HistogramDto })
  @ApiErrors(400, 403, 404, 412, 501, 503, 504)
  async histogram(
    @PathParams() params: PidParams,
    @Query() query: HistogramQuery,
    @Accept() accept: string | undefined,
    @ClientGone() signal: AbortSignal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<HistogramDto | string> {
    const h = await this.histograms.fetch(params.node, params.pid, query, signal);
    return jsonOrText(
      query.format,
      accept,
      reply,
      () => this.histograms.toText(h),
      () => this.histograms.toJson(h),
    );
  }
}
