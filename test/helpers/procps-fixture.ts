import type { ProcessHeader } from '@app/domain';
import { parseCmdline, parseStat } from '@app/procfs';
import { readFixture } from '../fixtures/paths';

/** A file of the procps-4.0.2 golden data (real pmap output with the /proc inputs it read). */
export const readProcps = (name: string): string => readFixture('procps-4.0.2', name);

/** The header of the process the procps-4.0.2 fixtures captured. */
export function procpsFixtureHeader(): ProcessHeader {
  const stat = parseStat(readProcps('target_proc_stat.txt'));
  return {
    pid: stat.pid,
    // The captured cmdline file holds the arguments already joined by spaces; /proc has NULs.
    cmdline: parseCmdline(
      Buffer.from(readProcps('target_proc_cmdline.txt').replace(/ /g, '\0')),
      stat.comm,
    ),
    comm: stat.comm,
    startStack: stat.startStack,
    kernelThread: false,
    uid: 0,
  };
}
