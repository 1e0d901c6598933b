/**
 * The ListProcesses filters applied to an already-built ProcessInfo (the VE processes of a node,
 * which VeSource lists without filters). Same semantics as ProcReader.listProcesses applies while
 * it reads /proc: name regex on comm or cmdline, user name or numeric uid, cgroup substring,
 * Slurm job component, Kubernetes pod uid (`@app/procfs` cgroup matchers), pids, kernel threads.
 */
import type { ProcessInfo } from '@app/domain';
import { k8sPodMatcher, slurmJobMatcher, type ProcessFilter } from '@app/procfs';

function isDigits(s: string): boolean {
  return s.length > 0 && /^\d+$/.test(s);
}

/** A predicate for `filter`, prepared once (regex state, uid, needles). */
export function processMatcher(filter: ProcessFilter): (p: ProcessInfo) => boolean {
  const pids = filter.pids ? new Set(filter.pids) : undefined;
  const wantUid =
    filter.user !== undefined && isDigits(filter.user) ? Number(filter.user) : undefined;
  const userName = wantUid === undefined ? filter.user : undefined;
  const re = filter.nameRegex;
  const inPod = filter.k8sPod !== undefined ? k8sPodMatcher(filter.k8sPod) : undefined;
  const inJob = filter.slurmJob !== undefined ? slurmJobMatcher(filter.slurmJob) : undefined;
  return (p) => {
    if (pids && !pids.has(p.pid)) return false;
    if (p.kernelThread && !filter.includeKernelThreads) return false;
    if (wantUid !== undefined && p.uid !== wantUid) return false;
    if (userName !== undefined && p.user !== userName) return false;
    if (re && !re.test(p.comm) && !re.test(p.cmdline)) return false;
    if (filter.cgroup !== undefined && !p.cgroup.includes(filter.cgroup)) return false;
    if (inJob !== undefined && !inJob(p.cgroup)) return false;
    if (inPod !== undefined && !inPod(p.cgroup)) return false;
    return true;
  };
}
