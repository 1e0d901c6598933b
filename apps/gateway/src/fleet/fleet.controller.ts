import {
  applyDecorators,
  Controller,
  Get,
  Param as PathParams,
  Query,
  Res,
  type Type,
} from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiErrors } from '../common/api-errors.decorator';
import { PidParams } from '../common/dto/params.dto';
import { Accept, ClientGone } from '../common/request-context';
import {
  AuditQuery,
  MapsSearchQuery,
  NodeSelectorQuery,
  SlurmJobParams,
  WatchQuery,
} from './dto/fleet-query.dto';
import { FleetHistogramQuery, FleetHistogramResultDto } from './dto/fleet-histograms.dto';
import { AuditResultDto, JobMemoryResultDto, MapsSearchResultDto } from './dto/fleet-result.dto';
import { AuditService } from './audit.service';
import { FleetHistogramsService } from './fleet-histograms.service';
import { JobMemoryService } from './job-memory.service';
import { MapsSearchService } from './maps-search.service';
import { MapsStreamService } from './maps-stream.service';
import { WatchService } from './watch.service';

const NDJSON = 'application/x-ndjson';

/** A fleet GET route: its OpenAPI operation, answer type and the 400/404 every one can give. */
function FleetRoute(
  path: string,
  type: Type<unknown>,
  op: { summary: string; description: string },
): MethodDecorator {
  return applyDecorators(Get(path), ApiOperation(op), ApiOkResponse({ type }), ApiErrors(400, 404));
}

function wantsNdjson(accept: string | undefined): boolean {
  return accept !== undefined && accept.toLowerCase().includes(NDJSON);
}

@ApiTags('fleet')
@Controller('v1')
export class FleetController {
  constructor(
    private readonly search: MapsSearchService,
    private readonly searchStream: MapsStreamService,
    private readonly auditor: AuditService,
    private readonly jobs: JobMemoryService,
    private readonly fleetHistograms: FleetHistogramsService,
  ) {}

  @FleetRoute('maps', MapsSearchResultDto, {
    summary: 'Which processes on which nodes map an address range or a mapping name',
    description:
      'Fans out to the selected nodes (bounded concurrency, per-node deadline `timeout`, one retry on UNAVAILABLE) and always answers with what arrived: {queried, responded, failed: [{node, code, message}]}. With Accept: application/x-ndjson the answer streams: one {"type":"node"} line per node as it answers (or {"type":"failed"}), a {"type":"progress","done","total"} line after each, then one {"type":"summary"} line. The stream is written with backpressure (a client that does not read pauses the fan-out; one that does not read for `timeout` ms is cut) and within the gateway\'s maxResponseBytes (a stream that would pass it ends with {"type":"error","code":"RESPONSE_TOO_LARGE"}).',
  })
  @ApiProduces('application/json', NDJSON)
  async maps(
    @Query() q: MapsSearchQuery,
    @Accept() accept: string | undefined,
    @ClientGone() signal: AbortSignal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<MapsSearchResultDto | undefined> {
    if (!wantsNdjson(accept)) return this.search.search(q, signal);
    await this.searchStream.stream(q, signal, reply);
    return undefined;
  }

  @FleetRoute('audit', AuditResultDto, {
    summary: "The fleet's memory audit: top-N processes by an smaps_rollup figure, per-node totals",
    description:
      "Each selected node's agent sums its matching processes (smaps_rollup) and answers only its own top N by `by`; the gateway merges them into the fleet-wide top N and adds the node totals. Partial results: {queried, responded, failed}.",
  })
  audit(@Query() q: AuditQuery, @ClientGone() signal: AbortSignal): Promise<AuditResultDto> {
    return this.auditor.audit(q, signal);
  }

  @FleetRoute('histograms', FleetHistogramResultDto, {
    summary: 'A histogram kind summed over the fleet, per node and per process',
    description:
      "Each selected node lists the processes matching the process selectors (name, user, cgroup, ve, slurmJob, k8sPod — at least one, or limit), the largest by RSS first, at most maxProcesses (default 16, max 256) per node, and runs GetHistogram on each (4 in flight per node). Totals are summed per node and for the fleet: orders index by index, bins by key. A process that exits meanwhile or cannot be read is listed in its node's failures (not in the totals); a node that does not answer is in failed. JSON only.",
  })
  histograms(
    @Query() q: FleetHistogramQuery,
    @ClientGone() signal: AbortSignal,
  ): Promise<FleetHistogramResultDto> {
    return this.fleetHistograms.aggregate(q, signal);
  }

  @FleetRoute('jobs/slurm/:id/memory', JobMemoryResultDto, {
    summary: "A Slurm job's memory across its nodes",
    description:
      'Processes whose cgroup v2 path has a component job_ID, on every selected node; their smaps summed per mapping kind, with the share mapped by transparent huge pages (AnonHugePages + ShmemPmdMapped + FilePmdMapped over Rss), per process, per node and for the job.',
  })
  job(
    @PathParams() params: SlurmJobParams,
    @Query() q: NodeSelectorQuery,
    @ClientGone() signal: AbortSignal,
  ): Promise<JobMemoryResultDto> {
    return this.jobs.slurmJob(params.id, q, signal);
  }
}

@ApiTags('maps')
@Controller('v1/nodes')
export class WatchController {
  constructor(private readonly watch: WatchService) {}

  @Get(':node/processes/:pid/maps/watch')
  @ApiOperation({
    summary: 'Watch a memory map (Server-Sent Events)',
    description:
      'text/event-stream. Events: snapshot (the whole map and rollup), change (VMAs added/removed/changed, rollup and rollupDelta), heartbeat (nothing changed since the last sample), exited (the process is gone; the stream ends), error. `id:` is the event sequence number; a comment line is sent on idle connections every 15 s. Ends when the process exits, after maxEvents, or when the client leaves. ve=N watches the VE process of that pid on VE node N (its VE map; the rollup is the sum of it). Errors before the first event are ordinary JSON errors.',
  })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: 'An SSE stream of watch events' })
  @ApiErrors(400, 403, 404, 501, 503)
  async stream(
    @PathParams() params: PidParams,
    @Query() q: WatchQuery,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await this.watch.stream(params.node, params.pid, q, reply);
  }
}
