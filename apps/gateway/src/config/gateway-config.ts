import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  validateSync,
  type ValidationError,
} from 'class-validator';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import {
  AgentTlsConfig,
  AuthConfig,
  isLoopbackHost,
  LimitsConfig,
} from '../security/security-config';
import { IntBetween, NonEmptyString, OptionalInt, OptionalSection, Section } from './config-fields';

/** host:port, [v6]:port; port 0..65535. */
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/** One statically configured agent. */
export class NodeConfig {
  @IsString()
  @Matches(/^[A-Za-z0-9_.:-]{1,253}$/, {
    message: 'name must be 1-253 characters of letters, digits, "_", ".", ":" or "-"',
  })
  name!: string;

  @IsString()
  @Matches(HOST_PORT, { message: 'address must be host:port' })
  address!: string;

  @IsOptional()
  @IsObject()
  labels?: Record<string, string>;
}

export class DnsDiscoveryConfig {
  /** The DNS name whose A/AAAA (or SRV) records list the agents. */
  @NonEmptyString()
  name!: string;

  /** The agents' port (ignored with SRV: the records carry it). */
  @OptionalInt(1, 65535)
  port?: number;

  @OptionalInt(100, 86_400_000)
  intervalMs?: number;

  /** Query SRV records instead of A/AAAA. */
  @IsOptional()
  @IsBoolean()
  srv?: boolean;

  @IsOptional()
  @IsObject()
  labels?: Record<string, string>;
}

export class DiscoveryConfig {
  @OptionalSection(() => DnsDiscoveryConfig)
  dns?: DnsDiscoveryConfig;
}

/** Settings the YAML file and the resolved configuration both carry, validated alike. */
export class SharedSettings {
  /** Fleet queries: nodes queried at once (default 64). */
  @OptionalInt(1, 4096)
  fanoutConcurrency?: number;

  /**
   * Bearer tokens (security/security-config.ts, docs/security.md); absent = no authentication
   * (loopback or --allow-unauthenticated only).
   */
  @OptionalSection(() => AuthConfig)
  auth?: AuthConfig;

  @OptionalSection(() => LimitsConfig)
  limits?: LimitsConfig;

  /** Mutual TLS to the agents; absent = plaintext (agents on loopback only). */
  @OptionalSection(() => AgentTlsConfig)
  tls?: AgentTlsConfig;
}

/** The YAML file (--config). Timing keys may also be given here; flags/env win. */
export class ConfigFile extends SharedSettings {
  @OptionalSection(() => NodeConfig, true)
  nodes?: NodeConfig[];

  @OptionalSection(() => DiscoveryConfig)
  discovery?: DiscoveryConfig;

  @OptionalInt(100, 3_600_000)
  healthIntervalMs?: number;

  @OptionalInt(10, 60_000)
  healthTimeoutMs?: number;

  @OptionalInt(1000, 86_400_000)
  nodeInfoMaxAgeMs?: number;

  @OptionalInt(1, 600_000)
  requestTimeoutMs?: number;
}

/** The validated configuration the gateway runs with. */
export class GatewayConfig extends SharedSettings {
  @IsString()
  @Matches(HOST_PORT, { message: 'listen must be host:port (port 0 picks a free port)' })
  listen!: string;

  @IsOptional()
  @IsString()
  configFile?: string;

  @Section(() => NodeConfig, true)
  nodes!: NodeConfig[];

  @OptionalSection(() => DnsDiscoveryConfig)
  dns?: DnsDiscoveryConfig;

  @IntBetween(100, 3_600_000)
  healthIntervalMs!: number;

  @IntBetween(10, 60_000)
  healthTimeoutMs!: number;

  /** A node's GetNodeInfo (VE node states, process counts) is re-read once it is this old. */
  @IntBetween(1000, 86_400_000)
  nodeInfoMaxAgeMs!: number;

  @IntBetween(1, 600_000)
  requestTimeoutMs!: number;

  @IsIn(['debug', 'info', 'warn', 'error'])
  logLevel!: 'debug' | 'info' | 'warn' | 'error';

  /** Serve without tokens on a non-loopback address (--allow-unauthenticated). */
  @IsOptional()
  @IsBoolean()
  allowUnauthenticated?: boolean;
}

export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');

export const DEFAULTS = {
  listen: '127.0.0.1:8080',
  agent: '127.0.0.1:50051',
  nodeName: 'local',
  healthIntervalMs: 5000,
  healthTimeoutMs: 2000,
  nodeInfoMaxAgeMs: 60_000,
  requestTimeoutMs: 10_000,
  dnsIntervalMs: 30_000,
  logLevel: 'info',
  fanoutConcurrency: 64,
} as const;

/** Flags and their environment variables (PMAPD_GATEWAY_*). */
const OPTIONS: Record<string, { env: string; kind: 'string' | 'int' | 'bool' }> = {
  listen: { env: 'PMAPD_GATEWAY_LISTEN', kind: 'string' },
  config: { env: 'PMAPD_GATEWAY_CONFIG', kind: 'string' },
  agent: { env: 'PMAPD_GATEWAY_AGENT', kind: 'string' },
  'node-name': { env: 'PMAPD_GATEWAY_NODE_NAME', kind: 'string' },
  'health-interval-ms': { env: 'PMAPD_GATEWAY_HEALTH_INTERVAL_MS', kind: 'int' },
  'health-timeout-ms': { env: 'PMAPD_GATEWAY_HEALTH_TIMEOUT_MS', kind: 'int' },
  'node-info-max-age-ms': { env: 'PMAPD_GATEWAY_NODE_INFO_MAX_AGE_MS', kind: 'int' },
  'request-timeout-ms': { env: 'PMAPD_GATEWAY_REQUEST_TIMEOUT_MS', kind: 'int' },
  'log-level': { env: 'PMAPD_GATEWAY_LOG_LEVEL', kind: 'string' },
  'fanout-concurrency': { env: 'PMAPD_GATEWAY_FANOUT_CONCURRENCY', kind: 'int' },
  'export-openapi': { env: 'PMAPD_GATEWAY_EXPORT_OPENAPI', kind: 'string' },
  'tls-ca': { env: 'PMAPD_GATEWAY_TLS_CA', kind: 'string' },
  'tls-cert': { env: 'PMAPD_GATEWAY_TLS_CERT', kind: 'string' },
  'tls-key': { env: 'PMAPD_GATEWAY_TLS_KEY', kind: 'string' },
  'tls-server-name': { env: 'PMAPD_GATEWAY_TLS_SERVER_NAME', kind: 'string' },
  'allow-unauthenticated': { env: 'PMAPD_GATEWAY_ALLOW_UNAUTHENTICATED', kind: 'bool' },
  'list-routes': { env: 'PMAPD_GATEWAY_LIST_ROUTES', kind: 'bool' },
};

export const USAGE = `usage: node dist/apps/gateway/src/main.js [options]
  --listen HOST:PORT          REST listen address (default ${DEFAULTS.listen}; port 0 = any free port)
  --config FILE               YAML cluster file (nodes, discovery, timings)
  --agent HOST:PORT           without --config: the single agent (default ${DEFAULTS.agent})
  --node-name NAME            without --config: that agent's node name (default "${DEFAULTS.nodeName}")
  --health-interval-ms N      agent health check period (default ${DEFAULTS.healthIntervalMs})
  --health-timeout-ms N       deadline of one health check (default ${DEFAULTS.healthTimeoutMs})
  --node-info-max-age-ms N    re-read a node's info (VE states, counts) this often (default ${DEFAULTS.nodeInfoMaxAgeMs})
  --request-timeout-ms N      default deadline of calls to agents (default ${DEFAULTS.requestTimeoutMs})
  --log-level LEVEL           debug|info|warn|error (default ${DEFAULTS.logLevel})
  --fanout-concurrency N      fleet queries: nodes queried at once (default ${DEFAULTS.fanoutConcurrency})
  --export-openapi FILE       write the OpenAPI document to FILE and exit
  --tls-ca FILE               mutual TLS to the agents: CA of their certificates (with --tls-cert/--tls-key)
  --tls-cert FILE             the gateway's client certificate (PEM)
  --tls-key FILE              its private key (PEM)
  --tls-server-name NAME      check agent certificates against NAME instead of the address's host
  --allow-unauthenticated     serve without bearer tokens on a non-loopback --listen address
  --list-routes               print every registered route as JSON lines {method, url, policy} and exit
  --version                   print the version and exit (whatever else is given)
Subcommand: main.js hash-token [TOKEN]   print the sha256 to put in auth.tokens (TOKEN or stdin)
Every option can also be given as PMAPD_GATEWAY_<NAME> (e.g. PMAPD_GATEWAY_LISTEN); flags win.`;

/** Prints the version and exits, before (and whatever) the rest of the configuration. */
export const VERSION_FLAG = '--version';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid gateway configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

export interface ParsedArgs {
  values: Record<string, string>;
  help: boolean;
}

/** Parses `--name value` / `--name=value` flags; unknown flags are configuration errors. */
export function parseArgs(argv: string[]): ParsedArgs {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg === VERSION_FLAG) continue; // answered by main.ts before any configuration is read
    if (!arg.startsWith('--')) {
      problems.push(`unexpected argument '${arg}'`);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (!(name in OPTIONS)) {
      problems.push(`unknown option '--${name}'`);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (OPTIONS[name].kind === 'bool') value = 'true';
    else if (i + 1 < argv.length) value = argv[++i];
    if (value === undefined) {
      problems.push(`option '--${name}' needs a value`);
      continue;
    }
    values[name] = value;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { values, help };
}

function flattenErrors(errors: ValidationError[], prefix = ''): string[] {
  const out: string[] = [];
  for (const e of errors) {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    for (const msg of Object.values(e.constraints ?? {})) out.push(`${path}: ${msg}`);
    if (e.children && e.children.length > 0) out.push(...flattenErrors(e.children, path));
  }
  return out;
}

function intOption(name: string, text: string | undefined, problems: string[]): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,10}$/.test(text)) {
    problems.push(`${name}: expected a non-negative integer, got '${text}'`);
    return undefined;
  }
  return Number(text);
}

/** Reads and validates the YAML cluster file; validation problems are appended to `problems`. */
export function loadConfigFile(path: string, problems: string[]): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`config: cannot read '${path}': ${(e as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError([`config: '${path}' is not valid YAML: ${(e as Error).message}`]);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([`config: '${path}' must be a mapping with 'nodes' and/or 'discovery'`]);
  }
  const file = plainToInstance(ConfigFile, raw);
  problems.push(
    ...flattenErrors(validateSync(file, { whitelist: true, forbidNonWhitelisted: true }), 'config'),
  );
  for (const [i, n] of (file.nodes ?? []).entries()) {
    for (const [k, v] of Object.entries(n.labels ?? {})) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
        problems.push(`config.nodes.${i}.labels.${k}: label values must be scalars`);
      } else n.labels![k] = String(v);
    }
  }
  return file;
}

/**
 * The one configuration validation at boot: flags > PMAPD_GATEWAY_* environment > YAML file >
 * defaults. Throws ConfigError listing every problem.
 */
export function resolveConfig(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): { config: GatewayConfig; help: boolean; exportOpenApi?: string; listRoutes?: boolean } {
  const args = parseArgs(argv);
  const get = (name: string): string | undefined => {
    const v = args.values[name] ?? env[OPTIONS[name].env];
    return v === '' ? undefined : v;
  };
  const problems: string[] = [];
  const configFile = get('config');
  const file = configFile ? loadConfigFile(configFile, problems) : undefined;

  let nodes: NodeConfig[];
  if (file) {
    if (get('agent') !== undefined) problems.push('--agent cannot be combined with --config');
    nodes = file.nodes ?? [];
    if (nodes.length === 0 && !file.discovery?.dns) {
      problems.push('config: no nodes and no discovery: nothing to serve');
    }
    const seen = new Set<string>();
    for (const n of nodes) {
      if (seen.has(n.name)) problems.push(`config.nodes: duplicate node name '${n.name}'`);
      seen.add(n.name);
    }
  } else {
    nodes = [
      plainToInstance(NodeConfig, {
        name: get('node-name') ?? DEFAULTS.nodeName,
        address: get('agent') ?? DEFAULTS.agent,
        labels: {},
      }),
    ];
  }
  const dns = file?.discovery?.dns;
  if (dns) {
    if (!dns.srv && dns.port === undefined) {
      problems.push('config.discovery.dns.port: required unless srv is true');
    }
    dns.intervalMs ??= DEFAULTS.dnsIntervalMs;
  }

  const config = plainToInstance(GatewayConfig, {
    listen: get('listen') ?? DEFAULTS.listen,
    configFile,
    nodes,
    dns,
    healthIntervalMs:
      intOption('health-interval-ms', get('health-interval-ms'), problems) ??
      file?.healthIntervalMs ??
      DEFAULTS.healthIntervalMs,
    healthTimeoutMs:
      intOption('health-timeout-ms', get('health-timeout-ms'), problems) ??
      file?.healthTimeoutMs ??
      DEFAULTS.healthTimeoutMs,
    nodeInfoMaxAgeMs:
      intOption('node-info-max-age-ms', get('node-info-max-age-ms'), problems) ??
      file?.nodeInfoMaxAgeMs ??
      DEFAULTS.nodeInfoMaxAgeMs,
    requestTimeoutMs:
      intOption('request-timeout-ms', get('request-timeout-ms'), problems) ??
      file?.requestTimeoutMs ??
      DEFAULTS.requestTimeoutMs,
    logLevel: get('log-level') ?? DEFAULTS.logLevel,
    fanoutConcurrency:
      intOption('fanout-concurrency', get('fanout-concurrency'), problems) ??
      file?.fanoutConcurrency ??
      DEFAULTS.fanoutConcurrency,
    ...securityOptions(get, file, problems),
  });
  // Nested instances are already validated (file) or built here; validate the whole once.
  problems.push(...flattenErrors(validateSync(config)));
  const checkPort = (what: string, address: string, allowZero: boolean): void => {
    const m = HOST_PORT.exec(address);
    if (!m) return; // reported by the validation above
    const port = Number(m[2]);
    if (port > 65535 || (!allowZero && port === 0)) {
      problems.push(`${what}: port ${port} is out of range (${allowZero ? 0 : 1}-65535)`);
    }
  };
  checkPort('listen', config.listen, true);
  checkAuthExposure(config, problems);
  for (const n of config.nodes) checkPort(`node ${n.name} address`, n.address, false);
  if (problems.length > 0) throw new ConfigError(problems);
  const listRoutes = get('list-routes') === 'true' || get('list-routes') === '1';
  return { config, help: args.help, exportOpenApi: get('export-openapi'), listRoutes };
}

/** Splits "host:port" / "[v6]:port". */
export function splitHostPort(address: string): { host: string; port: number } {
  const m = HOST_PORT.exec(address);
  if (!m) throw new ConfigError([`'${address}' is not host:port`]);
  const host = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1];
  return { host, port: Number(m[2]) };
}

/** The `auth`, `limits` and `tls` settings: YAML, with the TLS files overridable by flags. */
function securityOptions(
  get: (name: string) => string | undefined,
  file: ConfigFile | undefined,
  problems: string[],
): Pick<GatewayConfig, 'auth' | 'limits' | 'tls' | 'allowUnauthenticated'> {
  const out: Pick<GatewayConfig, 'auth' | 'limits' | 'tls' | 'allowUnauthenticated'> = {};
  if (file?.auth) out.auth = file.auth;
  if (file?.limits) out.limits = file.limits;
  const tls = { ...(file?.tls ?? {}) } as Partial<AgentTlsConfig>;
  for (const [flag, key] of [
    ['tls-ca', 'ca'],
    ['tls-cert', 'cert'],
    ['tls-key', 'key'],
    ['tls-server-name', 'serverName'],
  ] as const) {
    const v = get(flag);
    if (v !== undefined) tls[key] = v;
  }
  if (Object.keys(tls).length > 0) {
    for (const k of ['ca', 'cert', 'key'] as const) {
      if (!tls[k]) problems.push(`tls.${k}: required for mutual TLS to the agents (or --tls-${k})`);
    }
    out.tls = plainToInstance(AgentTlsConfig, tls);
  }
  const allow = get('allow-unauthenticated');
  if (allow !== undefined) {
    if (!/^(true|false|1|0)$/.test(allow)) {
      problems.push(`allow-unauthenticated: expected true or false, got '${allow}'`);
    } else out.allowUnauthenticated = allow === 'true' || allow === '1';
  }
  return out;
}

/** No tokens is fine on loopback; elsewhere it needs --allow-unauthenticated. */
function checkAuthExposure(config: GatewayConfig, problems: string[]): void {
  const tokens = config.auth?.tokens ?? [];
  const names = new Set<string>();
  const hashes = new Set<string>();
  for (const t of tokens) {
    if (names.has(t.name)) problems.push(`config.auth.tokens: duplicate name '${t.name}'`);
    if (hashes.has(t.sha256)) problems.push(`config.auth.tokens: '${t.name}' repeats a hash`);
    names.add(t.name);
    hashes.add(t.sha256);
  }
  if (config.auth && tokens.length === 0) {
    problems.push('config.auth.tokens: empty (remove auth to run without tokens)');
  }
  const m = HOST_PORT.exec(config.listen);
  if (!m || tokens.length > 0 || config.allowUnauthenticated) return;
  if (!isLoopbackHost(m[1])) {
    problems.push(
      `listen: ${config.listen} is not a loopback address and no auth.tokens are configured: add tokens (docs/security.md) or pass --allow-unauthenticated`,
    );
  }
}
