import { Controller, Get, Param as PathParams } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/api-errors.decorator';
import { NodeParams } from '../common/dto/params.dto';
import { NodeDto, NodeListDto } from './dto/node.dto';
import { NodesService } from './nodes.service';

@ApiTags('nodes')
@Controller('v1/nodes')
export class NodesController {
  constructor(private readonly nodes: NodesService) {}

  @Get()
  @ApiOperation({
    summary: "The cluster's nodes with their health and what their agents report",
    description:
      'Health comes from the periodic grpc.health.v1 checks; node info is read when the agent comes up and re-read once it is nodeInfoMaxAgeMs old (infoReadAt).',
  })
  @ApiOkResponse({ type: NodeListDto })
  list(): NodeListDto {
    return { nodes: this.nodes.list() };
  }

  @Get(':node')
  @ApiOperation({ summary: 'One node' })
  @ApiOkResponse({ type: NodeDto })
  @ApiErrors(400, 404)
  get(@PathParams() params: NodeParams): NodeDto {
    return this.nodes.get(params.node);
  }
}
