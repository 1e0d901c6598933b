/**
 * For the fleet services' unit specs: `service` built by Nest's testing module with the
 * collaborators every fleet route has (FleetService, ClusterService over one unreachable agent,
 * metrics, a silent logger).
 */
import { Test } from '@nestjs/testing';
import type { Type } from '@nestjs/common';
import { ClusterService } from '../cluster/cluster.service';
import { createLogger, LOGGER } from '../common/logger';
import { GATEWAY_CONFIG, resolveConfig } from '../config/gateway-config';
import { MetricsService } from '../metrics/metrics.service';
import { FleetService } from './fleet.service';

export async function fleetRouteService<T>(service: Type<T>): Promise<T> {
  const { config } = resolveConfig(['--agent', '127.0.0.1:1'], {});
  const mod = await Test.createTestingModule({
    providers: [
      service,
      FleetService,
      ClusterService,
      MetricsService,
      { provide: GATEWAY_CONFIG, useValue: config },
      { provide: LOGGER, useValue: createLogger('silent') },
    ],
  }).compile();
  return mod.get(service);
}
