import { Module } from '@nestjs/common';
import { HistogramsController } from './histograms.controller';
import { HistogramsService } from './histograms.service';

@Module({ controllers: [HistogramsController], providers: [HistogramsService] })
export class HistogramsModule {}
