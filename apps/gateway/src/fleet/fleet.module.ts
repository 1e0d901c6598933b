import { Module } from '@nestjs/common';
import { HistogramsModule } from '../histograms/histograms.module';
import { FleetController, WatchController } from './fleet.controller';
import { FleetHistogramsService } from './fleet-histograms.service';
import { FleetService } from './fleet.service';
import { WatchService } from './watch.service';

/** Fleet queries (fan-out over the nodes) and the SSE watch of one process. */
@Module({
  imports: [HistogramsModule],
  controllers: [FleetController, WatchController],
  providers: [FleetService, FleetHistogramsService, WatchService],
  exports: [FleetService],
})
export class FleetModule {}
