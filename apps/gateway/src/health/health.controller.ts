import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ClusterService } from '../cluster/cluster.service';

class LivenessDto {
  @ApiProperty({ example: 'ok' }) status!: string;
}

class ReadinessDto {
  @ApiProperty({ enum: ['ready', 'not ready'] }) status!: string;
  @ApiProperty({ description: 'Nodes whose agent answered its last health check' })
  nodesUp!: number;
  @ApiProperty() nodesTotal!: number;
}

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(private readonly cluster: ClusterService) {}

  @Get('healthz')
  @HttpCode(200)
  @ApiOperation({ summary: 'Liveness: the gateway process answers' })
  @ApiResponse({ status: 200, type: LivenessDto })
  healthz(): LivenessDto {
    return { status: 'ok' };
  }

  @Get('readyz')
  @ApiOperation({ summary: 'Readiness: 200 when at least one agent is reachable, else 503' })
  @ApiResponse({ status: 200, type: ReadinessDto })
  @ApiResponse({ status: 503, type: ReadinessDto })
  readyz(@Res({ passthrough: true }) reply: FastifyReply): ReadinessDto {
    const nodes = this.cluster.list();
    const up = nodes.filter((n) => n.status === 'up').length;
    void reply.status(up > 0 ? 200 : 503);
    return { status: up > 0 ? 'ready' : 'not ready', nodesUp: up, nodesTotal: nodes.length };
  }
}
