/**
 * TLS material from files (CA, certificate, key), validated and watched: the file-watching
 * certificate provider the agent (server side) and the gateway (client side) both hand to
 * grpc-js. It matches grpc-js's CertificateProvider structurally, so this library does not
 * depend on gRPC.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext } from 'node:tls';

export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

export interface LoadedTlsFiles {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** The two log levels the provider uses (a pino logger fits). */
export interface TlsReloadLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export type CaCertificateListener = (update: { caCertificate: Buffer }) => void;
export type IdentityCertificateListener = (update: {
  certificate: Buffer;
  privateKey: Buffer;
}) => void;

/** Reads the three files and checks they form a usable context (key matches cert, PEM parses). */
export function loadTlsFiles(files: TlsFiles): LoadedTlsFiles {
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
 * A certificate provider over files, polled with fs.watchFile (stat only, every `intervalMs`):
 * when any file changes, all three are re-read and validated; a valid set replaces the old one
 * for new connections, an invalid one (e.g. a half-written update) is logged and the previous
 * certificates stay in use.
 */
export class ReloadingCertificateProvider {
  private current: LoadedTlsFiles;
  private readonly caListeners = new Set<CaCertificateListener>();
  private readonly idListeners = new Set<IdentityCertificateListener>();
  private readonly paths: string[];
  private watching = false;
  /** Reloads so far (for logs and tests). */
  reloads = 0;

  constructor(
    private readonly files: TlsFiles,
    private readonly intervalMs: number,
    private readonly log: TlsReloadLog,
  ) {
    this.current = loadTlsFiles(files);
    this.paths = [...new Set([files.cert, files.key, files.ca])];
    this.watch();
  }

  private readonly onChange = (): void => {
    let next: LoadedTlsFiles;
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
    this.reloads++;
    this.log.info({ cert: this.files.cert, ca: this.files.ca }, 'TLS certificates reloaded');
    for (const l of this.caListeners) l({ caCertificate: next.ca });
    for (const l of this.idListeners) l({ certificate: next.cert, privateKey: next.key });
  };

  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    for (const f of this.paths) {
      watchFile(f, { interval: this.intervalMs, persistent: false }, this.onChange);
    }
  }

  close(): void {
    if (!this.watching) return;
    this.watching = false;
    for (const f of this.paths) unwatchFile(f, this.onChange);
  }

  addCaCertificateListener(listener: CaCertificateListener): void {
    this.caListeners.add(listener);
    const ca = this.current.ca;
    process.nextTick(() => listener({ caCertificate: ca }));
  }
  removeCaCertificateListener(listener: CaCertificateListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdentityCertificateListener): void {
    this.idListeners.add(listener);
    const { cert, key } = this.current;
    process.nextTick(() => listener({ certificate: cert, privateKey: key }));
  }
  removeIdentityCertificateListener(listener: IdentityCertificateListener): void {
    this.idListeners.delete(listener);
  }
}
