import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  Validate,
  ValidatorConstraint,
  type ValidatorConstraintInterface,
} from 'class-validator';
import { AgentQuery, VeParam } from '../../common/dto/common-query';
import { Param } from '../../common/param-doc';
import { ToInt } from '../../common/transforms';

@ValidatorConstraint({ name: 'isRegex' })
export class IsRegexConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      new RegExp(value);
      return true;
    } catch {
      return false;
    }
  }
  defaultMessage(args?: { property: string }): string {
    return `${args?.property ?? 'value'} must be a valid regular expression (ECMAScript syntax)`;
  }
}

/** Which nodes a fleet query goes to, and its per-node deadline. */
export class NodeSelectorQuery extends AgentQuery {
  @Param({
    required: false,
    description:
      'Nodes to query: comma-separated names or globs (* any run, ? one character). Default: every node.',
    example: 'n1,rack2-*',
    allowed: 'comma-separated node names or globs (* and ?), e.g. n1,rack2-*',
  })
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  nodes?: string;

  @Param({
    required: false,
    description:
      'Node labels (from the cluster file): comma-separated KEY=VALUE, KEY!=VALUE or KEY (present); all must hold.',
    example: 'rack=r1,zone!=b',
    allowed: 'comma-separated KEY=VALUE, KEY!=VALUE or KEY (label present), e.g. rack=r1,zone!=b',
  })
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  labels?: string;

  @Param({
    required: false,
    description:
      'Node architecture as the agent reports it (uname -m: x86_64, aarch64...). Nodes whose agent never answered are not selected.',
    example: 'x86_64',
  })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_]{1,32}$/, { message: 'arch must be an architecture name like x86_64' })
  arch?: string;
}

/** Node selection plus the process selectors every fleet endpoint takes. */
export class FleetQuery extends NodeSelectorQuery {
  @Param({
    required: false,
    description:
      'Regular expression (ECMAScript syntax) matched against the command name and the command line',
    example: '^postgres',
    allowed: 'an ECMAScript regular expression',
  })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  @Validate(IsRegexConstraint)
  name?: string;

  @Param({ required: false, description: 'User name or numeric uid', example: 'root' })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  user?: string;

  @Param({
    required: false,
    description: "Substring of the process's cgroup (v2) path",
    example: 'system.slice',
  })
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  cgroup?: string;

  @VeParam()
  ve?: number;

  @Param({
    required: false,
    description:
      'Slurm job id: processes whose cgroup v2 path has a component job_ID (matched on the path, so a cgroup namespace hiding the prefix does not matter)',
    example: '4242',
    allowed: 'a decimal Slurm job id',
  })
  @IsOptional()
  @IsString()
  @Matches(/^\d{1,20}$/, { message: 'slurmJob must be a decimal Slurm job id' })
  slurmJob?: string;

  @Param({
    required: false,
    description:
      'Kubernetes pod UID: processes whose cgroup path contains pod<UID> (kubepods…pod<uid>…; dashes or underscores both match)',
    example: '6f1c7a52-0d7e-4b1e-9a55-3c1f5b9e2d10',
    allowed: 'a pod UID (hex digits with dashes or underscores)',
  })
  @IsOptional()
  @IsString()
  @Matches(/^[0-9A-Fa-f][0-9A-Fa-f_-]{0,63}$/, { message: 'k8sPod must be a pod UID' })
  k8sPod?: string;
}

export class MapsSearchQuery extends FleetQuery {
  @Param({
    required: false,
    description:
      'Address range as pmap -A takes it: LOW[,HIGH] in hex (0x optional); one address = the VMA containing it. Processes with a VMA overlapping it match.',
    example: '7f0000000000,7fffffffffff',
    allowed: 'LOW[,HIGH] in hexadecimal (0x optional, at most 64 bits), LOW <= HIGH',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  range?: string;

  @Param({
    required: false,
    description:
      'Regular expression (ECMAScript) on the mapping name exactly as the kernel prints it, e.g. libssl.*\\(deleted\\) for every process still mapping a deleted libssl. With range, both must hold.',
    example: 'libssl.*\\(deleted\\)',
    allowed: 'an ECMAScript regular expression',
  })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  @Validate(IsRegexConstraint)
  mapping?: string;
}

export const AUDIT_KEYS = ['rss', 'pss', 'swap', 'anonHuge', 'locked'] as const;
export type AuditKey = (typeof AUDIT_KEYS)[number];

export class AuditQuery extends FleetQuery {
  @Param({
    required: false,
    description:
      'Rank processes by this smaps_rollup figure (descending): rss (default), pss, swap, anonHuge (AnonHugePages), locked',
    enum: [...AUDIT_KEYS],
  })
  @IsOptional()
  @IsIn([...AUDIT_KEYS], { message: `by must be one of ${AUDIT_KEYS.join(', ')}` })
  by?: AuditKey;

  @Param({
    required: false,
    description: 'How many processes of the whole fleet to list (default 20)',
    type: Number,
    minimum: 1,
    maximum: 10000,
    allowed: 'an integer 1-10000',
  })
  @IsOptional()
  @ToInt()
  @IsInt({ message: 'top must be an integer' })
  @Min(1, { message: 'top must be at least 1' })
  @Max(10000, { message: 'top must be at most 10000' })
  top?: number;
}

export class SlurmJobParams {
  @Param({ description: 'Slurm job id', example: '4242', allowed: 'a decimal Slurm job id' })
  @IsString()
  @Matches(/^\d{1,20}$/, { message: 'id must be a decimal Slurm job id' })
  id!: string;
}

export const WATCH_DETAILS = ['maps', 'smaps'] as const;

export class WatchQuery {
  @Param({
    required: false,
    description: 'Sampling interval of the agent in milliseconds (100-60000, default 1000)',
    type: Number,
    minimum: 100,
    maximum: 60000,
    allowed: 'an integer number of milliseconds, 100-60000',
  })
  @IsOptional()
  @ToInt()
  @IsInt({ message: 'interval must be an integer number of milliseconds' })
  @Min(100, { message: 'interval must be at least 100 ms' })
  @Max(60000, { message: 'interval must be at most 60000 ms' })
  interval?: number;

  @Param({
    required: false,
    description:
      'maps (default): VMAs appear, disappear or change shape; smaps: also every smaps figure (Rss, Pss...) per VMA',
    enum: [...WATCH_DETAILS],
  })
  @IsOptional()
  @IsIn([...WATCH_DETAILS], { message: 'detail must be maps or smaps' })
  detail?: (typeof WATCH_DETAILS)[number];

  @Param({
    required: false,
    description:
      'Address range LOW[,HIGH] (hex, pmap -A semantics): watch only the VMAs overlapping it',
    allowed: 'LOW[,HIGH] in hexadecimal (0x optional, at most 64 bits), LOW <= HIGH',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  range?: string;

  @Param({
    required: false,
    description: 'End the stream after this many events (default: until the process exits)',
    type: Number,
    minimum: 1,
    maximum: 1000000,
    allowed: 'an integer 1-1000000',
  })
  @IsOptional()
  @ToInt()
  @IsInt({ message: 'maxEvents must be an integer' })
  @Min(1, { message: 'maxEvents must be at least 1' })
  @Max(1000000, { message: 'maxEvents must be at most 1000000' })
  maxEvents?: number;

  @VeParam()
  ve?: number;
}
