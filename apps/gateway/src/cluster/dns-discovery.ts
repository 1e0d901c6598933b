import { lookup, resolve4, resolve6, resolveSrv } from 'node:dns/promises';
import type { DnsDiscoveryConfig } from '../config/gateway-config';

export interface DiscoveredAgent {
  /** The node name: the IP address (A/AAAA) or the SRV target. */
  name: string;
  address: string;
}

const NO_RECORDS = new Set([
  'ENODATA',
  'ENOTFOUND',
  'ESERVFAIL',
  'ECONNREFUSED',
  'ETIMEOUT',
  'EREFUSED',
]);

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

async function records(query: () => Promise<string[]>): Promise<string[]> {
  try {
    return await query();
  } catch (e) {
    if (NO_RECORDS.has((e as NodeJS.ErrnoException).code ?? '')) return [];
    throw e;
  }
}

/**
 * Resolves the agents behind a DNS name. A/AAAA through resolve4/resolve6 (the DNS servers); when
 * the servers know no such name, the system resolver (getaddrinfo: /etc/hosts, so `localhost`
 * works). SRV (`srv: true`) through resolveSrv, each target:port one agent.
 */
export async function discover(cfg: DnsDiscoveryConfig): Promise<DiscoveredAgent[]> {
  if (cfg.srv) {
    const srv = await resolveSrv(cfg.name);
    return srv
      .map((r) => ({ name: r.name, address: `${r.name}:${r.port}` }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }
  const port = cfg.port!;
  const [v4, v6] = await Promise.all([
    records(() => resolve4(cfg.name)),
    records(() => resolve6(cfg.name)),
  ]);
  let ips = [...v4, ...v6];
  if (ips.length === 0) {
    const all = await lookup(cfg.name, { all: true });
    ips = all.map((a) => a.address);
  }
  return [...new Set(ips)].sort().map((ip) => ({ name: ip, address: hostPort(ip, port) }));
}
