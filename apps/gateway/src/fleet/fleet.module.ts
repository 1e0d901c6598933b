import { Module } from '@nestjs/common';
import { HistogramsModule } from '../histograms/histograms.module';
import { AuditService } from './audit.service';
import { FleetController, WatchController } from './fleet.controller';
import { FleetHistogramsService } from './fleet-histograms.service';
import { FleetService } from './fleet.service';
import { JobMemoryService } from './job-memory.service';
import { MapsSearchService } from './maps-search.service';
import { MapsStreamService } from './maps-stream.service';
import { WatchService } from './watch.service';

/**
 * Fleet queries (fan-out over the nodes: FleetService shares selection, deadlines and calls; one
 * service per route) and the SSE watch of one process.
 */
@Module({
  imports: [HistogramsModule],
  controllers: [FleetController, WatchController],
  providers: [
    FleetService,
    MapsSearchService,
    MapsStreamService,
    AuditService,
    JobMemoryService,
    FleetHistogramsService,
    WatchService,
  ],
  exports: [FleetService],
})
export class FleetModule {}
