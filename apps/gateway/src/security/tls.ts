/**
 * Mutual TLS from the gateway to the agents: the CA (of the agents' certificates), the gateway's
 * client certificate and key come from files, watched and reloaded when they change (a new set is
 * validated before it replaces the old; new connections use it).
 */
import { experimental, type ChannelCredentials } from '@grpc/grpc-js';
import { ReloadingCertificateProvider } from '@app/tls';
import type { Logger } from 'pino';
import type { AgentTlsConfig } from './security-config';

export function mtlsChannelCredentials(
  tls: AgentTlsConfig,
  log: Pick<Logger, 'info' | 'warn'>,
): { credentials: ChannelCredentials; provider: ReloadingCertificateProvider } {
  const provider = new ReloadingCertificateProvider(tls, tls.reloadIntervalMs ?? 5000, log);
  return {
    credentials: experimental.createCertificateProviderChannelCredentials(provider, provider),
    provider,
  };
}
