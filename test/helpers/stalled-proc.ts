/**
 * A /proc tree with one process whose reads block in the kernel, for real: pid 4242 has this
 * process's stat/status/cmdline/cgroup, and the files named in `stuck` are FIFOs nobody writes —
 * opening one for reading blocks until a writer comes, the same shape as a read of a process
 * stuck holding its mmap_lock. `release()` lets every blocked read end (a writer comes and goes),
 * so no thread is left blocked when the test ends; `remove()` releases and deletes the tree.
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

export interface StalledProc {
  /** Pass as the agent's --proc-root. */
  procRoot: string;
  /** Unblocks every read waiting on one of the FIFOs (readers that come later block again). */
  release(): void;
  remove(): void;
}

export function makeStalledProc(stuck: string[]): StalledProc {
  const dir = mkdtempSync(join(tmpdir(), 'pmapd-stalled-'));
  const procRoot = join(dir, 'proc');
  const pdir = join(procRoot, String(STALLED_PID));
  mkdirSync(pdir, { recursive: true });
  for (const f of ['stat', 'status', 'cmdline', 'cgroup']) {
    if (!stuck.includes(f)) writeFileSync(join(pdir, f), readFileSync(`/proc/self/${f}`));
  }
  writeFileSync(join(procRoot, 'stat'), readFileSync('/proc/stat'));
  const fifos = stuck.map((f) => join(pdir, f));
  execFileSync('mkfifo', fifos);
  const release = (): void => {
    for (const f of fifos) {
      try {
        // non-blocking: ENXIO when nobody waits on it, then there is nothing to release
        closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch (e) {
        if ((e as { code?: string }).code !== 'ENXIO') throw e;
      }
    }
  };
  return {
    procRoot,
    release,
    remove: () => {
      release();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
