/**
 * Who may call which route: ONE table keyed by the Fastify route template. A route missing from
 * the table needs the `read` scope (never open by accident), and test/security-auth.e2e-spec.ts
 * fails until the route has its own row there and here.
 */
export type RoutePolicy =
  /** No token needed. */
  | 'public'
  /** GET /metrics: open unless auth.protectMetrics, then the `metrics` scope. */
  | 'metrics'
  /** Any read scope; answers are filtered to the nodes the token may read. */
  | 'node-list'
  /** `read` or a `read:node=` scope matching the `:node` path parameter. */
  | 'node'
  /** The `fleet` scope (fan-out over many nodes). */
  | 'fleet'
  /** Unknown routes and 404s: any valid token with `read`. */
  | 'read';

export const ROUTE_POLICIES: Readonly<Record<string, RoutePolicy>> = {
  '/healthz': 'public',
  '/readyz': 'public',
  '/metrics': 'metrics',
  '/openapi.json': 'public',
  '/v1/nodes': 'node-list',
  '/v1/nodes/:node': 'node',
  '/v1/nodes/:node/processes': 'node',
  '/v1/nodes/:node/processes/:pid/maps': 'node',
  '/v1/nodes/:node/processes/:pid/maps/watch': 'node',
  '/v1/nodes/:node/processes/:pid/histogram': 'node',
  '/v1/maps': 'fleet',
  '/v1/audit': 'fleet',
  '/v1/histograms': 'fleet',
  '/v1/jobs/slurm/:id/memory': 'fleet',
};

/** The policy of a route template (undefined: no route matched). */
export function policyFor(url: string | undefined): RoutePolicy {
  if (url === undefined) return 'read';
  const p = ROUTE_POLICIES[url];
  if (p) return p;
  // Swagger UI and its static assets: documentation, no data.
  if (url === '/docs' || url.startsWith('/docs/')) return 'public';
  return 'read';
}

/** Routes whose answers may name a process's memory (audited, redacted). */
export const WATCH_ROUTE = '/v1/nodes/:node/processes/:pid/maps/watch';
