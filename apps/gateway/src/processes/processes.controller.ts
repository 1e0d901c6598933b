import { Controller, Get, Param as PathParams, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiErrors } from '../common/api-errors.decorator';
import { NodeParams } from '../common/dto/params.dto';
import { Accept, ClientGone, jsonOrText } from '../common/request-context';
import { ProcessListDto } from './dto/process.dto';
import { ProcessesQuery } from './dto/processes-query.dto';
import { ProcessesService } from './processes.service';

@ApiTags('processes')
@Controller('v1/nodes')
export class ProcessesController {
  constructor(private readonly processes: ProcessesService) {}

  @Get(':node/processes')
  @ApiOperation({
    summary: 'List the processes of a node with their memory rollup',
    description:
      'JSON by default. Text (format=text or Accept: text/plain): a ps-like table "PID USER RSS PSS SWAP COMMAND", sizes in KiB, "-" when unknown.',
  })
  @ApiProduces('application/json', 'text/plain')
  @ApiOkResponse({ type: ProcessListDto })
  @ApiErrors(400, 404, 503, 504)
  async list(
    @PathParams() params: NodeParams,
    @Query() query: ProcessesQuery,
    @Accept() accept: string | undefined,
    @ClientGone() signal: AbortSignal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ProcessListDto | string> {
    const list = await this.processes.list(params.node, query, signal);
    return jsonOrText(
      query.format,
      accept,
      reply,
      () => this.processes.toText(list),
      () => this.processes.toJson(list),
    );
  }
}
