/**
 * The gateway's security and request plumbing, installed as Fastify hooks on every route (Nest
 * controllers, Swagger, 404s alike):
 *   onRequest: request id (x-request-id honoured or generated), bearer-token authentication,
 *              scope check by route (policy.ts), rate limit, request limits (fan-out size, watch
 *              interval and concurrency), then the rest of the request runs inside its
 *              RequestStore (request-store.ts);
 *   onSend:    response size cap (413), node lists filtered to the token's nodes;
 *   onResponse: one access log line.
 * And the agent side: credentials (mutual TLS) and a gRPC client interceptor per node that passes
 * the request id as metadata, redacts answers for tokens without `unredacted`, writes the audit
 * line of every map/histogram/watch call, and counts calls and fan-out outcomes per node.
 */
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import {
  credentials as grpcCredentials,
  InterceptingCall,
  status as GrpcStatus,
  type ChannelCredentials,
  type Interceptor,
} from '@grpc/grpc-js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Counter, Histogram } from 'prom-client';
import { reason, type ErrorBody } from '../common/api-error';
import { LOGGER } from '../common/logger';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config';
import { MetricsService } from '../metrics/metrics.service';
import type { SessionQueryHooks } from '../cluster/fleet-session-client';
import { policyFor, WATCH_ROUTE, type RoutePolicy } from './policy';
import { RateLimiter } from './rate-limit';
import { redactMessage } from './redact';
import { requestStore, runWithStore, type RequestStore } from './request-store';
import { resolveLimits, type ResolvedLimits } from './security-config';
import type { ReloadingCertificateProvider } from '@app/tls';
import { mtlsChannelCredentials } from './tls';
import {
  ANONYMOUS,
  bearerToken,
  canReadNode,
  canReadSomeNode,
  hasScope,
  TokenStore,
  type Principal,
} from './tokens';

export const REQUEST_ID_HEADER = 'x-request-id';
const REQUEST_ID_RE = /^[A-Za-z0-9._:@/+=-]{1,128}$/;
const AUDITED_RPCS = new Set(['GetMemoryMap', 'GetHistogram', 'WatchMemoryMap', 'SearchMaps']);
const DATA_RPCS = new Set([
  'GetMemoryMap',
  'GetHistogram',
  'WatchMemoryMap',
  'ListProcesses',
  'SearchMaps',
]);

/** What AgentConnection needs to reach one node. */
export interface AgentTransportOptions {
  credentials: ChannelCredentials;
  interceptors: Interceptor[];
  channelOptions: Record<string, string | number>;
  /** Per-query request id, redaction and metrics of the node's fleet session. */
  session: SessionQueryHooks;
}

/** A node-selection function for the fan-out size check (fleet/selectors over the cluster). */
export type FanoutCounter = (query: {
  nodes?: string;
  labels?: string;
  arch?: string;
}) => number | undefined;

@Injectable()
export class SecurityService implements OnApplicationShutdown {
  readonly tokens: TokenStore;
  readonly limits: ResolvedLimits;
  private readonly limiter: RateLimiter;
  private readonly watches = new Map<string, number>();
  private readonly credentials: ChannelCredentials;
  private readonly certs?: ReloadingCertificateProvider;
  private readonly agentCalls: Counter<'node' | 'rpc' | 'code'>;
  private readonly agentCallSeconds: Histogram<'rpc'>;
  private readonly fanoutOutcomes: Counter<'node' | 'outcome'>;
  private readonly denied: Counter<'status'>;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    metrics: MetricsService,
  ) {
    this.tokens = new TokenStore(config.auth);
    this.limits = resolveLimits(config.limits);
    this.limiter = new RateLimiter(this.limits.ratePerSecond, this.limits.burst);
    if (config.tls) {
      const { credentials, provider } = mtlsChannelCredentials(config.tls, logger);
      this.credentials = credentials;
      this.certs = provider;
    } else {
      this.credentials = grpcCredentials.createInsecure();
    }
    const registers = [metrics.registry];
    this.agentCalls = new Counter({
      name: 'pmapd_gateway_agent_calls_total',
      help: 'PmapService calls to agents, by node, RPC and gRPC status code name',
      labelNames: ['node', 'rpc', 'code'] as const,
      registers,
    });
    this.agentCallSeconds = new Histogram({
      name: 'pmapd_gateway_agent_call_duration_seconds',
      help: 'Latency of PmapService calls to agents (until the status), by RPC',
      labelNames: ['rpc'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.fanoutOutcomes = new Counter({
      name: 'pmapd_gateway_fanout_node_outcomes_total',
      help: 'Fleet queries: per-node call outcomes (gRPC status code name, each attempt), by node',
      labelNames: ['node', 'outcome'] as const,
      registers,
    });
    this.denied = new Counter({
      name: 'pmapd_gateway_requests_denied_total',
      help: 'Requests refused before any work: 401, 403, 413, 429',
      labelNames: ['status'] as const,
      registers,
    });
  }

  onApplicationShutdown(): void {
    this.certs?.close();
  }

  /** Logs how the gateway runs: with tokens, or without (and why that is allowed). */
  logPosture(): void {
    if (this.tokens.enabled) {
      this.logger.info(
        {
          tokens: this.config.auth!.tokens.length,
          protectMetrics: this.config.auth!.protectMetrics ?? false,
          agentTls: this.config.tls !== undefined,
        },
        'bearer-token authentication enabled',
      );
    } else {
      this.logger.warn(
        {
          listen: this.config.listen,
          allowUnauthenticated: this.config.allowUnauthenticated ?? false,
        },
        'running WITHOUT authentication: no auth.tokens configured, every client has every scope (acceptable on loopback only)',
      );
    }
    if (!this.config.tls) {
      this.logger.warn(
        'agents are reached over plaintext gRPC (no tls section): loopback agents only',
      );
    }
  }

  // ------------------------------------------------------------------------------------------
  // HTTP side

  private deny(
    req: FastifyRequest,
    reply: FastifyReply,
    status: number,
    message: string,
    extra: Partial<ErrorBody> = {},
    headers: Record<string, string> = {},
  ): void {
    this.denied.inc({ status: String(status) });
    if (status === 401 || status === 403) {
      this.logger.warn(
        {
          requestId: (req as { requestId?: string }).requestId,
          method: req.method,
          route: req.routeOptions?.url ?? 'unmatched',
          ip: req.ip,
          status,
          reason: message,
        },
        'request denied',
      );
    }
    const body: ErrorBody = { statusCode: status, error: reason(status), message, ...extra };
    void reply
      .code(status)
      .headers(headers)
      .header('content-type', 'application/json; charset=utf-8')
      .send(JSON.stringify(body));
  }

  /** Installs the hooks on the Fastify instance (before the server listens). */
  install(fastify: FastifyInstance, countFanout: FanoutCounter): void {
    fastify.addHook('onRequest', (req, reply, done) => {
      const given = req.headers[REQUEST_ID_HEADER];
      const requestId =
        typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : randomUUID();
      (req as { requestId?: string }).requestId = requestId;
      void reply.header(REQUEST_ID_HEADER, requestId);
      const route = req.routeOptions?.url;
      const policy = policyFor(route);
      const principal = this.authenticate(req, reply, policy);
      if (!principal) return; // answered
      if (!this.authorize(req, reply, policy, principal)) return;
      if (policy !== 'public' && !this.rateLimit(req, reply, principal)) return;
      if (!this.requestLimits(req, reply, policy, route, principal, countFanout)) return;
      const store: RequestStore = {
        requestId,
        principal,
        ip: req.ip,
        route: route ?? 'unmatched',
        redact: !hasScope(principal, 'unredacted'),
        fanout: policy === 'fleet',
      };
      (req as { pmapdStore?: RequestStore }).pmapdStore = store;
      runWithStore(store, done);
    });

    fastify.addHook('onSend', (req, reply, payload, done) => {
      const store = (req as { pmapdStore?: RequestStore }).pmapdStore;
      let out: unknown = payload;
      if (
        store &&
        store.route === '/v1/nodes' &&
        !hasScope(store.principal, 'read') &&
        typeof payload === 'string' &&
        reply.statusCode === 200
      ) {
        out = this.filterNodeList(payload, store.principal);
      }
      const size =
        typeof out === 'string' ? Buffer.byteLength(out) : Buffer.isBuffer(out) ? out.length : 0;
      if (size > this.limits.maxResponseBytes) {
        this.denied.inc({ status: '413' });
        void reply.code(413).header('content-type', 'application/json; charset=utf-8');
        const body: ErrorBody = {
          statusCode: 413,
          error: reason(413),
          message: `the answer (${size} bytes) exceeds the gateway's limit of ${this.limits.maxResponseBytes} bytes: narrow it (range, view, limit, nodes)`,
        };
        done(null, JSON.stringify(body));
        return;
      }
      done(null, out);
    });

    fastify.addHook('onResponse', (req, reply, done) => {
      const store = (req as { pmapdStore?: RequestStore }).pmapdStore;
      const route = req.routeOptions?.url ?? 'unmatched';
      const line = {
        requestId: (req as { requestId?: string }).requestId,
        method: req.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        who: store?.principal.name,
        ip: req.ip,
      };
      if (route === '/healthz' || route === '/readyz' || route === '/metrics') {
        this.logger.debug(line, 'request');
      } else this.logger.info(line, 'request');
      done();
    });
  }

  private authenticate(
    req: FastifyRequest,
    reply: FastifyReply,
    policy: RoutePolicy,
  ): Principal | undefined {
    if (!this.tokens.enabled) return ANONYMOUS;
    const open =
      policy === 'public' || (policy === 'metrics' && !(this.config.auth?.protectMetrics ?? false));
    const token = bearerToken(req.headers.authorization);
    // Open routes ignore a bad or missing token (a probe must not fail on a stale header).
    if (open) return (token ? this.tokens.verify(token) : undefined) ?? principalPublic;
    if (token === undefined || token === null) {
      this.deny(
        req,
        reply,
        401,
        token === null
          ? 'the Authorization header must be "Bearer <token>"'
          : 'authentication required: send "Authorization: Bearer <token>"',
        {},
        { 'www-authenticate': 'Bearer realm="pmapd"' },
      );
      return undefined;
    }
    const p = this.tokens.verify(token);
    if (!p) {
      this.deny(
        req,
        reply,
        401,
        'invalid token',
        {},
        {
          'www-authenticate': 'Bearer realm="pmapd", error="invalid_token"',
        },
      );
      return undefined;
    }
    return p;
  }

  private authorize(
    req: FastifyRequest,
    reply: FastifyReply,
    policy: RoutePolicy,
    p: Principal,
  ): boolean {
    const refuse = (message: string): false => {
      this.deny(req, reply, 403, message);
      return false;
    };
    switch (policy) {
      case 'public':
        return true;
      case 'metrics':
        if (!this.tokens.enabled || !(this.config.auth?.protectMetrics ?? false)) return true;
        return hasScope(p, 'metrics') || refuse(`token '${p.name}' lacks the 'metrics' scope`);
      case 'node-list':
        return canReadSomeNode(p) || refuse(`token '${p.name}' has no read scope`);
      case 'node': {
        const node = (req.params as { node?: string } | undefined)?.node ?? '';
        return (
          canReadNode(p, node) ||
          refuse(`token '${p.name}' may not read node '${node}' (needs read or read:node=${node})`)
        );
      }
      case 'fleet':
        return hasScope(p, 'fleet') || refuse(`token '${p.name}' lacks the 'fleet' scope`);
      case 'read':
        return hasScope(p, 'read') || refuse(`token '${p.name}' lacks the 'read' scope`);
    }
  }

  private rateLimit(req: FastifyRequest, reply: FastifyReply, p: Principal): boolean {
    const key = p.authenticated ? `token:${p.name}` : `ip:${req.ip}`;
    const wait = this.limiter.take(key);
    if (wait === 0) return true;
    const retry = Math.max(1, Math.ceil(wait));
    this.deny(
      req,
      reply,
      429,
      `rate limit exceeded (${this.limits.ratePerSecond}/s, burst ${this.limits.burst}): retry in ${retry} s`,
      {},
      { 'retry-after': String(retry) },
    );
    return false;
  }

  private requestLimits(
    req: FastifyRequest,
    reply: FastifyReply,
    policy: RoutePolicy,
    route: string | undefined,
    p: Principal,
    countFanout: FanoutCounter,
  ): boolean {
    const query = (req.query ?? {}) as Record<string, unknown>;
    if (policy === 'fleet') {
      const n = countFanout(query);
      if (n !== undefined && n > this.limits.maxFanoutNodes) {
        this.deny(
          req,
          reply,
          413,
          `the query selects ${n} nodes; at most ${this.limits.maxFanoutNodes} per request: narrow it with nodes=, labels= or arch=`,
          { parameter: 'nodes' },
        );
        return false;
      }
    }
    if (route === WATCH_ROUTE) {
      const interval = Number(query.interval);
      if (query.interval !== undefined && interval < this.limits.minWatchIntervalMs) {
        this.deny(
          req,
          reply,
          400,
          `interval must be at least ${this.limits.minWatchIntervalMs} ms on this gateway`,
          { parameter: 'interval' },
        );
        return false;
      }
      const key = p.authenticated ? `token:${p.name}` : `ip:${req.ip}`;
      const open = this.watches.get(key) ?? 0;
      if (open >= this.limits.maxWatchesPerClient) {
        this.deny(
          req,
          reply,
          429,
          `at most ${this.limits.maxWatchesPerClient} watch streams at once per client`,
          {},
          { 'retry-after': '5' },
        );
        return false;
      }
      this.watches.set(key, open + 1);
      reply.raw.once('close', () => {
        const now = (this.watches.get(key) ?? 1) - 1;
        if (now <= 0) this.watches.delete(key);
        else this.watches.set(key, now);
      });
    }
    return true;
  }

  private filterNodeList(payload: string, p: Principal): string {
    try {
      const body = JSON.parse(payload) as { nodes?: { name: string }[] };
      if (Array.isArray(body.nodes)) body.nodes = body.nodes.filter((n) => canReadNode(p, n.name));
      return JSON.stringify(body);
    } catch {
      return payload;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Agent side

  /** Credentials, interceptor and channel options of the connection to one node. */
  transportFor(node: string): AgentTransportOptions {
    const channelOptions: Record<string, string | number> = {};
    if (this.config.tls?.serverName) {
      channelOptions['grpc.ssl_target_name_override'] = this.config.tls.serverName;
    }
    return {
      credentials: this.credentials,
      interceptors: [this.agentInterceptor(node)],
      channelOptions,
      session: this.sessionHooks(node),
    };
  }

  /**
   * What the interceptor does per call, per query of a fleet session (the stream itself outlives
   * requests): the request id travels in the query, the answer is redacted for a redacted caller
   * (fail closed outside a request when tokens are on), and the call is counted per query.
   */
  private sessionHooks(node: string): SessionQueryHooks {
    // the labelled metric children of this node, looked up once (prom-client hashes labels)
    const calls = new Map<string, { inc(): void }>();
    const outcomes = new Map<string, { inc(): void }>();
    const seconds = new Map<string, { observe(v: number): void }>();
    const child = <T>(m: Map<string, T>, key: string, make: () => T): T => {
      let c = m.get(key);
      if (c === undefined) m.set(key, (c = make()));
      return c;
    };
    return {
      begin: (rpc) => {
        const store = requestStore();
        const redact = store ? store.redact : this.tokens.enabled && DATA_RPCS.has(rpc);
        const t0 = performance.now();
        return {
          requestId: store?.requestId,
          redact: redact ? (m) => redactMessage(rpc, m) : undefined,
          end: (code) => {
            child(calls, `${rpc} ${code}`, () => this.agentCalls.labels({ node, rpc, code })).inc();
            child(seconds, rpc, () => this.agentCallSeconds.labels({ rpc })).observe(
              (performance.now() - t0) / 1000,
            );
            if (store?.fanout) {
              child(outcomes, code, () =>
                this.fanoutOutcomes.labels({ node, outcome: code }),
              ).inc();
            }
          },
        };
      },
    };
  }

  private agentInterceptor(node: string): Interceptor {
    return (options, nextCall) => {
      const path = options.method_definition.path;
      const rpc = path.slice(path.lastIndexOf('/') + 1);
      // A fleet session outlives the request that opened it: its queries carry their own request
      // context (sessionHooks), the stream none.
      const store = rpc === 'FleetSession' ? undefined : requestStore();
      // Fail closed: a data call outside any request context is redacted when tokens are on.
      const redact = store ? store.redact : this.tokens.enabled && DATA_RPCS.has(rpc);
      const t0 = performance.now();
      return new InterceptingCall(nextCall(options), {
        start: (metadata, _listener, next) => {
          if (store) metadata.set(REQUEST_ID_HEADER, store.requestId);
          next(metadata, {
            onReceiveMessage: (message: unknown, nextMessage: (m: unknown) => void) => {
              nextMessage(redact ? redactMessage(rpc, message) : message);
            },
            onReceiveStatus: (st, nextStatus) => {
              const code = GrpcStatus[st.code] ?? String(st.code);
              this.agentCalls.inc({ node, rpc, code });
              this.agentCallSeconds.observe({ rpc }, (performance.now() - t0) / 1000);
              if (store?.fanout) this.fanoutOutcomes.inc({ node, outcome: code });
              nextStatus(st);
            },
          });
        },
        sendMessage: (message: unknown, next: (m: unknown) => void) => {
          // pmap text is rendered by the agent: it must redact it itself (the answers' VMAs are
          // redacted below as well).
          if (redact && rpc === 'GetMemoryMap') (message as { redact?: boolean }).redact = true;
          // the agent's maps search matches redacted names for a redacted caller (no oracle on
          // full paths), whatever the route set
          if (redact && rpc === 'SearchMaps') {
            (message as { matchRedactedNames?: boolean }).matchRedactedNames = true;
          }
          if (AUDITED_RPCS.has(rpc)) {
            const m = message as { pid?: number; veNode?: number; detail?: number; kind?: number };
            this.logger.info(
              {
                audit: true,
                requestId: store?.requestId,
                who: store?.principal.name ?? 'system',
                ip: store?.ip,
                route: store?.route,
                node,
                rpc,
                pid: m.pid,
                veNode: m.veNode,
                redacted: redact,
              },
              'audit',
            );
          }
          next(message);
        },
      });
    };
  }
}

/** Public routes without a token (when tokens are on): no scopes. */
const principalPublic: Principal = {
  name: 'public',
  authenticated: false,
  scopes: new Set(),
  nodePatterns: [],
};
