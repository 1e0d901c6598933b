/**
 * The one errno -> PmapError mapping of libs/procfs (ProcReader, PagemapReader, the histograms):
 *   ENOENT/ENOTDIR on the first file of a read -> NOT_FOUND ("no such process N");
 *   ENOENT/ENOTDIR later, ESRCH -> EXITED ("process N exited during the read");
 *   EACCES / EPERM -> PERMISSION_DENIED (running the agent as root or with CAP_SYS_PTRACE helps);
 *   anything else -> UNAVAILABLE with the file and the system message.
 */
import { PmapError } from '@app/domain';

/** The `code` of a Node.js system error ("ENOENT"), else undefined. */
export function errnoOf(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const code = e.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function permissionDenied(pid: number, file: string): PmapError {
  return new PmapError(
    'PERMISSION_DENIED',
    `permission denied reading ${file} of process ${pid}: another user's process; ` +
      'running the agent as root or with CAP_SYS_PTRACE allows it',
    undefined,
    pid,
  );
}

export function notFound(pid: number): PmapError {
  return new PmapError('NOT_FOUND', `no such process ${pid}`, undefined, pid);
}

export function exited(pid: number): PmapError {
  return new PmapError('EXITED', `process ${pid} exited during the read`, undefined, pid);
}

/**
 * Converts a file-system error on /proc/PID/`file` into a PmapError (a PmapError passes through).
 * `started`: an earlier file of the same process was read, so ENOENT means the process went away
 * (EXITED) rather than never existed (NOT_FOUND).
 */
export function procError(e: unknown, pid: number, file: string, started: boolean): PmapError {
  if (e instanceof PmapError) return e;
  switch (errnoOf(e)) {
    case 'ENOENT':
    case 'ENOTDIR':
      return started ? exited(pid) : notFound(pid);
    case 'ESRCH':
      return exited(pid);
    case 'EACCES':
    case 'EPERM':
      return permissionDenied(pid, file);
    default: {
      const msg = e instanceof Error ? e.message : String(e);
      return new PmapError('UNAVAILABLE', `reading ${file} of process ${pid}: ${msg}`);
    }
  }
}
