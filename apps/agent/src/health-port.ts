/**
 * --health-listen: a second, plaintext gRPC server carrying only grpc.health.v1, sharing the main
 * server's health status (NOT_SERVING during shutdown). Kubernetes gRPC probes present no client
 * certificate, so they cannot use the mTLS port; this port reveals nothing but SERVING/NOT_SERVING.
 * Also the capability report the agent logs at start.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { HealthImplementation } from 'grpc-health-check';

export class HealthPort {
  private readonly server = new grpc.Server();
  address = '';

  constructor(health: HealthImplementation) {
    health.addToServer(this.server);
  }

  async start(host: string, port: number): Promise<string> {
    const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const bound = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      );
    });
    this.address = host.includes(':') ? `[${host}]:${bound}` : `${host}:${bound}`;
    return this.address;
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

/** Linux capability numbers the agent cares about. */
const CAPS = { CAP_DAC_READ_SEARCH: 2, CAP_SYS_PTRACE: 19, CAP_SYS_ADMIN: 21 } as const;

/** The effective capabilities of this process among CAP_SYS_PTRACE/SYS_ADMIN/DAC_READ_SEARCH. */
export function effectiveCapabilities(statusText?: string): Record<keyof typeof CAPS, boolean> {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      text = '';
    }
  }
  const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(text);
  const eff = m ? BigInt(`0x${m[1]}`) : 0n;
  const has = (bit: number): boolean => ((eff >> BigInt(bit)) & 1n) === 1n;
  return {
    CAP_DAC_READ_SEARCH: has(CAPS.CAP_DAC_READ_SEARCH),
    CAP_SYS_PTRACE: has(CAPS.CAP_SYS_PTRACE),
    CAP_SYS_ADMIN: has(CAPS.CAP_SYS_ADMIN),
  };
}

/**
 * What the agent can and cannot read, from its effective capabilities and the probe's findings:
 * `can` and `cannot` lists of short sentences for the startup log line.
 */
export function readabilityReport(
  caps: Record<keyof typeof CAPS, boolean>,
  probe: { readOtherUsers: boolean; pfnsReadable: boolean },
  uid: number | undefined,
): { can: string[]; cannot: string[] } {
  const can = ['maps, smaps and rollups of processes of its own user'];
  const cannot: string[] = [];
  const root = uid === 0;
  if (probe.readOtherUsers) can.push("maps, smaps and rollups of other users' processes");
  else cannot.push("maps/smaps of other users' processes (needs CAP_SYS_PTRACE)");
  if (root || caps.CAP_DAC_READ_SEARCH) can.push("pagemap (histograms) of other users' processes");
  else
    cannot.push(
      "pagemap (histograms) of other users' processes (mode 0400: needs CAP_DAC_READ_SEARCH)",
    );
  if (probe.pfnsReadable) can.push('page frame numbers (physical histograms)');
  else cannot.push('page frame numbers: physical histograms (needs CAP_SYS_ADMIN)');
  return { can, cannot };
}
