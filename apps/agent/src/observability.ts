/**
 * The agent's observability: Prometheus metrics (RPCs by method and status, /proc read latency by
 * file — never a pid label), one JSON log line per RPC carrying the gateway's request id (gRPC
 * metadata `x-request-id`) and the client identity, and an optional plaintext HTTP endpoint
 * (--metrics-listen) serving /metrics.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ServerInterceptingCall,
  status as GrpcStatus,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GuardedReadStats, ProcReader } from '@app/procfs';
import type { Logger } from './logger';
import { clientCertificate, parseSubjectAltNames } from './tls';

export const REQUEST_ID_HEADER = 'x-request-id';

/** Live figures the metrics read at each scrape (the read pool's and the watches'). */
export interface MetricSources {
  reads?: () => GuardedReadStats;
  watches?: () => { active: number; skipped: number; reads: number; joined: number };
}

export class AgentMetrics {
  readonly registry = new Registry();
  readonly rpcs = new Counter({
    name: 'pmapd_agent_rpc_requests_total',
    help: 'RPCs served, by method and gRPC status code name',
    labelNames: ['rpc', 'code'] as const,
    registers: [this.registry],
  });
  readonly rpcDuration = new Histogram({
    name: 'pmapd_agent_rpc_duration_seconds',
    help: 'RPC latency (until the status is sent), by method',
    labelNames: ['rpc'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly readDuration = new Histogram({
    name: 'pmapd_agent_proc_read_seconds',
    help: 'Latency of reading and parsing a /proc file (maps, smaps, smaps_rollup, stat, status, ...), by file',
    labelNames: ['file'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  readonly hungReads = new Gauge({
    name: 'pmapd_agent_proc_reads_stuck',
    help: '/proc reads blocked in the kernel past --proc-read-timeout-ms (a process stuck holding its mmap_lock), not yet returned',
    registers: [this.registry],
  });
  readonly readTimeouts = new Counter({
    name: 'pmapd_agent_proc_read_timeouts_total',
    help: '/proc reads that did not return within --proc-read-timeout-ms',
    registers: [this.registry],
  });

  readonly memoryReliefs = new Counter({
    name: 'pmapd_agent_memory_reliefs_total',
    help: 'Garbage collections and malloc trims run after heavy reads stopped (--memory-relief-idle-ms)',
    registers: [this.registry],
  });

  constructor(sources: MetricSources = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'pmapd_agent_' });
    const { reads, watches } = sources;
    if (reads) {
      new Gauge({
        name: 'pmapd_agent_proc_read_workers',
        help: 'Worker threads of the /proc read pool, by state (busy includes slow; stuck ones are pmapd_agent_proc_reads_stuck)',
        labelNames: ['state'] as const,
        registers: [this.registry],
        collect() {
          const s = reads();
          this.set({ state: 'live' }, s.workers);
          this.set({ state: 'busy' }, s.busy);
          this.set({ state: 'slow' }, s.slow);
        },
      });
      new Gauge({
        name: 'pmapd_agent_proc_reads_queued',
        help: '/proc reads waiting for a worker of the read pool',
        registers: [this.registry],
        collect() {
          this.set(reads().queued);
        },
      });
    }
    if (watches) {
      new Gauge({
        name: 'pmapd_agent_watches',
        help: 'WatchMemoryMap calls running',
        registers: [this.registry],
        collect() {
          this.set(watches().active);
        },
      });
      new Counter({
        name: 'pmapd_agent_watch_samples_skipped_total',
        help: 'Watch ticks skipped because the previous sample was still being read or sent',
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(watches().skipped);
        },
      });
      new Counter({
        name: 'pmapd_agent_watch_sample_reads_total',
        help: 'Reads made for watch samples, by whether the sample was read or joined another watch of the same process',
        labelNames: ['how'] as const,
        registers: [this.registry],
        collect() {
          const w = watches();
          this.reset();
          this.inc({ how: 'read' }, w.reads);
          this.inc({ how: 'joined' }, w.joined);
        },
      });
    }
  }
}

/** The /proc files the read-latency metric names; anything else is "other" (bounded labels). */
const PROC_FILES = new Set([
  'maps',
  'smaps',
  'smaps_rollup',
  'stat',
  'status',
  'cmdline',
  'cgroup',
  'numa_maps',
]);

/** ProcReader's raw per-file reads (name = the file under /proc/PID). */
const RAW_READS = new Set(['readText', 'readLocked', 'readLockedChunks']);

/**
 * The reader with every /proc file read timed into `metrics.readDuration` by file name. The
 * reader's own raw reads (readText/readBuf, called by every public method) are wrapped, with the
 * proxy as `this`, so reads made inside listProcesses or readMemoryMap are counted too.
 */
export function instrumentReader<T extends ProcReader>(reader: T, metrics: AgentMetrics): T {
  return new Proxy(reader, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (typeof prop !== 'string' || !RAW_READS.has(prop)) {
        return function (this: unknown, ...args: unknown[]): unknown {
          return fn.apply(receiver, args);
        };
      }
      return function timed(...args: unknown[]): unknown {
        const name = typeof args[1] === 'string' ? args[1] : '';
        const base = name.slice(name.lastIndexOf('/') + 1);
        const file = PROC_FILES.has(base) ? base : 'other';
        const t0 = process.hrtime.bigint();
        const observe = (): void =>
          metrics.readDuration.observe({ file }, Number(process.hrtime.bigint() - t0) / 1e9);
        let result: unknown;
        try {
          result = fn.apply(receiver, args);
        } catch (e) {
          observe();
          throw e;
        }
        // readLocked answers asynchronously (the worker pool): timed until it settles
        if (result instanceof Promise) return result.finally(observe);
        observe();
        return result;
      };
    },
  });
}

/**
 * Logs one line per RPC — {rpc, requestId, client, code, ms} — and counts it. Health checks go to
 * the debug level (the gateway checks every few seconds).
 */
export function rpcLogInterceptor(log: Logger, metrics: AgentMetrics): ServerInterceptor {
  return (method, call) => {
    const rpc = method.path.slice(method.path.lastIndexOf('/') + 1);
    const health = method.path.startsWith('/grpc.health.');
    const t0 = performance.now();
    let requestId: string | undefined;
    // read while the connection is certainly there: at sendStatus the client may be gone
    const sans = parseSubjectAltNames(clientCertificate(call)?.subjectaltname);
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (md, mdNext) => {
            const v = md.get(REQUEST_ID_HEADER)[0];
            if (typeof v === 'string' && v.length <= 128) requestId = v;
            mdNext(md);
          },
        });
      },
      sendStatus: (st, next) => {
        const seconds = (performance.now() - t0) / 1000;
        const code = GrpcStatus[st.code] ?? String(st.code);
        metrics.rpcs.inc({ rpc, code });
        metrics.rpcDuration.observe({ rpc }, seconds);
        const line = {
          rpc,
          requestId,
          client: sans.length > 0 ? sans : undefined,
          code,
          ms: Math.round(seconds * 1e4) / 10,
        };
        if (health) log.debug(line, 'rpc');
        else log.info(line, 'rpc');
        next(st);
      },
    });
  };
}

/** Plaintext HTTP: GET /metrics (Prometheus) and GET /healthz. Resolves to the bound address. */
export async function startMetricsServer(
  host: string,
  port: number,
  metrics: AgentMetrics,
): Promise<{ address: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        (e: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(e));
        },
      );
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  server.unref();
  return {
    address: a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`,
    server,
  };
}
