import { filterVmasByRange, type MemoryMap, type ProcessHeader, type Vma } from '@app/domain';
import { pmapCommandLine } from './names';
import { dec, padLeft, padRight, zeroPad } from './text';
import type { IllumosRenderOptions } from './types';

/**
 * An illumos / Solaris style pmap view of a Linux process (the 64-bit layout of illumos pmap):
 * `PID:<tab>psargs` (80-byte psargs), upper-case 16-digit addresses, `-x` with
 * Kbytes RSS Anon Locked where a zero prints as `-`, mode `rwxsR` (s = shared, R = no swap
 * reservation, i.e. VmFlags `nr`), names `[ heap ]`, `[ stack ]`, `[ stack tid=N ]`,
 * `[ shmid=0x… ]`, `[ anon ]`; full paths in plain mode, basenames under `-x`. `-A` follows
 * illumos: page-rounded and clipped (a clipped row has no smaps figures: they print as `-`).
 */
export function renderIllumos(map: MemoryMap, opts: IllumosRenderOptions): string {
  const r = opts.range;
  const vmas =
    r && (r.low !== undefined || r.high !== undefined)
      ? filterVmasByRange(map.vmas, { ...r, clip: true }, opts.pageSize ?? 4096n)
      : map.vmas;
  const head = `${map.header.pid}:\t${psargs(map.header)}\n`;
  return (
    head +
    (opts.mode === 'x' ? renderX(map.header, vmas, opts) : renderPlain(map.header, vmas, opts))
  );
}

/** illumos keeps PRARGSZ (80) bytes of the arguments, NUL included. */
function psargs(h: ProcessHeader): string {
  const s = pmapCommandLine(h);
  return s.length > 79 ? s.slice(0, 79) : s;
}

function mflags(v: Vma): string {
  const p = v.perms;
  const flags = v.vmFlags;
  const noReserve = flags !== undefined && (' ' + flags + ' ').includes(' nr ');
  return (
    (p[0] === 'r' ? 'r' : '-') +
    (p[1] === 'w' ? 'w' : '-') +
    (p[2] === 'x' ? 'x' : '-') +
    (p[3] === 's' ? 's' : '-') +
    (noReserve ? 'R' : '-')
  );
}

/** The illumos mapping name of a Linux VMA. */
export function illumosName(v: Vma, header: ProcessHeader, basename: boolean): string {
  switch (v.kind) {
    case 'heap':
      return '[ heap ]';
    case 'stack':
      return '[ stack ]';
    case 'thread_stack':
      return v.threadId !== undefined ? `[ stack tid=${v.threadId} ]` : '[ anon ]';
    case 'sysv_shm':
      return `[ shmid=0x${(v.shmId ?? v.inode).toString(16)} ]`;
    case 'anon':
      // MAP_HUGETLB anonymous memory ("/anon_hugepage (deleted)") is anonymous memory to illumos
      if (v.name.startsWith('/anon_hugepage')) return '[ anon ]';
      break;
    default:
      break;
  }
  const name = v.name;
  if (name.length === 0 || name.startsWith('[anon:')) {
    const ss = header.startStack;
    if (name.length === 0 && ss !== 0n && ss >= v.start && ss <= v.end) return '[ stack ]';
    return '[ anon ]';
  }
  if (name === '[stack]') return '[ stack ]';
  if (name === '[heap]') return '[ heap ]';
  if (name[0] === '[' && name[name.length - 1] === ']') return `[ ${name.slice(1, -1)} ]`;
  if (!basename) return name;
  const slash = name.lastIndexOf('/');
  return slash < 0 ? name : name.slice(slash + 1);
}

function renderPlain(h: ProcessHeader, vmas: Vma[], opts: IllumosRenderOptions): string {
  const parts: string[] = [];
  let total = 0n;
  for (const v of vmas) {
    const kb = (v.end - v.start + 1023n) >> 10n;
    total += kb;
    parts.push(
      zeroPad(v.start.toString(16).toUpperCase(), 16),
      ' ',
      padLeft(dec(kb), 9),
      'K ',
      padRight(mflags(v), 6),
      ' ',
      illumosName(v, h, false),
      '\n',
    );
  }
  if (!opts.quiet) parts.push(' total ', padLeft(dec(total), 19), 'K\n');
  return parts.join('');
}

function field(v: Vma, name: string): bigint | undefined {
  if (!v.fields) return undefined;
  for (const f of v.fields) if (f.name === name) return f.value;
  return undefined;
}

/** A -x cell: '-' for zero or unknown. */
function cell(v: bigint | undefined): string {
  return padLeft(v === undefined || v === 0n ? '-' : dec(v), 10);
}

function renderX(h: ProcessHeader, vmas: Vma[], opts: IllumosRenderOptions): string {
  const parts: string[] = [];
  if (!opts.quiet) {
    parts.push('         Address     Kbytes        RSS       Anon     Locked Mode   Mapped File\n');
  }
  let tSize = 0n;
  let tRss = 0n;
  let tAnon = 0n;
  let tLocked = 0n;
  for (const v of vmas) {
    const kb = (v.end - v.start + 1023n) >> 10n;
    const rss = field(v, 'Rss');
    const anon = field(v, 'Anonymous');
    const locked = field(v, 'Locked');
    tSize += kb;
    tRss += rss ?? 0n;
    tAnon += anon ?? 0n;
    tLocked += locked ?? 0n;
    parts.push(
      zeroPad(v.start.toString(16).toUpperCase(), 16),
      ' ',
      cell(kb),
      ' ',
      cell(rss),
      ' ',
      cell(anon),
      ' ',
      cell(locked),
      ' ',
      padRight(mflags(v), 6),
      ' ',
      illumosName(v, h, true),
      '\n',
    );
  }
  if (!opts.quiet) {
    parts.push(
      '---------------- ---------- ---------- ---------- ----------\n',
      '        total Kb ',
      cell(tSize),
      ' ',
      cell(tRss),
      ' ',
      cell(tAnon),
      ' ',
      cell(tLocked),
      '\n',
    );
  }
  return parts.join('');
}
