import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { PinoNestLogger } from './common/logger';
import { splitHostPort, type GatewayConfig } from './config/gateway-config';
import { MetricsService } from './metrics/metrics.service';
import { buildOpenApi, mountOpenApi } from './openapi';

/** Creates the Nest application (not listening yet): routes, metrics hook, OpenAPI. */
export async function createGateway(
  config: GatewayConfig,
  logger: Logger,
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({ logger: false, return503OnClosing: true });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, logger),
    adapter,
    { logger: new PinoNestLogger(logger), abortOnError: false },
  );
  const metrics = app.get(MetricsService);
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onResponse', (req, reply, done) => {
    // Route templates only (":pid", never the pid): bounded label values.
    const route = req.routeOptions?.url ?? 'unmatched';
    metrics.observeRequest(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  mountOpenApi(app, buildOpenApi(app));
  app.enableShutdownHooks();
  return app;
}

/** Listens on config.listen; resolves the bound host:port. */
export async function listen(app: NestFastifyApplication, config: GatewayConfig): Promise<string> {
  const { host, port } = splitHostPort(config.listen);
  await app.listen(port, host);
  const address = app.getHttpServer().address();
  if (address && typeof address === 'object') {
    return address.family === 'IPv6'
      ? `[${address.address}]:${address.port}`
      : `${address.address}:${address.port}`;
  }
  return config.listen;
}
