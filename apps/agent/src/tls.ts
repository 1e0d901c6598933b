/**
 * Mutual TLS for the agent: the CA, server certificate and key come from files that are watched
 * and reloaded when they change (a new pair is validated before it replaces the old one), and an
 * allow-list of client identities (subject alternative names) is enforced on every call.
 */
import {
  experimental,
  ServerInterceptingCall,
  status,
  type ServerCredentials,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import type { ReloadingCertificateProvider } from '@app/tls';
import { grpcStatus } from './errors';
import type { Logger } from './logger';

/** Server credentials that require a client certificate signed by the CA (both reloaded). */
export function mtlsServerCredentials(provider: ReloadingCertificateProvider): ServerCredentials {
  // Same provider for CA and identity (the argument names of this experimental API are swapped
  // in grpc-js 1.14, so one provider for both avoids depending on their order).
  return experimental.createCertificateProviderServerCredentials(provider, provider, true);
}

/**
 * The client certificate of a call, or undefined when none was presented — or when the
 * connection is already gone: grpc-js reads it from the TLS socket on every call of
 * getAuthContext() and throws once that socket is destroyed (a client that went away while the
 * agent was stopped or busy), which must cost that call's log line its client, not the agent.
 */
export function clientCertificate(
  call: Pick<ServerInterceptingCallInterface, 'getAuthContext'>,
): PeerCertificate | undefined {
  try {
    return call.getAuthContext()?.sslPeerCertificate;
  } catch {
    return undefined;
  }
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
    const cert = clientCertificate(call);
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
            call.sendStatus(
              grpcStatus(
                status.PERMISSION_DENIED,
                `client identity ${sans.join(', ') || '(no SAN)'} is not allowed by this agent (--allow-client)`,
                'CLIENT_NOT_ALLOWED',
              ),
            );
          },
        });
      },
    });
  };
}
