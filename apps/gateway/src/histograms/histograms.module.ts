import { Module } from '@nestjs/common';
import { HistogramsController } from './histograms.controller';
import { HistogramsService } from './histograms.service';

@Module({
  controllers: [HistogramsController],
  providers: [HistogramsService],
  exports: [HistogramsService],
})
export class HistogramsModule {}
