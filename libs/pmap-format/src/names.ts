import type { ProcessHeader, Vma } from '@app/domain';

const REPLACEMENT = 0xfffd;

/** Number of UTF-8 bytes of the code point at s[i] (surrogate pairs count once, as 4). */
function utf8Bytes(code: number): number {
  if (code < 0x80) return 1;
  if (code < 0x800) return 2;
  if (code >= 0xd800 && code <= 0xdbff) return 4;
  if (code >= 0xdc00 && code <= 0xdfff) return 0; // second half of a pair, counted with the first
  return 3;
}

/**
 * pmap's unprintable handling of a maps line (default, -x, -d): every byte that does not start a
 * valid multibyte character in the (UTF-8) locale becomes '?'. Our names are decoded from UTF-8,
 * so an invalid byte arrives as U+FFFD; everything else (control characters included) is kept.
 */
export function cleanMapsName(name: string): string {
  if (name.indexOf('\ufffd') < 0) return name;
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    out += c === REPLACEMENT ? '?' : name[i];
  }
  return out;
}

/**
 * The command line as procps' library shows it (UTF-8 locale): newlines turn into spaces,
 * control characters into '?'; after an invalid byte (U+FFFD here) the rest of the string keeps
 * printable ASCII only, every other byte becoming '?'.
 */
export function pmapCommandLine(header: ProcessHeader): string {
  const s = header.cmdline;
  let clean = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === REPLACEMENT) {
      clean = false;
      break;
    }
  }
  if (clean) return s;
  let out = '';
  let corrupt = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === REPLACEMENT) corrupt = true;
    if (corrupt) {
      if (c >= 0x20 && c < 0x7f) out += s[i];
      else out += '?'.repeat(c === REPLACEMENT ? 1 : utf8Bytes(c));
      continue;
    }
    if (c === 10) out += ' ';
    else if (c < 0x20 || c === 0x7f) out += '?';
    else out += s[i];
  }
  return out;
}

/** The first line of every procps pmap output: "PID:   cmdline". */
export function pmapFirstLine(header: ProcessHeader): string {
  return `${header.pid}:   ${pmapCommandLine(header)}\n`;
}

export function isSysvShm(vma: Vma): boolean {
  return vma.kind === 'sysv_shm' || (vma.devMajor === 0 && vma.name.startsWith('/SYSV'));
}

export interface DisplayNameOptions {
  showPath?: boolean;
  kernelNames?: boolean;
}

/**
 * The mapping column of pmap's default, -x and -d modes (procps mapping_name()):
 * SysV shm `  [ shmid=0x… ]`; a name with a '/' as its basename (from the first '/' with -p);
 * with -k a kernel name ending in ']' from its '['; else `  [ stack ]` when stat's startstack
 * lies in [start, end] (inclusive, as pmap tests it) or `  [ anon ]`.
 */
export function pmapDisplayName(
  vma: Vma,
  header: Pick<ProcessHeader, 'startStack'>,
  opts: DisplayNameOptions = {},
): string {
  const name = vma.name;
  if (isSysvShm(vma)) return `  [ shmid=0x${vma.inode.toString(16)} ]`;
  const last = name.lastIndexOf('/');
  if (last >= 0) {
    if (opts.showPath) return cleanMapsName(name.slice(name.indexOf('/')));
    return last + 1 < name.length ? cleanMapsName(name.slice(last + 1)) : '/';
  }
  if (opts.kernelNames && name.length > 0 && name.charCodeAt(name.length - 1) === 93 /* ] */) {
    const open = name.indexOf('[');
    if (open >= 0) return cleanMapsName(name.slice(open));
  }
  const ss = header.startStack;
  if (ss >= vma.start && ss <= vma.end) return '  [ stack ]';
  return '  [ anon ]';
}

/**
 * The mapping column of -X/-XX: pmap scans the smaps header with "%127[^\n]", so leading blanks
 * of the name are skipped and it is cut at 127 bytes; then the basename (after the last '/')
 * unless -p. No unprintable clean-up in this mode.
 */
export function extendedMappingName(name: string, showPath: boolean | undefined): string {
  let d = name;
  if (d.length > 0) {
    const c0 = d.charCodeAt(0);
    if (c0 === 32 || c0 === 9 || c0 === 11 || c0 === 12 || c0 === 13) {
      let i = 0;
      while (i < d.length) {
        const c = d.charCodeAt(i);
        if (c !== 32 && c !== 9 && c !== 11 && c !== 12 && c !== 13) break;
        i++;
      }
      d = d.slice(i);
    }
  }
  if (d.length > 42) d = cutUtf8(d, 127);
  if (showPath) return d;
  const last = d.lastIndexOf('/');
  return last < 0 ? d : d.slice(last + 1);
}

/** Cuts a string to at most `max` UTF-8 bytes (a split character is dropped). */
function cutUtf8(s: string, max: number): string {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const b = utf8Bytes(s.charCodeAt(i));
    if (bytes + b > max) return s.slice(0, i);
    bytes += b;
    if (b === 4) i++;
  }
  return s;
}
