/**
 * Redaction of what a memory map names (for readers without the `unredacted` scope): the one
 * definition, used by the gateway on agent answers and by the agent when it renders pmap text for
 * a redacted request.
 *   - command lines become the command name (comm; "[comm]" of a kernel thread stays);
 *   - mapping paths become their last component ("/home/alice/x/libfoo.so" -> "libfoo.so", the
 *     column pmap prints without -p; " (deleted)" kept); bracketed names and anonymous mappings
 *     are kept.
 */
import type { MemoryMap } from './types';

export function redactPath(name: string): string {
  if (!name.startsWith('/')) return name;
  const deleted = name.endsWith(' (deleted)') ? ' (deleted)' : '';
  const path = deleted ? name.slice(0, -deleted.length) : name;
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base === '' ? name : base + deleted;
}

export function redactCmdline(cmdline: string, comm: string): string {
  if (cmdline.startsWith('[') && cmdline.endsWith(']')) return cmdline;
  return comm;
}

/** Redacts a domain map in place (header command line, VMA names); returns it. */
export function redactMap(map: MemoryMap): MemoryMap {
  map.header.cmdline = redactCmdline(map.header.cmdline, map.header.comm);
  for (const v of map.vmas) {
    if (v.name.startsWith('/')) v.name = redactPath(v.name);
  }
  return map;
}
