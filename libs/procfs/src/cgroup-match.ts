/**
 * Scheduler selectors on a cgroup path. Both look at path components only, never at a prefix, so
 * they work inside a cgroup namespace (which hides the path's beginning):
 *
 * - Slurm job ID: a component that is exactly `job_ID` (`…/slurmstepd.scope/job_42/step_0`,
 *   `/slurm/uid_1000/job_42/step_batch`); `job_12` does not match `job_123`.
 * - Kubernetes pod UID: a component containing `pod<UID>` that starts the component or follows a
 *   `-`, and ends the component or is followed by exactly `.slice`: cgroupfs driver
 *   `/kubepods/burstable/pod6f1c7a52-0d7e-…/<container>`, systemd driver
 *   `kubepods-burstable-pod6f1c7a52_0d7e_….slice`. Dashes and underscores are the same, case is
 *   ignored; a truncated UID does not match.
 */

/** A predicate on cgroup paths: has the component `job_ID`. */
export function slurmJobMatcher(id: string): (cgroupPath: string) => boolean {
  const component = 'job_' + id;
  return (path) => {
    if (id === '' || !path.includes(component)) return false; // cheap reject first
    for (const c of path.split('/')) if (c === component) return true;
    return false;
  };
}

function normalizePodId(s: string): string {
  return s.replace(/_/g, '-').toLowerCase();
}

/** A predicate on cgroup paths: has a pod component of this UID (see the module comment). */
export function k8sPodMatcher(uid: string): (cgroupPath: string) => boolean {
  const needle = 'pod' + normalizePodId(uid);
  return (path) => {
    if (uid === '') return false;
    const norm = normalizePodId(path);
    if (!norm.includes(needle)) return false;
    for (const c of norm.split('/')) {
      for (let at = c.indexOf(needle); at >= 0; at = c.indexOf(needle, at + 1)) {
        if (at > 0 && c[at - 1] !== '-') continue;
        const rest = c.slice(at + needle.length);
        if (rest === '' || rest === '.slice') return true;
      }
    }
    return false;
  };
}
