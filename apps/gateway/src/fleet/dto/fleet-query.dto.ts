import { IsString, Matches } from 'class-validator';
import { AgentQuery } from '../../common/dto/common-query';
import {
  CgroupFilterParam,
  EnumParam,
  IntParam,
  NameFilterParam,
  PatternParam,
  RangeParam,
  RegexParam,
  TextParam,
  UserFilterParam,
  VeParam,
} from '../../common/dto/query-fields';
import { Param } from '../../common/param-doc';

/** Which nodes a fleet query goes to, and its per-node deadline. */
export class NodeSelectorQuery extends AgentQuery {
  @TextParam(
    {
      description:
        'Nodes to query: comma-separated names or globs (* any run, ? one character). Default: every node.',
      example: 'n1,rack2-*',
      allowed: 'comma-separated node names or globs (* and ?), e.g. n1,rack2-*',
    },
    4096,
  )
  nodes?: string;

  @TextParam(
    {
      description:
        'Node labels (from the cluster file): comma-separated KEY=VALUE, KEY!=VALUE or KEY (present); all must hold.',
      example: 'rack=r1,zone!=b',
      allowed: 'comma-separated KEY=VALUE, KEY!=VALUE or KEY (label present), e.g. rack=r1,zone!=b',
    },
    4096,
  )
  labels?: string;

  @PatternParam(
    {
      description:
        'Node architecture as the agent reports it (uname -m: x86_64, aarch64...). Nodes whose agent never answered are not selected.',
      example: 'x86_64',
    },
    /^[A-Za-z0-9_]{1,32}$/,
    'arch must be an architecture name like x86_64',
  )
  arch?: string;
}

/** Node selection plus the process selectors every fleet endpoint takes. */
export class FleetQuery extends NodeSelectorQuery {
  @NameFilterParam('^postgres')
  name?: string;

  @UserFilterParam()
  user?: string;

  @CgroupFilterParam()
  cgroup?: string;

  @VeParam()
  ve?: number;

  @PatternParam(
    {
      description:
        'Slurm job id: processes whose cgroup v2 path has a component job_ID (matched on the path, so a cgroup namespace hiding the prefix does not matter)',
      example: '4242',
      allowed: 'a decimal Slurm job id',
    },
    /^\d{1,20}$/,
    'slurmJob must be a decimal Slurm job id',
  )
  slurmJob?: string;

  @PatternParam(
    {
      description:
        'Kubernetes pod UID: processes whose cgroup path contains pod<UID> (kubepods…pod<uid>…; dashes or underscores both match)',
      example: '6f1c7a52-0d7e-4b1e-9a55-3c1f5b9e2d10',
      allowed: 'a pod UID (hex digits with dashes or underscores)',
    },
    /^[0-9A-Fa-f][0-9A-Fa-f_-]{0,63}$/,
    'k8sPod must be a pod UID',
  )
  k8sPod?: string;
}

export class MapsSearchQuery extends FleetQuery {
  @RangeParam(
    'Address range as pmap -A takes it: LOW[,HIGH] in hex (0x optional); one address = the VMA containing it. Processes with a VMA overlapping it match.',
    '7f0000000000,7fffffffffff',
  )
  range?: string;

  @RegexParam(
    'Regular expression (RE2 syntax, linear-time: no lookaround or backreferences) on the mapping name exactly as the kernel prints it, e.g. libssl.*\\(deleted\\) for every process still mapping a deleted libssl. With range, both must hold.',
    'libssl.*\\(deleted\\)',
  )
  mapping?: string;
}

export const AUDIT_KEYS = ['rss', 'pss', 'swap', 'anonHuge', 'locked'] as const;
export type AuditKey = (typeof AUDIT_KEYS)[number];

export class AuditQuery extends FleetQuery {
  @EnumParam(
    'Rank processes by this smaps_rollup figure (descending): rss (default), pss, swap, anonHuge (AnonHugePages), locked',
    AUDIT_KEYS,
  )
  by?: AuditKey;

  @IntParam('How many processes of the whole fleet to list (default 20)', 1, 10000)
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
  @IntParam(
    'Sampling interval of the agent in milliseconds (100-60000, default 1000)',
    100,
    60000,
    'ms',
  )
  interval?: number;

  @EnumParam(
    'maps (default): VMAs appear, disappear or change shape; smaps: also every smaps figure (Rss, Pss...) per VMA',
    WATCH_DETAILS,
    { message: 'detail must be maps or smaps' },
  )
  detail?: (typeof WATCH_DETAILS)[number];

  @RangeParam(
    'Address range LOW[,HIGH] (hex, pmap -A semantics): watch only the VMAs overlapping it',
  )
  range?: string;

  @IntParam('End the stream after this many events (default: until the process exits)', 1, 1000000)
  maxEvents?: number;

  @VeParam()
  ve?: number;
}
