/**
 * The agent's configuration: command-line flags, each also settable by an environment variable
 * (a flag wins over its variable). Validated once at boot; an invalid value is a ConfigError whose
 * message is the one line main.ts prints before exiting with status 2.
 */

export interface AgentConfig {
  /** host:port to bind; port 0 picks a free port (the bound address is logged). */
  listen: string;
  host: string;
  port: number;
  nodeName: string;
  /** Plaintext gRPC: accepted only on a loopback listen address (otherwise mutual TLS). */
  insecure: boolean;
  /** Mutual TLS (security.ts): absent with --insecure. */
  tls?: AgentTlsConfig;
  /** --health-listen: a plaintext gRPC server with grpc.health.v1 only (Kubernetes probes). */
  healthListen?: { host: string; port: number };
  /** --metrics-listen: plaintext HTTP serving /metrics (Prometheus) and /healthz. */
  metricsListen?: { host: string; port: number };
  procRoot: string;
  sysRoot: string;
  /** Default VMAs per GetMemoryMap chunk when the request says 0. */
  batchSize: number;
  /** Seconds to wait for in-flight calls on SIGTERM/SIGINT before cancelling them. */
  shutdownTimeoutSec: number;
  /** Heavy reads (maps/smaps, histograms, rollup lists) run at once (read-limiter.ts). */
  maxHeavyReads: number;
  /** Heavy calls waiting for a permit before RESOURCE_EXHAUSTED. */
  maxQueuedReads: number;
  /** A /proc read that takes the target's mmap_lock may block this long (guarded-read.ts). */
  procReadTimeoutMs: number;
  /** Stuck /proc reads kept before every such read fails at once. */
  maxHungReads: number;
  /** Worker threads reading /proc files that can block (guarded-read.ts). */
  procReadWorkers: number;
  /** WatchMemoryMap calls running at once before RESOURCE_EXHAUSTED (watch.service.ts). */
  maxWatches: number;
  /** Idle time after heavy work before memory is given back (memory-relief.ts); 0 = never. */
  memoryReliefIdleMs: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** VE processes through libveosinfo (see ve.service.ts); false with --no-ve. */
  ve: boolean;
  /** libveosinfo to load; undefined = the default install paths. */
  veLibrary?: string;
  /** VE device class in sysfs (default /sys/class/ve). */
  veSysfs?: string;
  /** Where VEOS puts veos<N>.sock (default /var/opt/nec/ve/veos). */
  veSocketDir?: string;
}

export interface AgentTlsConfig {
  cert: string;
  key: string;
  ca: string;
  /** Client SANs allowed ("DNS:gateway", "URI:spiffe://pmapd/gateway", "IP:10.0.0.7") or "*". */
  allowClients: string[];
  /** How often the three files are checked for changes. */
  reloadIntervalMs: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const MAX_BATCH_SIZE = 10000;
export const DEFAULT_BATCH_SIZE = 1000;

interface OptionSpec {
  flag: string;
  env: string;
  boolean?: boolean;
  help: string;
}

const OPTIONS: Record<string, OptionSpec> = {
  listen: {
    flag: '--listen',
    env: 'PMAPD_AGENT_LISTEN',
    help: 'HOST:PORT to listen on (port 0 = any free port)',
  },
  nodeName: { flag: '--node-name', env: 'PMAPD_NODE_NAME', help: 'name of this node' },
  insecure: {
    flag: '--insecure',
    env: 'PMAPD_INSECURE',
    boolean: true,
    help: 'serve plaintext gRPC: only on a loopback listen address (127.0.0.0/8, ::1, localhost)',
  },
  tlsCert: {
    flag: '--tls-cert',
    env: 'PMAPD_TLS_CERT',
    help: 'server certificate (PEM), reloaded when it changes',
  },
  tlsKey: { flag: '--tls-key', env: 'PMAPD_TLS_KEY', help: 'server private key (PEM)' },
  tlsCa: {
    flag: '--tls-ca',
    env: 'PMAPD_TLS_CA',
    help: 'CA (PEM) that signs client certificates; clients must present one',
  },
  allowClient: {
    flag: '--allow-client',
    env: 'PMAPD_ALLOW_CLIENT',
    help: 'client SANs allowed, comma-separated (DNS:gateway,URI:spiffe://pmapd/gateway,IP:10.0.0.7; * = any the CA signed)',
  },
  tlsReloadIntervalMs: {
    flag: '--tls-reload-interval-ms',
    env: 'PMAPD_TLS_RELOAD_INTERVAL_MS',
    help: 'how often the TLS files are checked for changes (default 5000)',
  },
  healthListen: {
    flag: '--health-listen',
    env: 'PMAPD_HEALTH_LISTEN',
    help: 'HOST:PORT of a plaintext gRPC server with grpc.health.v1 only (Kubernetes probes)',
  },
  metricsListen: {
    flag: '--metrics-listen',
    env: 'PMAPD_METRICS_LISTEN',
    help: 'HOST:PORT of a plaintext HTTP server with /metrics (Prometheus) and /healthz',
  },
  procRoot: { flag: '--proc-root', env: 'PMAPD_PROC_ROOT', help: 'procfs mount (default /proc)' },
  sysRoot: { flag: '--sys-root', env: 'PMAPD_SYS_ROOT', help: 'sysfs mount (default /sys)' },
  batchSize: {
    flag: '--batch-size',
    env: 'PMAPD_BATCH_SIZE',
    help: `default VMAs per streamed chunk (1..${MAX_BATCH_SIZE}, default ${DEFAULT_BATCH_SIZE})`,
  },
  shutdownTimeout: {
    flag: '--shutdown-timeout',
    env: 'PMAPD_SHUTDOWN_TIMEOUT',
    help: 'seconds to finish in-flight calls on SIGTERM (default 5)',
  },
  maxHeavyReads: {
    flag: '--max-heavy-reads',
    env: 'PMAPD_MAX_HEAVY_READS',
    help: 'heavy reads (maps/smaps, histograms, process lists with rollup) at once (1..64, default 2)',
  },
  maxQueuedReads: {
    flag: '--max-queued-reads',
    env: 'PMAPD_MAX_QUEUED_READS',
    help: 'heavy calls queued for a permit before RESOURCE_EXHAUSTED (0..100000, default 256)',
  },
  procReadTimeout: {
    flag: '--proc-read-timeout-ms',
    env: 'PMAPD_PROC_READ_TIMEOUT_MS',
    help: 'a read of cmdline/maps/smaps/smaps_rollup/numa_maps that blocks this long (a process stuck in the kernel) fails with DEADLINE_EXCEEDED (100..600000, default 3000)',
  },
  maxHungReads: {
    flag: '--max-hung-reads',
    env: 'PMAPD_MAX_HUNG_READS',
    help: 'stuck /proc reads kept aside before every such read fails at once (1..256, default 8)',
  },
  procReadWorkers: {
    flag: '--proc-read-workers',
    env: 'PMAPD_PROC_READ_WORKERS',
    help: 'worker threads reading cmdline/maps/smaps/smaps_rollup/numa_maps off the event loop (1..64, default 4)',
  },
  maxWatches: {
    flag: '--max-watches',
    env: 'PMAPD_MAX_WATCHES',
    help: 'WatchMemoryMap calls at once before RESOURCE_EXHAUSTED (1..10000, default 64)',
  },
  memoryReliefIdleMs: {
    flag: '--memory-relief-idle-ms',
    env: 'PMAPD_MEMORY_RELIEF_IDLE_MS',
    help: 'after heavy reads stop this long, collect garbage and give freed memory back to the system (0 = never; 0..600000, default 2000)',
  },
  veLibrary: {
    flag: '--ve-library',
    env: 'PMAPD_VE_LIBRARY',
    help: 'libveosinfo to load (default /opt/nec/ve/veos/lib64/libveosinfo.so.3, then .so)',
  },
  veSysfs: {
    flag: '--ve-sysfs',
    env: 'PMAPD_VE_SYSFS',
    help: 'VE device class in sysfs (default /sys/class/ve)',
  },
  veSocketDir: {
    flag: '--ve-socket-dir',
    env: 'PMAPD_VE_SOCKET_DIR',
    help: 'directory of the VEOS sockets veos<N>.sock (default /var/opt/nec/ve/veos)',
  },
  noVe: {
    flag: '--no-ve',
    env: 'PMAPD_NO_VE',
    boolean: true,
    help: 'do not look for libveosinfo: serve host processes only',
  },
  logLevel: {
    flag: '--log-level',
    env: 'PMAPD_LOG_LEVEL',
    help: 'trace|debug|info|warn|error|fatal|silent (default info)',
  },
};

export function usage(): string {
  const lines = [
    'usage: pmapd-agent --listen HOST:PORT --node-name NAME',
    '         (--tls-cert F --tls-key F --tls-ca F --allow-client SANS | --insecure) [options]',
    '       pmapd-agent --version | --help',
  ];
  for (const o of Object.values(OPTIONS)) {
    const left = o.boolean ? o.flag : `${o.flag} VALUE`;
    lines.push(`  ${left.padEnd(26)} ${o.help} [env ${o.env}]`);
  }
  return lines.join('\n');
}

function parseBool(name: string, text: string): boolean {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(t)) return false;
  throw new ConfigError(`${name}: expected true or false, got '${text}'`);
}

function parseIntStrict(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) {
    throw new ConfigError(`${name}: expected an integer in [${min}, ${max}], got '${text}'`);
  }
  const n = Number(text.trim());
  if (n < min || n > max) {
    throw new ConfigError(`${name}: expected an integer in [${min}, ${max}], got '${text}'`);
  }
  return n;
}

/** Splits "host:port" or "[v6]:port". */
function parseListen(name: string, text: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]\s]+):(\d+)$/.exec(text);
  if (!m) throw new ConfigError(`${name}: expected HOST:PORT, got '${text}'`);
  return { host: m[1], port: parseIntStrict(`${name} port`, m[2], 0, 65535) };
}

/**
 * Parses argv (without node and the script) and the environment. Throws ConfigError. Returns
 * 'help' for --help and 'version' for --version (whatever else is given).
 */
export function loadConfig(
  argv: string[],
  env: NodeJS.ProcessEnv,
): AgentConfig | 'help' | 'version' {
  if (argv.includes('--version')) return 'version';
  const raw = new Map<string, string>();
  const byFlag = new Map(Object.entries(OPTIONS).map(([k, o]) => [o.flag, [k, o] as const]));
  for (const [key, o] of Object.entries(OPTIONS)) {
    const v = env[o.env];
    if (v !== undefined && v !== '') raw.set(key, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const entry = byFlag.get(flag);
    if (!entry) throw new ConfigError(`unknown argument '${arg}' (see --help)`);
    const [key, o] = entry;
    if (o.boolean) {
      raw.set(key, eq > 0 ? arg.slice(eq + 1) : 'true');
      continue;
    }
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i];
    if (value === undefined) throw new ConfigError(`${flag}: a value is required`);
    raw.set(key, value);
  }

  const name = (key: string): string => `${OPTIONS[key].flag} (${OPTIONS[key].env})`;

  const listenText = raw.get('listen');
  if (listenText === undefined) throw new ConfigError(`${name('listen')} is required`);
  const { host, port } = parseListen(name('listen'), listenText);

  const nodeName = raw.get('nodeName');
  if (nodeName === undefined || nodeName.trim() === '') {
    throw new ConfigError(`${name('nodeName')} is required`);
  }
  if (!/^[A-Za-z0-9._-]{1,253}$/.test(nodeName)) {
    throw new ConfigError(
      `${name('nodeName')}: use letters, digits, '.', '_' and '-' (at most 253), got '${nodeName}'`,
    );
  }

  const insecure = raw.has('insecure') ? parseBool(name('insecure'), raw.get('insecure')!) : false;

  const dir = (key: string, def: string): string => {
    const v = raw.get(key) ?? def;
    if (!v.startsWith('/'))
      throw new ConfigError(`${name(key)}: expected an absolute path, got '${v}'`);
    return v.length > 1 ? v.replace(/\/+$/, '') : v;
  };

  /** An integer option in [min, max], `def` when absent. */
  const int = (key: string, min: number, max: number, def: number): number => {
    const v = raw.get(key);
    return v === undefined ? def : parseIntStrict(name(key), v, min, max);
  };
  const batchSize = int('batchSize', 1, MAX_BATCH_SIZE, DEFAULT_BATCH_SIZE);
  const shutdownTimeoutSec = int('shutdownTimeout', 0, 3600, 5);
  const maxHeavyReads = int('maxHeavyReads', 1, 64, 2);
  const maxQueuedReads = int('maxQueuedReads', 0, 100_000, 256);
  const procReadTimeoutMs = int('procReadTimeout', 100, 600_000, 3000);
  const maxHungReads = int('maxHungReads', 1, 256, 8);
  const procReadWorkers = int('procReadWorkers', 1, 64, 4);
  const maxWatches = int('maxWatches', 1, 10_000, 64);
  const memoryReliefIdleMs = int('memoryReliefIdleMs', 0, 600_000, 2000);
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
  const levelText = raw.get('logLevel') ?? 'info';
  const logLevel = levels.find((l) => l === levelText);
  if (!logLevel) {
    throw new ConfigError(
      `${name('logLevel')}: expected one of ${levels.join('|')}, got '${levelText}'`,
    );
  }

  return {
    listen: listenText,
    host,
    port,
    nodeName,
    insecure,
    procRoot: dir('procRoot', '/proc'),
    sysRoot: dir('sysRoot', '/sys'),
    batchSize,
    shutdownTimeoutSec,
    maxHeavyReads,
    maxQueuedReads,
    procReadTimeoutMs,
    maxHungReads,
    procReadWorkers,
    maxWatches,
    memoryReliefIdleMs,
    logLevel,
    ...veConfig(raw, name, dir),
    ...securityConfig(raw, name, host, insecure),
  };
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x) and localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return (
    h === 'localhost' ||
    h === '::1' ||
    /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    /^0*:0*:0*:0*:0*:0*:0*:0*1$/.test(h)
  );
}

/**
 * Transport security: mutual TLS (--tls-cert, --tls-key, --tls-ca and --allow-client, all
 * required) or plaintext with --insecure, which is accepted only on a loopback listen address.
 * Also the plaintext side ports (--health-listen, --metrics-listen).
 */
function securityConfig(
  raw: Map<string, string>,
  name: (key: string) => string,
  host: string,
  insecure: boolean,
): Pick<AgentConfig, 'tls' | 'healthListen' | 'metricsListen'> {
  const out: Pick<AgentConfig, 'tls' | 'healthListen' | 'metricsListen'> = {};
  const tlsKeys = ['tlsCert', 'tlsKey', 'tlsCa', 'allowClient'];
  const given = tlsKeys.filter((k) => raw.has(k));
  if (insecure) {
    if (!isLoopbackHost(host)) {
      throw new ConfigError(
        `${name('insecure')} is accepted only with a loopback listen address (127.0.0.0/8, ::1, localhost), got '${host}': use mutual TLS (${name('tlsCert')}, ${name('tlsKey')}, ${name('tlsCa')}, ${name('allowClient')})`,
      );
    }
    if (given.length > 0) {
      throw new ConfigError(
        `${name('insecure')} cannot be combined with ${given.map((k) => OPTIONS[k].flag).join(', ')}`,
      );
    }
  } else {
    const missing = tlsKeys.filter((k) => !raw.has(k));
    if (missing.length > 0) {
      throw new ConfigError(
        `mutual TLS needs ${missing.map(name).join(', ')} (plaintext gRPC only with ${name('insecure')} on a loopback address)`,
      );
    }
    const file = (key: string): string => {
      const v = raw.get(key)!;
      if (v.trim() === '') throw new ConfigError(`${name(key)}: a file is required`);
      return v;
    };
    const allowClients = raw
      .get('allowClient')!
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    for (const a of allowClients) {
      if (a !== '*' && !/^(DNS|URI|IP|email):.+$/.test(a)) {
        throw new ConfigError(
          `${name('allowClient')}: expected TYPE:value entries (DNS:, URI:, IP:, email:) or *, got '${a}'`,
        );
      }
    }
    if (allowClients.length === 0) throw new ConfigError(`${name('allowClient')}: empty`);
    out.tls = {
      cert: file('tlsCert'),
      key: file('tlsKey'),
      ca: file('tlsCa'),
      allowClients,
      reloadIntervalMs: raw.has('tlsReloadIntervalMs')
        ? parseIntStrict(
            name('tlsReloadIntervalMs'),
            raw.get('tlsReloadIntervalMs')!,
            100,
            3_600_000,
          )
        : 5000,
    };
  }
  if (raw.has('healthListen'))
    out.healthListen = parseListen(name('healthListen'), raw.get('healthListen')!);
  if (raw.has('metricsListen'))
    out.metricsListen = parseListen(name('metricsListen'), raw.get('metricsListen')!);
  return out;
}

/** --ve-library / --ve-sysfs / --ve-socket-dir (absolute paths) and --no-ve. */
function veConfig(
  raw: Map<string, string>,
  name: (key: string) => string,
  dir: (key: string, def: string) => string,
): Pick<AgentConfig, 've' | 'veLibrary' | 'veSysfs' | 'veSocketDir'> {
  const ve = raw.has('noVe') ? !parseBool(name('noVe'), raw.get('noVe')!) : true;
  const out: Pick<AgentConfig, 've' | 'veLibrary' | 'veSysfs' | 'veSocketDir'> = { ve };
  if (raw.has('veLibrary')) out.veLibrary = dir('veLibrary', '/');
  if (raw.has('veSysfs')) out.veSysfs = dir('veSysfs', '/');
  if (raw.has('veSocketDir')) out.veSocketDir = dir('veSocketDir', '/');
  return out;
}
