/**
 * The per-request context (AsyncLocalStorage), entered by the security hook for the whole request:
 * request id, principal, client address, route. Read by the agent-call interceptor (request id
 * into gRPC metadata, redaction, audit lines) without threading it through every service.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Principal } from './tokens';

export interface RequestStore {
  requestId: string;
  principal: Principal;
  ip: string;
  /** Route template ("/v1/nodes/:node/processes/:pid/maps"), "unmatched" for 404s. */
  route: string;
  /** Command lines and paths are redacted in agent answers. */
  redact: boolean;
  /** A fleet route: agent calls count as fan-out outcomes. */
  fanout: boolean;
}

const als = new AsyncLocalStorage<RequestStore>();

export function requestStore(): RequestStore | undefined {
  return als.getStore();
}

export function runWithStore<T>(store: RequestStore, fn: () => T): T {
  return als.run(store, fn);
}
