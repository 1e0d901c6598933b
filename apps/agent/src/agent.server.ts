/**
 * The agent's gRPC server: pmap.v1.PmapService (ts-proto grpc-js definitions, bigint-safe), the
 * grpc.health.v1 health service and server reflection. Mutual TLS or, on loopback only, plaintext
 * (credentials and interceptors come from main.ts: tls.ts, observability.ts).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { PmapServiceService } from '@app/proto';
import type { AgentConfig } from './config';
import type { Logger } from './logger';
import { protoLocation } from './paths';
import { serializeMemoryMapResponse } from './map-chunks';
import type { PmapGrpcService } from './pmap.service';

export const PMAP_SERVICE_NAME = 'pmap.v1.PmapService';

/** A message may be big at smaps level with large batches (10k VMAs ~ 8 MB). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface AgentServerSecurity {
  /** Server credentials (mTLS); plaintext when absent. */
  credentials?: grpc.ServerCredentials;
  /** Run on every call, first to last (client identity check, RPC log line). */
  interceptors?: grpc.ServerInterceptor[];
}

export class AgentServer {
  private readonly server: grpc.Server;
  /** Shared with the plaintext health port (health-port.ts). */
  readonly health: HealthImplementation;
  private stopping: Promise<void> | undefined;
  /** The bound address, "host:port" ("[v6]:port" for IPv6). */
  address = '';

  constructor(
    private readonly config: AgentConfig,
    handlers: PmapGrpcService,
    private readonly log: Logger,
    private readonly security: AgentServerSecurity = {},
  ) {
    this.server = new grpc.Server({
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_receive_message_length': 4 * 1024 * 1024,
      interceptors: security.interceptors ?? [],
    });
    // GetMemoryMap's text chunks serialized with one copy of the text (map-chunks.ts).
    const service = {
      ...PmapServiceService,
      getMemoryMap: {
        ...PmapServiceService.getMemoryMap,
        responseSerialize: serializeMemoryMapResponse,
      },
    };
    this.server.addService(service, handlers.asServer());
    this.health = new HealthImplementation({ '': 'SERVING', [PMAP_SERVICE_NAME]: 'SERVING' });
    this.health.addToServer(this.server);
    const { includeDir, file } = protoLocation();
    const pkg = protoLoader.loadSync(file, { includeDirs: [includeDir], longs: String });
    new ReflectionService(pkg).addToServer(this.server);
  }

  /** Binds and starts serving; resolves to the bound address. */
  async start(): Promise<string> {
    const creds = this.security.credentials ?? grpc.ServerCredentials.createInsecure();
    const target = this.config.host.includes(':')
      ? `[${this.config.host}]:${this.config.port}`
      : `${this.config.host}:${this.config.port}`;
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(target, creds, (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.address = this.config.host.includes(':')
      ? `[${this.config.host}]:${port}`
      : `${this.config.host}:${port}`;
    return this.address;
  }

  /**
   * Graceful stop: health goes NOT_SERVING, new calls are refused, in-flight calls get
   * `timeoutSec` to finish, then the rest are cancelled.
   */
  stop(timeoutSec: number): Promise<void> {
    if (this.stopping) return this.stopping;
    this.health.setStatus('', 'NOT_SERVING');
    this.health.setStatus(PMAP_SERVICE_NAME, 'NOT_SERVING');
    this.stopping = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn({ timeoutSec }, 'in-flight calls did not finish: forcing shutdown');
        this.server.forceShutdown();
        resolve();
      }, timeoutSec * 1000);
      timer.unref();
      this.server.tryShutdown((err) => {
        clearTimeout(timer);
        if (err) this.log.warn({ err: err.message }, 'shutdown error');
        resolve();
      });
    });
    return this.stopping;
  }
}
