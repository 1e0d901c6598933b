/**
 * Mutual TLS from the gateway to the agents: the CA (of the agents' certificates), the gateway's
 * client certificate and key come from files, watched and reloaded when they change (a new set is
 * validated before it replaces the old; new connections use it).
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { experimental, type ChannelCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AgentTlsConfig } from './security-config';

interface Loaded {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

type CaListener = experimental.CaCertificateUpdateListener;
type IdListener = experimental.IdentityCertificateUpdateListener;

export function loadTlsFiles(files: { cert: string; key: string; ca: string }): Loaded {
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

/** A grpc-js CertificateProvider over files polled with fs.watchFile. */
export class ReloadingCertificateProvider implements experimental.CertificateProvider {
  private current: Loaded;
  private readonly caListeners = new Set<CaListener>();
  private readonly idListeners = new Set<IdListener>();
  private readonly paths: string[];

  constructor(
    private readonly files: { cert: string; key: string; ca: string },
    intervalMs: number,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
  ) {
    this.current = loadTlsFiles(files);
    this.paths = [...new Set([files.cert, files.key, files.ca])];
    for (const f of this.paths) {
      watchFile(f, { interval: intervalMs, persistent: false }, this.onChange);
    }
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
    const c = this.current;
    if (next.cert.equals(c.cert) && next.key.equals(c.key) && next.ca.equals(c.ca)) return;
    this.current = next;
    this.log.info({ cert: this.files.cert, ca: this.files.ca }, 'TLS certificates reloaded');
    for (const l of this.caListeners) l({ caCertificate: next.ca });
    for (const l of this.idListeners) l({ certificate: next.cert, privateKey: next.key });
  };

  close(): void {
    for (const f of this.paths) unwatchFile(f, this.onChange);
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
