/**
 * pmapd agent entry point:
 *   node dist/apps/agent/src/main.js --listen 127.0.0.1:50051 --node-name NAME --insecure
 * Validates the configuration once (an invalid one prints one line and exits 2), probes what the
 * agent can read, serves PmapService + health + reflection, and shuts down gracefully on
 * SIGTERM/SIGINT. Logs are JSON lines on stderr; the startup line carries "listening".
 */
import { productVersion, versionLine } from '@app/domain';
import {
  GuardedFileReader,
  probeCapabilities,
  ProcReader,
  readNodeBasics,
  type GuardedReadStats,
} from '@app/procfs';
import { ReloadingCertificateProvider } from '@app/tls';
import { AgentServer, type AgentServerSecurity } from './agent.server';
import { ConfigError, loadConfig, usage, type AgentConfig } from './config';
import { effectiveCapabilities, HealthPort, readabilityReport } from './health-port';
import { createLogger } from './logger';
import { DEFAULT_MAX_SESSION_QUERIES, FleetSessions } from './fleet-session';
import { MemoryMapService } from './memory-map.service';
import { NodeInfoService } from './node-info.service';
import { HistogramService } from './histogram.service';
import {
  AgentMetrics,
  instrumentReader,
  rpcLogInterceptor,
  startMetricsServer,
} from './observability';
import { PmapGrpcService } from './pmap.service';
import { MapsSearchService } from './maps-search.service';
import { ProcessesService } from './processes.service';
import { MemoryRelief } from './memory-relief';
import { ReadLimiter } from './read-limiter';
import { clientIdentityInterceptor, mtlsServerCredentials } from './tls';
import { VeService } from './ve.service';
import { WatchService, type WatchStats } from './watch.service';

function configOrExit(): AgentConfig {
  try {
    const config = loadConfig(process.argv.slice(2), process.env);
    if (config === 'help') {
      process.stdout.write(usage() + '\n');
      process.exit(0);
    }
    if (config === 'version') {
      process.stdout.write(versionLine('pmapd-agent') + '\n');
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

  // read at each scrape, once the pool and the watch service below exist
  const metrics: AgentMetrics = new AgentMetrics({
    reads: (): GuardedReadStats => guarded.stats(),
    watches: (): WatchStats => watch.stats(),
  });
  // Reads that take a target's mmap_lock run in a pool of worker threads with a timeout: the
  // event loop never waits on them, and a process stuck in the kernel holds one worker
  // (libs/procfs/src/guarded-read.ts).
  const guarded = new GuardedFileReader({
    timeoutMs: config.procReadTimeoutMs,
    maxHung: config.maxHungReads,
    workers: config.procReadWorkers,
    onHung: (path, hung) => {
      metrics.readTimeouts.inc();
      metrics.hungReads.set(hung);
      log.warn({ path, stuck: hung, timeoutMs: config.procReadTimeoutMs }, 'proc read stuck');
    },
    onRecovered: (path, ms, hung) => {
      metrics.hungReads.set(hung);
      log.info({ path, ms, stuck: hung }, 'stuck proc read returned');
    },
  });
  const reader = instrumentReader(
    new ProcReader({
      procRoot: config.procRoot,
      lockedRead: (p, o) => guarded.read(p, o),
      lockedReadChunks: (p, onChunk, o) => guarded.readChunks(p, onChunk, o),
    }),
    metrics,
  );
  const capabilities = probeCapabilities(config.procRoot, config.sysRoot);
  const ve = VeService.open(config, (p, o) => guarded.read(p, o));
  const nodeInfo = new NodeInfoService(
    config,
    capabilities,
    readNodeBasics(config.procRoot),
    productVersion(),
    ve,
  );
  const processes = new ProcessesService(reader, ve);
  const maps = new MemoryMapService(reader, config.batchSize, ve);
  // After a burst of heavy reads, the memory it used goes back to the system (memory-relief.ts).
  const relief =
    config.memoryReliefIdleMs > 0
      ? new MemoryRelief({
          idleMs: config.memoryReliefIdleMs,
          log,
          onRelief: () => metrics.memoryReliefs.inc(),
        })
      : undefined;
  const limiter = new ReadLimiter(config.maxHeavyReads, config.maxQueuedReads, Date.now, relief);
  // Watch samples read maps as GetMemoryMap does (VE targets and pseudo-process marking
  // included), each under a heavy-read permit.
  const watch = new WatchService(maps, reader, log, limiter, { maxWatches: config.maxWatches });
  const histograms = new HistogramService(
    new MemoryMapService(reader, config.batchSize, VeService.of(undefined, 'host histograms')),
    reader,
    { procRoot: config.procRoot, batchSize: config.batchSize },
  );
  // A session carries at least what the heavy-read limiter lets wait (the unary calls' bound):
  // 100 concurrent process lists of one node are queued, not refused.
  const fleet = new FleetSessions({
    processes,
    nodeInfo,
    limiter,
    log,
    metrics,
    maxInFlight: Math.max(
      DEFAULT_MAX_SESSION_QUERIES,
      config.maxHeavyReads + config.maxQueuedReads,
    ),
  });
  const handlers = new PmapGrpcService(
    nodeInfo,
    processes,
    maps,
    log,
    histograms,
    watch,
    ve,
    limiter,
    new MapsSearchService(processes, maps, log),
    fleet,
  );
  const security: AgentServerSecurity = { interceptors: [] };
  let certs: ReloadingCertificateProvider | undefined;
  if (config.tls) {
    try {
      certs = new ReloadingCertificateProvider(config.tls, config.tls.reloadIntervalMs, log);
    } catch (e) {
      process.stderr.write(`pmapd-agent: invalid configuration: ${(e as Error).message}\n`);
      process.exit(2);
    }
    security.credentials = mtlsServerCredentials(certs);
    security.interceptors!.push(clientIdentityInterceptor(config.tls.allowClients, log));
  }
  security.interceptors!.push(rpcLogInterceptor(log, metrics));
  const server = new AgentServer(config, handlers, log, security);
  const healthPort = config.healthListen ? new HealthPort(server.health) : undefined;

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
  let healthAddress: string | undefined;
  let metricsAddress: string | undefined;
  try {
    if (healthPort && config.healthListen) {
      healthAddress = await healthPort.start(config.healthListen.host, config.healthListen.port);
    }
    if (config.metricsListen) {
      const m = config.metricsListen;
      metricsAddress = (await startMetricsServer(m.host, m.port, metrics)).address;
    }
  } catch (e) {
    log.fatal({ err: e instanceof Error ? e.message : String(e) }, 'cannot listen (side port)');
    process.exit(1);
  }
  for (const note of nodeInfo.notes) log.warn({ limitation: note }, 'capability missing');
  log.info(
    {
      uid: process.getuid?.(),
      capabilities: effectiveCapabilities(),
      ...readabilityReport(effectiveCapabilities(), capabilities, process.getuid?.()),
    },
    'what this agent can read',
  );
  log.info(
    {
      listening: address,
      nodeName: config.nodeName,
      uid: process.getuid?.(),
      readOtherUsers: capabilities.readOtherUsers,
      procRoot: config.procRoot,
      veLibrary: ve.libraryPath ?? false,
      tls: config.tls ? { allowClients: config.tls.allowClients } : false,
      healthListening: healthAddress,
      metricsListening: metricsAddress,
    },
    config.tls ? 'agent listening (mutual TLS)' : 'agent listening (plaintext gRPC, loopback only)',
  );

  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'shutting down');
    // long-lived fleet sessions end after their answers in flight (the gateway reopens elsewhere)
    fleet.closeAll();
    server
      .stop(config.shutdownTimeoutSec)
      .then(() => {
        healthPort?.stop();
        certs?.close();
        relief?.close();
        // stuck reads, and reads still running (a slow one may be blocked in the kernel too)
        const { hung, busy } = guarded.stats();
        const stuck = hung + busy;
        guarded.close();
        if (stuck === 0) {
          log.info('stopped');
          process.exit(0);
        }
        // Node's exit waits for every worker thread, and a thread blocked in the kernel (a read
        // of a stuck process's maps) never returns: process.exit() would hang for as long as
        // that process stays stuck. The signal's default action ends the process at once (its
        // listener was `once`, so the default disposition is back).
        log.info({ stuckReads: stuck }, 'stopped; ending with reads still stuck in the kernel');
        process.kill(process.pid, signal);
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
