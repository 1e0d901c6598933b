import { Controller, Get, Param as PathParams, Query, Res } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiErrors } from '../common/api-errors.decorator';
import { PidParams } from '../common/dto/params.dto';
import type { Readable } from 'node:stream';
import { Accept, ClientGone, wantsText } from '../common/request-context';
import { MapsQuery } from './dto/maps-query.dto';
import { MapPairDto, MemoryMapDto } from './dto/memory-map.dto';
import { MapsService } from './maps.service';
import { bothIsJsonOnly } from './ve-maps';

@ApiTags('maps')
@Controller('v1/nodes')
export class MapsController {
  constructor(private readonly maps: MapsService) {}

  @Get(':node/processes/:pid/maps')
  @ApiOperation({
    summary: 'The memory map of one process',
    description:
      'JSON by default: header, VMAs (addresses "0x…", sizes in bytes) and totals over the returned VMAs. Text (format=text or Accept: text/plain): byte-identical to pmap on that node for the same view and flags (view=x is pmap -x, quiet is -q, showPath -p, kernelNames -k, range -A). ve=N: the VE process of that pid on VE node N (views default and XX, text as the VE pmap /opt/nec/ve/bin/pmap prints it); the host map of a ve_exec pseudo process marks VE memory (kind ve_memory, veNode) and both link to each other (links); side=both returns the two maps together. The answer streams (docs/wire.md): a slow client pauses the agent; past limits.maxResponseBytes it is a 413 before the first byte when the agent already knows the size, otherwise the stream is cut and ends with one JSON error line {statusCode, error, message} (also past the deadline or on an agent failure).',
  })
  @ApiProduces('application/json', 'text/plain')
  @ApiOkResponse({
    description:
      'MemoryMapDto; with side=both a MapPairDto {node, veNode, host, ve} (VE program: host pseudo process and VE process side by side)',
    schema: {
      oneOf: [{ $ref: getSchemaPath(MemoryMapDto) }, { $ref: getSchemaPath(MapPairDto) }],
    },
  })
  @ApiExtraModels(MemoryMapDto, MapPairDto)
  @ApiErrors(400, 403, 404, 503, 504)
  async map(
    @PathParams() params: PidParams,
    @Query() query: MapsQuery,
    @Accept() accept: string | undefined,
    @ClientGone() signal: AbortSignal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Readable | string> {
    const text = wantsText(query.format, accept);
    if (query.side === 'both') {
      if (text) throw bothIsJsonOnly();
      const pair = await this.maps.both(params.node, params.pid, query, signal);
      void reply.type('application/json; charset=utf-8');
      return pair;
    }
    const body = await this.maps.stream(params.node, params.pid, query, text, signal);
    void reply.type(text ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8');
    return body;
  }
}
