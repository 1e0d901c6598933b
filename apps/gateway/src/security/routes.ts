/**
 * Every route the Fastify instance registers (Nest controllers, Swagger UI, /openapi.json), seen
 * through an onRoute hook installed before any route exists. The auth coverage test compares this
 * list with its table of expectations.
 */
import type { FastifyInstance } from 'fastify';

export interface RegisteredRoute {
  method: string;
  url: string;
}

const ROUTES = new WeakMap<object, RegisteredRoute[]>();

export function trackRoutes(fastify: FastifyInstance): void {
  const list: RegisteredRoute[] = [];
  ROUTES.set(fastify, list);
  fastify.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    for (const m of methods) list.push({ method: String(m), url: r.url });
  });
}

/** The routes registered so far on this instance (empty when not tracked). */
export function registeredRoutes(fastify: object): RegisteredRoute[] {
  return [...(ROUTES.get(fastify) ?? [])];
}
