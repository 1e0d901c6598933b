import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics on a registry of the gateway's own. Labels are bounded: route templates (never
 * raw URLs, so no pids), methods, status codes, node names.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'pmapd_gateway_http_requests_total',
    help: 'HTTP requests served, by route template, method and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'pmapd_gateway_http_request_duration_seconds',
    help: 'HTTP request latency, by route template, method and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly agentUp = new Gauge({
    name: 'pmapd_gateway_agent_up',
    help: '1 when the node agent answered its last health check, else 0',
    labelNames: ['node'] as const,
    registers: [this.registry],
  });
  private readonly agentLatency = new Gauge({
    name: 'pmapd_gateway_agent_health_latency_seconds',
    help: 'Round trip of the last successful health check, per node',
    labelNames: ['node'] as const,
    registers: [this.registry],
  });

  private readonly cancelled = new Counter({
    name: 'pmapd_gateway_agent_calls_cancelled_total',
    help: 'Calls to agents cancelled because the HTTP client went away, per node',
    labelNames: ['node'] as const,
    registers: [this.registry],
  });

  private readonly mapPauses = new Counter({
    name: 'pmapd_gateway_map_stream_pauses_total',
    help: 'Times a map answer paused its agent call because the HTTP client read slower',
    registers: [this.registry],
  });
  private readonly mapCuts = new Counter({
    name: 'pmapd_gateway_map_streams_cut_total',
    help: 'Map answers cut after they started, by reason (deadline, limit, agent)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'pmapd_gateway_' });
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.duration.observe(labels, seconds);
  }

  setAgentUp(node: string, up: boolean, latencyMs?: number): void {
    this.agentUp.set({ node }, up ? 1 : 0);
    if (up && latencyMs !== undefined) this.agentLatency.set({ node }, latencyMs / 1000);
  }

  clientGone(node: string): void {
    this.cancelled.inc({ node });
  }

  mapStreamPaused(): void {
    this.mapPauses.inc();
  }

  mapStreamCut(reason: string): void {
    this.mapCuts.inc({ reason });
  }

  removeAgent(node: string): void {
    this.agentUp.remove({ node });
    this.agentLatency.remove({ node });
    this.cancelled.remove({ node });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
