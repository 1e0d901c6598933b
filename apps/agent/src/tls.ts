/**
 * Mutual TLS for the agent: the CA, server certificate and key come from files that are watched
 * and reloaded when they change (a new pair is validated before it replaces the old one), and an
 * allow-list of client identities (subject alternative names) is enforced on every call.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext } from 'node:tls';
import {
  experimental,
  ServerInterceptingCall,
  status,
  type ServerCredentials,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import type { Logger } from './logger';

export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

interface Loaded {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

type CaListener = experimental.CaCertificateUpdateListener;
type IdListener = experimental.IdentityCertificateUpdateListener;

/** Reads the three files and checks they form a usable context (key matches cert, PEM parses). */
export function loadTlsFiles(files: TlsFiles): Loaded {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new Error(`cannot read the TLS ${what} '${path}': ${(e as Error).message}`);
    }
  };
  const loaded = {
    cert: read('certificate', files.cert),
    key: read('key', files.key),
    ca: read('CA', files.ca),
  };
  try {
    createSecureContext(loaded);
  } catch (e) {
    throw new Error(
      `TLS files ${files.cert}, ${files.key}, ${files.ca} are not usable: ${(e as Error).message}`,
    );
  }
  return loaded;
}

/**
 * A grpc-js CertificateProvider over files, polled with fs.watchFile (stat only, every
 * `intervalMs`): when any file changes, all three are re-read and validated; a valid set replaces
 * the old one for new connections, an invalid one (e.g. a half-written update) is logged and the
 * previous certificates stay in use.
 */
export class ReloadingCertificateProvider implements experimental.CertificateProvider {
  private current: Loaded;
  private readonly caListeners = new Set<CaListener>();
  private readonly idListeners = new Set<IdListener>();
  private watching = false;
  /** Reloads so far (for logs and tests). */
  reloads = 0;

  constructor(
    private readonly files: TlsFiles,
    private readonly intervalMs: number,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
  ) {
    this.current = loadTlsFiles(files);
    this.watch();
  }

  private readonly onChange = (): void => {
    let next: Loaded;
    try {
      next = loadTlsFiles(this.files);
    } catch (e) {
      this.log.warn(
        { err: (e as Error).message },
        'TLS files changed but are not usable: keeping the previous certificates',
      );
      return;
    }
    if (
      next.cert.equals(this.current.cert) &&
      next.key.equals(this.current.key) &&
      next.ca.equals(this.current.ca)
    )
      return;
    this.current = next;
    this.reloads++;
    this.log.info({ cert: this.files.cert, ca: this.files.ca }, 'TLS certificates reloaded');
    for (const l of this.caListeners) l({ caCertificate: next.ca });
    for (const l of this.idListeners) l({ certificate: next.cert, privateKey: next.key });
  };

  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    for (const f of new Set([this.files.cert, this.files.key, this.files.ca])) {
      watchFile(f, { interval: this.intervalMs, persistent: false }, this.onChange);
    }
  }

  close(): void {
    if (!this.watching) return;
    this.watching = false;
    for (const f of new Set([this.files.cert, this.files.key, this.files.ca]))
      unwatchFile(f, this.onChange);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    const ca = this.current.ca;
    process.nextTick(() => listener({ caCertificate: ca }));
  }
  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdListener): void {
    this.idListeners.add(listener);
    const { cert, key } = this.current;
    process.nextTick(() => listener({ certificate: cert, privateKey: key }));
  }
  removeIdentityCertificateListener(listener: IdListener): void {
    this.idListeners.delete(listener);
  }
}

/** Server credentials that require a client certificate signed by the CA (both reloaded). */
export function mtlsServerCredentials(provider: ReloadingCertificateProvider): ServerCredentials {
  // Same provider for CA and identity (the argument names of this experimental API are swapped
  // in grpc-js 1.14, so one provider for both avoids depending on their order).
  return experimental.createCertificateProviderServerCredentials(provider, provider, true);
}

/**
 * The SAN entries of a certificate as Node prints them ("DNS:gateway, URI:spiffe://pmapd/gw,
 * IP Address:10.0.0.1"), normalised to TYPE:value with IP for "IP Address".
 */
export function parseSubjectAltNames(san: string | undefined): string[] {
  if (!san) return [];
  return san
    .split(/,\s*(?=(?:DNS|URI|IP Address|email|othername|DirName|Registered ID):)/)
    .map((s) => s.trim().replace(/^IP Address:/, 'IP:'))
    .map((s) => {
      const i = s.indexOf(':');
      const v = s.slice(i + 1);
      // Node quotes values with special characters as JSON strings.
      return v.startsWith('"') ? `${s.slice(0, i)}:${JSON.parse(v) as string}` : s;
    })
    .filter((s) => s.length > 0);
}

/**
 * Allow-list entries: "TYPE:value" (DNS:gateway, URI:spiffe://pmapd/gateway, IP:10.0.0.7) match
 * that SAN exactly; "*" accepts any certificate the CA signed.
 */
export function sanAllowed(allow: readonly string[], sans: readonly string[]): boolean {
  if (allow.includes('*')) return true;
  return sans.some((s) => allow.includes(s));
}

/**
 * The allow-list check as a server interceptor: a call whose client certificate carries none of
 * the allowed SANs is refused with PERMISSION_DENIED before any handler runs (health included).
 */
export function clientIdentityInterceptor(
  allow: readonly string[],
  log: Pick<Logger, 'warn'>,
): ServerInterceptor {
  const refusedPeers = new Set<string>();
  return (_method, call) => {
    const cert = call.getAuthContext()?.sslPeerCertificate;
    const sans = parseSubjectAltNames(cert?.subjectaltname);
    if (cert && sanAllowed(allow, sans)) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) => {
        const peer = call.getPeer();
        if (!refusedPeers.has(peer)) {
          refusedPeers.add(peer);
          if (refusedPeers.size > 1000) refusedPeers.clear();
          log.warn({ peer, sans }, 'client identity not in the allow-list: calls refused');
        }
        next({
          onReceiveMetadata: () => {
            call.sendStatus({
              code: status.PERMISSION_DENIED,
              details: `client identity ${sans.join(', ') || '(no SAN)'} is not allowed by this agent (--allow-client)`,
            });
          },
        });
      },
    });
  };
}
