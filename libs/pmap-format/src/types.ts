import type { AddressRange } from '@app/domain';

/** The procps-ng pmap output modes: plain, `-x`, `-X`, `-XX`, `-d`. */
export type PmapMode = 'default' | 'x' | 'X' | 'XX' | 'd';

/** What `pmap [-x|-X|-XX|-d] [-q] [-p] [-k] [-A low,high]` prints, as data. */
export interface PmapRenderOptions {
  mode: PmapMode;
  /** `-q`: no header, no footer. */
  quiet?: boolean;
  /** `-p`: full paths in the mapping column. */
  showPath?: boolean;
  /** `-k` (procps >= 4.0.6): names the kernel gives (`[heap]`, `[vdso]`, `[anon:x]`) as they are. */
  kernelNames?: boolean;
  /** `-A`: whole VMAs overlapping [low, high] (never clipped; `clip` is ignored here). */
  range?: AddressRange;
}

/** The VE pmap (psmisc-ve `/opt/nec/ve/bin/pmap`) modes reproduced: plain and `-XX`. */
export type VePmapMode = 'default' | 'XX';

export interface VePmapRenderOptions {
  mode: VePmapMode;
  /** `-q`: no header, no footer (the `VE Node:` and `PID:` lines stay). */
  quiet?: boolean;
  /** `-A`: whole VMAs overlapping the range. */
  range?: AddressRange;
}

/** The illumos / Solaris pmap modes offered: plain and `-x`. */
export type IllumosMode = 'default' | 'x';

export interface IllumosRenderOptions {
  mode: IllumosMode;
  /** `-q`: no header, no footer. */
  quiet?: boolean;
  /** `-A`: illumos semantics (page-rounded, rows clipped); `clip` is forced on. */
  range?: AddressRange;
  /** Page size for the range rounding (default 4096). */
  pageSize?: bigint;
}
