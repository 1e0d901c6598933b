import { type DynamicModule, Global, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import type { Logger } from 'pino';
import { ClusterModule } from './cluster/cluster.module';
import { AllExceptionsFilter } from './common/exception.filter';
import { LOGGER } from './common/logger';
import { createValidationPipe } from './common/validation';
import { GATEWAY_CONFIG, type GatewayConfig } from './config/gateway-config';
import { FleetModule } from './fleet/fleet.module';
import { HealthModule } from './health/health.module';
import { HistogramsModule } from './histograms/histograms.module';
import { MapsModule } from './maps/maps.module';
import { MetricsModule } from './metrics/metrics.module';
import { NodesModule } from './nodes/nodes.module';
import { ProcessesModule } from './processes/processes.module';
import { SecurityService } from './security/security.service';

@Global()
@Module({})
export class AppModule {
  static forRoot(config: GatewayConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        MetricsModule,
        ClusterModule,
        NodesModule,
        ProcessesModule,
        MapsModule,
        FleetModule,
        HistogramsModule,
        HealthModule,
      ],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        AllExceptionsFilter,
        { provide: APP_FILTER, useExisting: AllExceptionsFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
        SecurityService,
      ],
      exports: [GATEWAY_CONFIG, LOGGER, SecurityService, AllExceptionsFilter],
    };
  }
}
