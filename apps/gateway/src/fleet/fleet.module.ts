import { Module } from '@nestjs/common';
import { FleetController, WatchController } from './fleet.controller';
import { FleetService } from './fleet.service';
import { WatchService } from './watch.service';

/** Fleet queries (fan-out over the nodes) and the SSE watch of one process. */
@Module({
  controllers: [FleetController, WatchController],
  providers: [FleetService, WatchService],
  exports: [FleetService],
})
export class FleetModule {}
