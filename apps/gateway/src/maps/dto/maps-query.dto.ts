import { IsBoolean, IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { AgentQuery, VeParam } from '../../common/dto/common-query';
import type { ResponseFormat } from '../../common/request-context';
import { Param } from '../../common/param-doc';
import { ToBool } from '../../common/transforms';

export const MAP_VIEWS = ['default', 'x', 'X', 'XX', 'd', 'illumos'] as const;
export type MapView = (typeof MAP_VIEWS)[number];
/** side=both: a VE program's host (pseudo process) and VE maps in one answer. */
export const MAP_SIDES = ['both'] as const;

const BOOL = ['true', 'false', '1', '0'];

export class RangeQuery extends AgentQuery {
  @Param({
    required: false,
    description:
      'Address range as pmap -A takes it: LOW[,HIGH], hexadecimal with optional 0x; no comma selects the one address; an empty side is open. VMAs overlapping [LOW, HIGH] (inclusive) are returned whole unless clip=true.',
    example: '0x7f0000000000,0x7fffffffffff',
    allowed: 'LOW[,HIGH] in hexadecimal (0x optional, at most 64 bits), LOW <= HIGH',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  range?: string;

  @Param({
    required: false,
    description:
      'illumos range semantics: LOW rounded down to a page, HIGH up to the end of its page, rows clipped to the range (a single address equal to a VMA start selects that VMA whole). Needs range.',
    type: Boolean,
    allowed: BOOL,
  })
  @IsOptional()
  @ToBool()
  @IsBoolean({ message: 'clip must be true or false' })
  clip?: boolean;

  @VeParam()
  ve?: number;
}

export class MapsQuery extends RangeQuery {
  @Param({
    required: false,
    description:
      'Response format. Default json; text is also chosen by "Accept: text/plain". This parameter wins over Accept.',
    enum: ['json', 'text'],
  })
  @IsOptional()
  @IsIn(['json', 'text'], { message: 'format must be json or text' })
  format?: ResponseFormat;

  @Param({
    required: false,
    description:
      'Which pmap view: default (pmap), x (pmap -x), X (pmap -X), XX (pmap -XX), d (pmap -d), illumos (Solaris-style pmap -x). default and d read /proc/PID/maps; the others smaps. In JSON it picks the detail level.',
    enum: [...MAP_VIEWS],
  })
  @IsOptional()
  @IsIn([...MAP_VIEWS], { message: `view must be one of ${MAP_VIEWS.join(', ')}` })
  view?: MapView;

  @Param({
    required: false,
    description: 'pmap -p: full paths in the mapping column (text)',
    type: Boolean,
    allowed: BOOL,
  })
  @IsOptional()
  @ToBool()
  @IsBoolean({ message: 'showPath must be true or false' })
  showPath?: boolean;

  @Param({
    required: false,
    description: 'pmap -k: kernel names ([heap], [vdso], [anon:x]) as they are (text)',
    type: Boolean,
    allowed: BOOL,
  })
  @IsOptional()
  @ToBool()
  @IsBoolean({ message: 'kernelNames must be true or false' })
  kernelNames?: boolean;

  @Param({
    required: false,
    description: 'pmap -q: no header and no footer (text)',
    type: Boolean,
    allowed: BOOL,
  })
  @IsOptional()
  @ToBool()
  @IsBoolean({ message: 'quiet must be true or false' })
  quiet?: boolean;

  @Param({
    required: false,
    description:
      'VE programs: both=the host map of the ve_exec pseudo process and the VE map of the same pid together, {node, veNode, host, ve} (JSON only). The VE node is ve=N or, when absent, the one the pseudo process names (header.vePseudoOf). 404 when the process has no VE side.',
    enum: [...MAP_SIDES],
  })
  @IsOptional()
  @IsIn([...MAP_SIDES], { message: `side must be one of ${MAP_SIDES.join(', ')}` })
  side?: (typeof MAP_SIDES)[number];
}
