import type { Vma } from '@app/domain';

/**
 * The host "pseudo process" of a VE program (`ve_exec … -- ./prog`, same PID as the VE process)
 * reserves the VE address space in its own: VEMMR, 16 TiB from 0x600000000000. VE pages are not
 * in the host page tables, so host RSS/pagemap say nothing about this memory.
 */
export const VEMMR_START = 0x600000000000n;
export const VEMMR_END = 0x700000000000n;

function basename(p: string): string {
  const slash = p.lastIndexOf('/');
  return slash < 0 ? p : p.slice(slash + 1);
}

function argv0(cmdline: string | readonly string[]): string {
  if (typeof cmdline !== 'string') return cmdline[0] ?? '';
  const sp = cmdline.indexOf(' ');
  return sp < 0 ? cmdline : cmdline.slice(0, sp);
}

/**
 * A ve_exec pseudo process: argv[0] or the executable (/proc/PID/exe target, " (deleted)"
 * tolerated) is ve_exec. `cmdline` is argv or the space-joined command line.
 */
export function isVePseudoProcess(cmdline: string | readonly string[], exe?: string): boolean {
  if (basename(argv0(cmdline)) === 've_exec') return true;
  if (exe === undefined) return false;
  const e = exe.endsWith(' (deleted)') ? exe.slice(0, -' (deleted)'.length) : exe;
  return basename(e) === 've_exec';
}

/**
 * The VE program's own command line: what follows the first "--" of a ve_exec command line
 * ("./p" for `…/ve_exec -d /dev/veslot0 -s …/veos0.sock -c -1 -- ./p`). Any other command line
 * is returned unchanged.
 */
export function veProgramCmdline(cmdline: string): string {
  if (!isVePseudoProcess(cmdline)) return cmdline;
  if (cmdline.endsWith(' --')) return '';
  const sep = cmdline.indexOf(' -- ');
  return sep < 0 ? cmdline : cmdline.slice(sep + 4);
}

/**
 * The VE node a ve_exec command line names: `-d /dev/veslotN` or `-s …/veosN.sock`; undefined
 * when neither is there (or not ve_exec).
 */
export function vePseudoNode(cmdline: string | readonly string[]): number | undefined {
  if (!isVePseudoProcess(cmdline)) return undefined;
  const args = typeof cmdline === 'string' ? cmdline.split(' ') : cmdline;
  for (let i = 1; i + 1 < args.length; i++) {
    if (args[i] === '--') break;
    const v = args[i + 1];
    let m: RegExpExecArray | null = null;
    if (args[i] === '-d') m = /veslot(\d+)$/.exec(v);
    else if (args[i] === '-s') m = /veos(\d+)\.sock$/.exec(v);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/**
 * Marks the host VMAs of a pseudo process that mirror VE memory: every VMA lying inside
 * [VEMMR_START, VEMMR_END) — reservations and the VE program's file mappings alike — and, when
 * the VE process's own map is given, every host VMA overlapping one of its VMAs (VE libraries and
 * anonymous memory the pseudo process mirrors above VEMMR). Marked VMAs get kind 've_memory' and
 * `veNode`; names and figures are left as they are. Returns how many were marked. Linear in the
 * number of VMAs (both lists sorted by start, as maps and ve_map_info give them).
 */
export function markVePseudoRegions(
  hostVmas: Vma[],
  veNode: number,
  veVmas?: readonly Vma[],
): number {
  let marked = 0;
  let j = 0;
  for (const v of hostVmas) {
    let hit = v.start >= VEMMR_START && v.end <= VEMMR_END;
    if (!hit && veVmas) {
      while (j < veVmas.length && veVmas[j].end <= v.start) j++;
      // veVmas[j] is the first VE VMA ending after v.start; it overlaps v if it starts before v.end.
      hit = j < veVmas.length && veVmas[j].start < v.end;
    }
    if (hit) {
      v.kind = 've_memory';
      v.veNode = veNode;
      marked++;
    }
  }
  return marked;
}
