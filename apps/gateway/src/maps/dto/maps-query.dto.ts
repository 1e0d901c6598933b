import { AgentQuery, FormatParam } from '../../common/dto/common-query';
import type { ResponseFormat } from '../../common/request-context';
import { BoolParam, EnumParam, RangeParam, VeParam } from '../../common/dto/query-fields';

export const MAP_VIEWS = ['default', 'x', 'X', 'XX', 'd', 'illumos'] as const;
export type MapView = (typeof MAP_VIEWS)[number];
/** side=both: a VE program's host (pseudo process) and VE maps in one answer. */
export const MAP_SIDES = ['both'] as const;

export class RangeQuery extends AgentQuery {
  @RangeParam(
    'Address range as pmap -A takes it: LOW[,HIGH], hexadecimal with optional 0x; no comma selects the one address; an empty side is open. VMAs overlapping [LOW, HIGH] (inclusive) are returned whole unless clip=true.',
    '0x7f0000000000,0x7fffffffffff',
  )
  range?: string;

  @BoolParam(
    'illumos range semantics: LOW rounded down to a page, HIGH up to the end of its page, rows clipped to the range (a single address equal to a VMA start selects that VMA whole). Needs range.',
  )
  clip?: boolean;

  @VeParam()
  ve?: number;
}

export class MapsQuery extends RangeQuery {
  @FormatParam()
  format?: ResponseFormat;

  @EnumParam(
    'Which pmap view: default (pmap), x (pmap -x), X (pmap -X), XX (pmap -XX), d (pmap -d), illumos (Solaris-style pmap -x). default and d read /proc/PID/maps; the others smaps. In JSON it picks the detail level.',
    MAP_VIEWS,
  )
  view?: MapView;

  @BoolParam('pmap -p: full paths in the mapping column (text)')
  showPath?: boolean;

  @BoolParam('pmap -k: kernel names ([heap], [vdso], [anon:x]) as they are (text)')
  kernelNames?: boolean;

  @BoolParam('pmap -q: no header and no footer (text)')
  quiet?: boolean;

  @EnumParam(
    'VE programs: both=the host map of the ve_exec pseudo process and the VE map of the same pid together, {node, veNode, host, ve} (JSON only). The VE node is ve=N or, when absent, the one the pseudo process names (header.vePseudoOf). 404 when the process has no VE side.',
    MAP_SIDES,
  )
  side?: (typeof MAP_SIDES)[number];
}
