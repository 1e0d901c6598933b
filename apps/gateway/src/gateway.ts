import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { registerCompression } from './common/compression';
import { PinoNestLogger } from './common/logger';
import { splitHostPort, type GatewayConfig } from './config/gateway-config';
import { ClusterService } from './cluster/cluster.service';
import { parseSelector, selectNodes } from './fleet/selectors';
import { MetricsService } from './metrics/metrics.service';
import { trackRoutes } from './security/routes';
import { SecurityService } from './security/security.service';
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
  // platform-fastify bundles its own copy of fastify's types: same instance, other declarations.
  const instance = fastify as unknown as FastifyInstance;
  // gzip/brotli by Accept-Encoding, Vary (common/compression.ts): before any route is registered
  await registerCompression(instance);
  trackRoutes(instance);
  // Authentication, scopes, limits, request ids, access log (security/security.service.ts).
  const cluster = app.get(ClusterService);
  app.get(SecurityService).install(instance, (q) => {
    try {
      const sel = parseSelector(q);
      const nodes = cluster
        .list()
        .map((n) => ({ name: n.name, labels: n.labels, arch: n.info?.arch }));
      return selectNodes(nodes, sel).length;
    } catch {
      return undefined; // a bad selector: the controller answers 400
    }
  });
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
