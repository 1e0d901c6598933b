/**
 * The security sections of the gateway's YAML file — `auth` (bearer tokens stored as SHA-256
 * hashes, their scopes), `limits` (rate and request limits) and `tls` (mutual TLS to the agents) —
 * validated with the rest of the configuration (config/gateway-config.ts).
 */
import 'reflect-metadata';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
} from 'class-validator';
import { NonEmptyString, OptionalInt, Section } from '../config/config-fields';

/** read | read:node=GLOB | fleet | unredacted | metrics */
export const SCOPE_RE = /^(read|fleet|unredacted|metrics|read:node=[A-Za-z0-9_.:*?-]{1,253})$/;

export class TokenConfig {
  /** Who: the name in logs, audit lines and rate-limit buckets. */
  @IsString()
  @Matches(/^[A-Za-z0-9_.@:-]{1,64}$/, {
    message: 'name must be 1-64 letters, digits or _ . @ : -',
  })
  name!: string;

  /** Lower-case hex SHA-256 of the token (`main.js hash-token`). The token itself is never stored. */
  @IsString()
  @Matches(/^[0-9a-f]{64}$/, { message: 'sha256 must be 64 lower-case hex digits' })
  sha256!: string;

  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  @Matches(SCOPE_RE, {
    each: true,
    message: 'each scope must be read, read:node=NAME-OR-GLOB, fleet, unredacted or metrics',
  })
  scopes!: string[];
}

export class AuthConfig {
  @IsArray()
  @ArrayMaxSize(10_000)
  @Section(() => TokenConfig, true)
  tokens!: TokenConfig[];

  /** GET /metrics needs the `metrics` scope (default false: open like /healthz). */
  @IsOptional()
  @IsBoolean()
  protectMetrics?: boolean;
}

export class LimitsConfig {
  /** Sustained requests per second per token (per client IP without a token). */
  @IsOptional()
  @IsNumber()
  @Min(0.01)
  @Max(100_000)
  ratePerSecond?: number;

  /** Bucket size: requests that may arrive at once. */
  @OptionalInt(1, 100_000)
  burst?: number;

  /** Fleet queries: at most this many selected nodes (413 above). */
  @OptionalInt(1, 100_000)
  maxFanoutNodes?: number;

  /** Largest JSON/text answer in bytes (413 above; streams are not counted). */
  @OptionalInt(1024, 4 * 1024 * 1024 * 1024)
  maxResponseBytes?: number;

  /** Watch streams: the smallest sampling interval accepted (400 below). */
  @OptionalInt(100, 60_000)
  minWatchIntervalMs?: number;

  /** Watch streams open at once per token (per client IP without a token); 429 above. */
  @OptionalInt(1, 10_000)
  maxWatchesPerClient?: number;
}

export class AgentTlsConfig {
  /** CA that signed the agents' server certificates. */
  @NonEmptyString()
  ca!: string;

  /** The gateway's client certificate and key (the agents' --allow-client names its SAN). */
  @NonEmptyString()
  cert!: string;

  @NonEmptyString()
  key!: string;

  /**
   * The name the agents' certificates are checked against instead of the address's host (e.g.
   * "pmapd-agent" when agents are discovered by pod IP).
   */
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9.-]{1,253}$/, { message: 'serverName must be a DNS name' })
  serverName?: string;

  @OptionalInt(100, 3_600_000)
  reloadIntervalMs?: number;
}

/** What the gateway runs with after defaults. */
export interface ResolvedLimits {
  ratePerSecond: number;
  burst: number;
  maxFanoutNodes: number;
  maxResponseBytes: number;
  minWatchIntervalMs: number;
  maxWatchesPerClient: number;
}

export const LIMIT_DEFAULTS: ResolvedLimits = {
  ratePerSecond: 50,
  burst: 100,
  maxFanoutNodes: 1024,
  maxResponseBytes: 256 * 1024 * 1024,
  minWatchIntervalMs: 100,
  maxWatchesPerClient: 32,
};

export function resolveLimits(l: LimitsConfig | undefined): ResolvedLimits {
  return {
    ratePerSecond: l?.ratePerSecond ?? LIMIT_DEFAULTS.ratePerSecond,
    burst: l?.burst ?? LIMIT_DEFAULTS.burst,
    maxFanoutNodes: l?.maxFanoutNodes ?? LIMIT_DEFAULTS.maxFanoutNodes,
    maxResponseBytes: l?.maxResponseBytes ?? LIMIT_DEFAULTS.maxResponseBytes,
    minWatchIntervalMs: l?.minWatchIntervalMs ?? LIMIT_DEFAULTS.minWatchIntervalMs,
    maxWatchesPerClient: l?.maxWatchesPerClient ?? LIMIT_DEFAULTS.maxWatchesPerClient,
  };
}

/** 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
