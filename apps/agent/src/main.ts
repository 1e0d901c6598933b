/**
 * pmapd agent entry point:
 *   node dist/apps/agent/src/main.js --listen 127.0.0.1:50051 --node-name NAME --insecure
 * Validates the configuration once (an invalid one prints one line and exits 2), probes what the
 * agent can read, serves PmapService + health + reflection, and shuts down gracefully on
 * SIGTERM/SIGINT. Logs are JSON lines on stderr; the startup line carries "listening".
 */
import { probeCapabilities, ProcReader, readNodeBasics } from '@app/procfs';
import { AgentServer } from './agent.server';
import { ConfigError, loadConfig, usage, type AgentConfig } from './config';
import { createLogger } from './logger';
import { MemoryMapService } from './memory-map.service';
import { NodeInfoService } from './node-info.service';
import { HistogramService } from './histogram.service';
import { agentVersion } from './paths';
import { PmapGrpcService } from './pmap.service';
import { ProcessesService } from './processes.service';
import { VeService } from './ve.service';
import { WatchService } from './watch.service';

function configOrExit(): AgentConfig {
  try {
    const config = loadConfig(process.argv.slice(2), process.env);
    if (config === 'help') {
      process.stdout.write(usage() + '\n');
      process.exit(0);
    }
    return config;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`pmapd-agent: invalid configuration: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  const log = createLogger(config.logLevel, { service: 'pmapd-agent', node: config.nodeName });

  const reader = new ProcReader({ procRoot: config.procRoot });
  const capabilities = probeCapabilities(config.procRoot, config.sysRoot);
  const nodeInfo = new NodeInfoService(
    config,
    capabilities,
    readNodeBasics(config.procRoot),
    agentVersion(),
  );
  const ve = VeService.open(config);
  nodeInfo.ve = ve;
  const processes = new ProcessesService(reader);
  processes.ve = ve;
  const maps = new MemoryMapService(reader, config.batchSize);
  maps.ve = ve;
  const handlers = new PmapGrpcService(nodeInfo, processes, maps, log);
  handlers.ve = ve;
  handlers.watch = new WatchService(new MemoryMapService(reader, config.batchSize), reader, log);
  handlers.histograms = new HistogramService(new MemoryMapService(reader, config.batchSize), {
    procRoot: config.procRoot,
    batchSize: config.batchSize,
  });
  const server = new AgentServer(config, handlers, log);

  let address: string;
  try {
    address = await server.start();
  } catch (e) {
    log.fatal(
      { listen: config.listen, err: e instanceof Error ? e.message : String(e) },
      'cannot listen',
    );
    process.exit(1);
  }
  for (const note of nodeInfo.notes) log.warn({ limitation: note }, 'capability missing');
  log.info(
    {
      listening: address,
      nodeName: config.nodeName,
      uid: process.getuid?.(),
      readOtherUsers: capabilities.readOtherUsers,
      procRoot: config.procRoot,
      veLibrary: ve.libraryPath ?? false,
    },
    'agent listening (plaintext gRPC)',
  );

  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'shutting down');
    server
      .stop(config.shutdownTimeoutSec)
      .then(() => {
        log.info('stopped');
        process.exit(0);
      })
      .catch(() => process.exit(1));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

main().catch((e: unknown) => {
  process.stderr.write(
    `pmapd-agent: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(1);
});
