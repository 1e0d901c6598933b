/**
 * Bearer tokens: the configuration holds only SHA-256 hashes; a presented token is hashed and
 * compared with every stored hash in constant time (no early exit, timingSafeEqual).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthConfig } from './security-config';

export type Scope = 'read' | 'fleet' | 'unredacted' | 'metrics';

/** Who is asking, and what they may do. */
export interface Principal {
  /** Token name, or "anonymous" when the gateway runs without tokens. */
  name: string;
  authenticated: boolean;
  scopes: ReadonlySet<string>;
  /** Per-node read scopes ("read:node=GLOB") as regular expressions. */
  nodePatterns: readonly RegExp[];
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

export function principalOf(
  name: string,
  scopes: readonly string[],
  authenticated = true,
): Principal {
  const nodePatterns = scopes
    .filter((s) => s.startsWith('read:node='))
    .map((s) => globToRegExp(s.slice('read:node='.length)));
  return { name, authenticated, scopes: new Set(scopes), nodePatterns };
}

/** Everything allowed: the gateway runs without tokens (loopback or --allow-unauthenticated). */
export const ANONYMOUS: Principal = principalOf(
  'anonymous',
  ['read', 'fleet', 'unredacted', 'metrics'],
  false,
);

export function hasScope(p: Principal, scope: Scope): boolean {
  return p.scopes.has(scope);
}

/** `read`, or a `read:node=` pattern matching the node. */
export function canReadNode(p: Principal, node: string): boolean {
  return p.scopes.has('read') || p.nodePatterns.some((r) => r.test(node));
}

/** Any read scope at all (node lists). */
export function canReadSomeNode(p: Principal): boolean {
  return p.scopes.has('read') || p.nodePatterns.length > 0;
}

export class TokenStore {
  private readonly entries: { hash: Buffer; principal: Principal }[];

  constructor(auth: AuthConfig | undefined) {
    this.entries = (auth?.tokens ?? []).map((t) => ({
      hash: Buffer.from(t.sha256, 'hex'),
      principal: principalOf(t.name, t.scopes),
    }));
  }

  get enabled(): boolean {
    return this.entries.length > 0;
  }

  /** The principal of a presented token, or undefined. Constant time in the token's content. */
  verify(token: string): Principal | undefined {
    const h = createHash('sha256').update(token, 'utf8').digest();
    let found: Principal | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(h, e.hash) && !found) found = e.principal;
    }
    return found;
  }
}

/** "Bearer X" -> X; undefined when the header is absent; null when it is not a bearer token. */
export function bearerToken(header: string | undefined): string | undefined | null {
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+([\x21-\x7e]{1,4096})\s*$/i.exec(header);
  return m ? m[1] : null;
}
