/**
 * Test certificates made with the openssl CLI (EC P-256, fast): a CA, leaf certificates with chosen
 * subject alternative names, signed by that CA, optionally already expired (`openssl ca` with an
 * explicit validity window in the past).
 *
 *   const pki = new TestPki();            // a temp dir
 *   const ca = pki.ca('test-ca');
 *   const server = pki.issue(ca, 'agent', ['IP:127.0.0.3']);
 *   const client = pki.issue(ca, 'gateway', ['URI:spiffe://pmapd/gateway']);
 *   pki.cleanup();
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  name: string;
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export class TestPki {
  readonly dir: string;
  private serial = 1;

  constructor(dir?: string) {
    this.dir = dir ?? mkdtempSync(join(tmpdir(), 'pmapd-pki-'));
  }

  /** A self-signed CA valid for ten years. */
  ca(name: string): CertFiles {
    const cert = join(this.dir, `${name}.pem`);
    const key = join(this.dir, `${name}.key`);
    openssl(
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', key, '-out', cert, '-days', '3650', '-subj', `/CN=${name}`,
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ],
      this.dir,
    ); // prettier-ignore
    return { name, cert, key };
  }

  /**
   * A leaf certificate for `sans` (e.g. ["IP:127.0.0.3", "DNS:gateway", "URI:spiffe://x"]) signed
   * by `ca`, for both server and client use. `expired`: valid only during two days of 2020.
   */
  issue(ca: CertFiles, name: string, sans: string[], opts: { expired?: boolean } = {}): CertFiles {
    const cert = join(this.dir, `${name}.pem`);
    const key = join(this.dir, `${name}.key`);
    const csr = join(this.dir, `${name}.csr`);
    const ext = join(this.dir, `${name}.ext`);
    const san = sans.join(',');
    openssl(
      [
        'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', key, '-out', csr, '-subj', `/CN=${name}`,
        ...(san ? ['-addext', `subjectAltName=${san}`] : []),
      ],
      this.dir,
    ); // prettier-ignore
    writeFileSync(
      ext,
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth,clientAuth',
        ...(san ? [`subjectAltName=${san}`] : []),
      ].join('\n') + '\n',
    );
    if (opts.expired) {
      const db = join(this.dir, `db-${name}`);
      mkdirSync(db, { recursive: true });
      writeFileSync(join(db, 'index.txt'), '');
      writeFileSync(join(db, 'serial'), `${(this.serial++).toString(16).padStart(2, '0')}\n`);
      const cnf = join(db, 'ca.cnf');
      writeFileSync(
        cnf,
        `[ca]\ndefault_ca=c\n[c]\ndatabase=${db}/index.txt\nnew_certs_dir=${db}\nserial=${db}/serial\n` +
          `default_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n`,
      );
      openssl(
        [
          'ca', '-batch', '-config', cnf, '-cert', ca.cert, '-keyfile', ca.key, '-in', csr,
          '-out', cert, '-notext', '-extfile', ext,
          '-startdate', '20200101000000Z', '-enddate', '20200103000000Z',
        ],
        this.dir,
      ); // prettier-ignore
    } else {
      openssl(
        [
          'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key,
          '-set_serial', String(1000 + this.serial++), '-days', '30', '-out', cert, '-extfile', ext,
        ],
        this.dir,
      ); // prettier-ignore
    }
    return { name, cert, key };
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The agent flags of mutual TLS: its certificate, the CA it trusts, the client names it allows. */
export function agentTlsArgs(server: CertFiles, ca: CertFiles, allowClient: string): string[] {
  return [
    '--tls-cert',
    server.cert,
    '--tls-key',
    server.key,
    '--tls-ca',
    ca.cert,
    '--allow-client',
    allowClient,
  ];
}
