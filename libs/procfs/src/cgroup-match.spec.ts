import { k8sPodMatcher, slurmJobMatcher } from './cgroup-match';

describe('slurmJobMatcher', () => {
  const job12 = slurmJobMatcher('12');
  it('matches the exact job_ID component anywhere in the path (namespaced or not)', () => {
    expect(job12('/system.slice/slurmstepd.scope/job_12/step_0')).toBe(true);
    expect(job12('/job_12/step_batch')).toBe(true); // inside a cgroup namespace
    expect(job12('/slurm/uid_1000/job_12/step_0/task_0')).toBe(true); // cgroup v1 layout
    expect(job12('/job_12')).toBe(true);
  });
  it('never matches a longer id, a prefix, a substring or another component', () => {
    expect(job12('/system.slice/slurmstepd.scope/job_123/step_0')).toBe(false);
    expect(job12('/system.slice/slurmstepd.scope/job_1/step_0')).toBe(false);
    expect(job12('/system.slice/slurmstepd.scope/job_112/step_0')).toBe(false);
    expect(job12('/x/myjob_12/step_0')).toBe(false);
    expect(job12('/x/job_12.scope')).toBe(false);
    expect(job12('/x/step_12')).toBe(false);
    expect(job12('')).toBe(false);
    expect(slurmJobMatcher('')('/job_/x')).toBe(false);
  });
});

describe('k8sPodMatcher', () => {
  const uid = '6f1c7a52-0d7e-4b1e-9a55-3c1f5b9e2d10';
  const systemd =
    '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6f1c7a52_0d7e_4b1e_9a55_3c1f5b9e2d10.slice/cri-containerd-0123.scope';
  const cgroupfs = '/kubepods/burstable/pod6f1c7a52-0d7e-4b1e-9a55-3c1f5b9e2d10/0123abcd';
  it('matches the systemd and cgroupfs layouts, dashes or underscores, any case', () => {
    for (const u of [uid, uid.replace(/-/g, '_'), uid.toUpperCase()]) {
      expect(k8sPodMatcher(u)(systemd)).toBe(true);
      expect(k8sPodMatcher(u)(cgroupfs)).toBe(true);
    }
    // Guaranteed QoS has no class slice; a namespace may show only the pod's own slice.
    expect(k8sPodMatcher(uid)(`/kubepods.slice/kubepods-pod${uid.replace(/-/g, '_')}.slice`)).toBe(
      true,
    );
    expect(k8sPodMatcher(uid)(`/pod${uid}`)).toBe(true);
  });
  it('does not match a truncated uid, a longer uid, or a uid not following "pod"', () => {
    const truncated = uid.slice(0, -4);
    expect(k8sPodMatcher(truncated)(systemd)).toBe(false);
    expect(k8sPodMatcher(truncated)(cgroupfs)).toBe(false);
    expect(k8sPodMatcher('6f1c7a52')(systemd)).toBe(false);
    expect(k8sPodMatcher(uid.slice(4))(systemd)).toBe(false); // the uid's tail
    expect(k8sPodMatcher(uid + '0')(systemd)).toBe(false);
    expect(k8sPodMatcher(uid)(`/kubepods/burstable/xpod${uid}/c`)).toBe(false);
    expect(k8sPodMatcher(uid)(`/kubepods/burstable/pod${uid}.scope/c`)).toBe(false);
    expect(k8sPodMatcher(uid)(`/kubepods/burstable/pod${uid}0/c`)).toBe(false);
    expect(k8sPodMatcher('')(`/kubepods/burstable/pod/c`)).toBe(false);
  });
});
