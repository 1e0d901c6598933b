import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { writeFileSync } from 'node:fs';
import { versionLine } from '@app/domain';
import { ConfigError, resolveConfig, USAGE, VERSION_FLAG } from './config/gateway-config';
import { hashTokenCommand } from './security/hash-token';
import { policyFor } from './security/policy';
import { registeredRoutes } from './security/routes';
import { SecurityService } from './security/security.service';
import { quietIpServernameWarning } from './security/warnings';
import { createLogger } from './common/logger';
import { createGateway, listen } from './gateway';
import { buildOpenApi } from './openapi';

void NestFactory; // keep the Nest runtime import first for decorator metadata

/**
 * pmapd gateway: REST over the cluster's agents.
 *   node dist/apps/gateway/src/main.js --listen 127.0.0.1:8080 --config cluster.yaml
 * Prints one JSON line {"listening":"HOST:PORT"} on stdout once it serves; logs go to stderr.
 */
async function main(): Promise<number> {
  if (process.argv[2] === 'hash-token') return hashTokenCommand(process.argv.slice(3));
  if (process.argv.slice(2).includes(VERSION_FLAG)) {
    process.stdout.write(versionLine('pmapd-gateway') + '\n');
    return 0;
  }
  let resolved: ReturnType<typeof resolveConfig>;
  try {
    resolved = resolveConfig(process.argv.slice(2));
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(
        JSON.stringify({ level: 'fatal', msg: e.message, problems: e.problems }) + '\n',
      );
      process.stderr.write(USAGE + '\n');
      return 2;
    }
    throw e;
  }
  if (resolved.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const { config } = resolved;
  const logger = createLogger(config.logLevel);
  quietIpServernameWarning(logger);
  if (resolved.exportOpenApi) {
    // No agents contacted: an empty cluster is enough to describe the API.
    const app = await createGateway({ ...config, nodes: [], dns: undefined }, logger);
    await app.init();
    writeFileSync(resolved.exportOpenApi, JSON.stringify(buildOpenApi(app), null, 2) + '\n');
    await app.close();
    return 0;
  }
  if (resolved.listRoutes) {
    // Every route with its auth policy (security/policy.ts), for tests and reviews.
    const app = await createGateway({ ...config, nodes: [], dns: undefined }, logger);
    await app.init();
    for (const r of registeredRoutes(app.getHttpAdapter().getInstance())) {
      process.stdout.write(JSON.stringify({ ...r, policy: policyFor(r.url) }) + '\n');
    }
    await app.close();
    return 0;
  }
  const app = await createGateway(config, logger);
  app.get(SecurityService).logPosture();
  const bound = await listen(app, config);
  process.stdout.write(JSON.stringify({ listening: bound }) + '\n');
  logger.info(
    { listening: bound, nodes: config.nodes.map((n) => n.name), dns: config.dns?.name },
    'gateway ready',
  );
  return -1; // keep running
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(
      JSON.stringify({
        level: 'fatal',
        msg: 'gateway failed to start',
        err: (e as Error)?.message ?? String(e),
      }) + '\n',
    );
    process.exit(1);
  },
);
