import {
  Inject,
  Injectable,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { NodeInfo } from '@app/proto';
import type { Logger } from 'pino';
import { ApiError } from '../common/api-error';
import { LOGGER } from '../common/logger';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config';
import { MetricsService } from '../metrics/metrics.service';
import { SecurityService } from '../security/security.service';
import { AgentCallError, AgentConnection, type CallCtx } from './agent-connection';
import { discover } from './dns-discovery';

export type NodeStatus = 'unknown' | 'up' | 'down';

export interface NodeState {
  name: string;
  address: string;
  labels: Record<string, string>;
  source: 'config' | 'dns';
  conn: AgentConnection;
  status: NodeStatus;
  lastSeen?: Date;
  lastCheck?: Date;
  latencyMs?: number;
  lastError?: string;
  /**
   * GetNodeInfo, cached while the agent is up: re-read when it comes back and once it is
   * nodeInfoMaxAgeMs old (VE node states and process counts change while an agent runs).
   */
  info?: NodeInfo;
  /** When `info` was read. */
  infoReadAt?: Date;
  infoError?: string;
}

/**
 * Cluster membership: the configured nodes plus DNS-discovered ones, one AgentConnection each,
 * health-checked every healthIntervalMs.
 */
@Injectable()
export class ClusterService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly nodes = new Map<string, NodeState>();
  private healthTimer?: NodeJS.Timeout;
  private dnsTimer?: NodeJS.Timeout;
  private checking = false;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly metrics: MetricsService,
    @Optional() private readonly security?: SecurityService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    for (const n of this.config.nodes) this.add(n.name, n.address, n.labels ?? {}, 'config');
    if (this.config.dns) await this.refreshDns();
    // The first round completes before the gateway listens, so status is known from the start.
    await this.checkAll();
    this.healthTimer = setInterval(() => void this.checkAll(), this.config.healthIntervalMs);
    this.healthTimer.unref();
    if (this.config.dns) {
      this.dnsTimer = setInterval(() => void this.refreshDns(), this.config.dns.intervalMs);
      this.dnsTimer.unref();
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.healthTimer);
    clearInterval(this.dnsTimer);
    for (const n of this.nodes.values()) n.conn.close();
    this.nodes.clear();
  }

  list(): NodeState[] {
    return [...this.nodes.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The node, or 404 naming the known nodes. */
  get(name: string): NodeState {
    const n = this.nodes.get(name);
    if (!n) {
      throw new ApiError(404, `unknown node '${name}'`, {
        parameter: 'node',
        allowed: this.list().map((x) => x.name),
      });
    }
    return n;
  }

  anyUp(): boolean {
    for (const n of this.nodes.values()) if (n.status === 'up') return true;
    return false;
  }

  /** The call context of a request: its deadline (timeout param or the configured default). */
  ctx(timeoutMs: number | undefined, signal?: AbortSignal): CallCtx {
    return { timeoutMs: timeoutMs ?? this.config.requestTimeoutMs, signal };
  }

  private add(
    name: string,
    address: string,
    labels: Record<string, string>,
    source: NodeState['source'],
  ): void {
    const conn = new AgentConnection(
      name,
      address,
      () => this.metrics.clientGone(name),
      this.security?.transportFor(name),
    );
    this.nodes.set(name, { name, address, labels, source, conn, status: 'unknown' });
    this.metrics.setAgentUp(name, false);
    this.logger.info({ node: name, address, source }, 'node added');
  }

  private remove(name: string): void {
    const n = this.nodes.get(name);
    if (!n) return;
    n.conn.close();
    this.nodes.delete(name);
    this.metrics.removeAgent(name);
    this.logger.info({ node: name, address: n.address }, 'node removed');
  }

  async refreshDns(): Promise<void> {
    const dns = this.config.dns;
    if (!dns) return;
    try {
      const found = await discover(dns);
      const names = new Set(found.map((f) => f.name));
      for (const f of found) {
        const existing = this.nodes.get(f.name);
        if (existing?.source === 'config') continue; // a configured node wins
        if (existing && existing.address === f.address) continue;
        if (existing) this.remove(f.name);
        this.add(f.name, f.address, { ...(dns.labels ?? {}), discovery: 'dns' }, 'dns');
        void this.check(this.nodes.get(f.name)!);
      }
      for (const n of [...this.nodes.values()]) {
        if (n.source === 'dns' && !names.has(n.name)) this.remove(n.name);
      }
    } catch (e) {
      // Keep the last known set when DNS fails.
      this.logger.warn({ dns: dns.name, err: (e as Error).message }, 'DNS discovery failed');
    }
  }

  async checkAll(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await Promise.all([...this.nodes.values()].map((n) => this.check(n)));
    } finally {
      this.checking = false;
    }
  }

  private async check(n: NodeState): Promise<void> {
    const t0 = performance.now();
    const before = n.status;
    try {
      const serving = await n.conn.checkHealth(this.config.healthTimeoutMs);
      const now = new Date();
      n.lastCheck = now;
      if (!serving) throw new Error('agent reports NOT_SERVING');
      n.latencyMs = Math.round((performance.now() - t0) * 1000) / 1000;
      n.lastSeen = now;
      n.lastError = undefined;
      n.status = 'up';
      const age = n.infoReadAt ? now.getTime() - n.infoReadAt.getTime() : Infinity;
      if (!n.info || before !== 'up' || age >= this.config.nodeInfoMaxAgeMs) {
        try {
          const res = await n.conn.getNodeInfo({ timeoutMs: this.config.healthTimeoutMs });
          n.info = res.node;
          n.infoReadAt = new Date();
          n.infoError = undefined;
        } catch (e) {
          n.infoError = (e as Error).message;
        }
      }
    } catch (e) {
      n.lastCheck = new Date();
      n.status = 'down';
      n.lastError = (e as Error).message;
    }
    if (!this.nodes.has(n.name)) return; // removed meanwhile
    this.metrics.setAgentUp(n.name, n.status === 'up', n.latencyMs);
    if (before !== n.status) {
      const log = { node: n.name, address: n.address, status: n.status, error: n.lastError };
      if (n.status === 'up') this.logger.info(log, 'node status');
      else this.logger.warn(log, 'node status');
    }
  }

  /** Runs a call to the node's agent; an unreachable agent marks the node down at once. */
  async call<T>(n: NodeState, fn: (conn: AgentConnection) => Promise<T>): Promise<T> {
    try {
      return await fn(n.conn);
    } catch (e) {
      if (e instanceof AgentCallError && e.unreachable) {
        this.markUnavailable(n.name, e.message);
      }
      throw e;
    }
  }

  /** Marks a node down at once when a request found its agent unreachable. */
  markUnavailable(name: string, error: string): void {
    const n = this.nodes.get(name);
    if (!n || n.status === 'down') return;
    n.status = 'down';
    n.lastError = error;
    this.metrics.setAgentUp(name, false);
    this.logger.warn({ node: name, address: n.address, error }, 'node status');
  }
}
