/**
 * A /proc tree with one process whose reads block in the kernel, for real: pid 4242 has this
 * process's stat/status/cmdline/cgroup, and the files named in `stuck` are FIFOs nobody writes —
 * opening one for reading blocks until a writer comes, the same shape as a read of a process
 * stuck holding its mmap_lock. Used by the e2e specs (an agent's --proc-root) and by the procfs
 * unit specs (a ProcReader's procRoot).
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const STALLED_PID = 4242;

/**
 * Unblocks the reads waiting on FIFO `file`: a writer comes and goes, each blocked read sees EOF.
 * Non-blocking, so a FIFO nobody waits on (ENXIO) is left alone instead of blocking the caller;
 * readers that come later block again.
 */
export function releaseFifo(file: string): void {
  try {
    closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENXIO') throw e;
  }
}

/** Writes the tree into `procRoot` (created), for `pid` (default 4242); returns the FIFOs' paths. */
export function writeStalledProc(procRoot: string, stuck: string[], pid = STALLED_PID): string[] {
  const pdir = join(procRoot, String(pid));
  mkdirSync(pdir, { recursive: true });
  for (const f of ['stat', 'status', 'cmdline', 'cgroup']) {
    if (!stuck.includes(f)) writeFileSync(join(pdir, f), readFileSync(`/proc/self/${f}`));
  }
  writeFileSync(join(procRoot, 'stat'), readFileSync('/proc/stat'));
  const fifos = stuck.map((f) => join(pdir, f));
  execFileSync('mkfifo', fifos);
  return fifos;
}

export interface StalledProc {
  /** Pass as the agent's --proc-root. */
  procRoot: string;
  /** Unblocks every read waiting on one of the FIFOs (readers that come later block again). */
  release(): void;
  /** Releases, then deletes the tree. */
  remove(): void;
}

/** The tree in a temporary directory of its own, with one stalled process per pid given. */
export function makeStalledProc(stuck: string[], pids: number[] = [STALLED_PID]): StalledProc {
  const dir = mkdtempSync(join(tmpdir(), 'pmapd-stalled-'));
  const procRoot = join(dir, 'proc');
  const fifos = pids.flatMap((pid) => writeStalledProc(procRoot, stuck, pid));
  const release = (): void => fifos.forEach(releaseFifo);
  return {
    procRoot,
    release,
    remove: () => {
      release();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
