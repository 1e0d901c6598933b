import { compileSafeRegex, type ProcessInfo } from '@app/domain';
import { loadConfig, type AgentConfig } from './config';
import { processMatcher } from './process-match';

function proc(over: Partial<ProcessInfo>): ProcessInfo {
  return {
    pid: 10,
    ppid: 1,
    comm: 'dgemm',
    cmdline: './dgemm -n 4',
    uid: 1000,
    user: 'focht',
    state: 'S',
    threads: 1,
    startTimeMs: 0,
    vsize: 0n,
    rss: 0n,
    cgroup: '/system.slice/slurmstepd.scope/job_42/step_0',
    kernelThread: false,
    ...over,
  };
}

describe('processMatcher (ListProcesses filters on built ProcessInfo, e.g. VE processes)', () => {
  const p = proc({});
  it('matches the name regex against comm or cmdline, the same answer every time', () => {
    const re = (src: string) => compileSafeRegex(src, 'name_regex');
    expect(processMatcher({ nameRegex: re('^dgemm$') })(p)).toBe(true);
    expect(processMatcher({ nameRegex: re('-n 4') })(p)).toBe(true);
    expect(processMatcher({ nameRegex: re('^p$') })(p)).toBe(false);
    const g = processMatcher({ nameRegex: re('(?i)DGEMM') });
    expect([g(p), g(p), g(p)]).toEqual([true, true, true]);
  });
  it('matches user by name or uid, pids, cgroup, Slurm job and pod', () => {
    expect(processMatcher({ user: 'focht' })(p)).toBe(true);
    expect(processMatcher({ user: '1000' })(p)).toBe(true);
    expect(processMatcher({ user: '0' })(p)).toBe(false);
    expect(processMatcher({ user: 'root' })(p)).toBe(false);
    expect(processMatcher({ pids: [10, 11] })(p)).toBe(true);
    expect(processMatcher({ pids: [11] })(p)).toBe(false);
    expect(processMatcher({ cgroup: 'slurmstepd' })(p)).toBe(true);
    expect(processMatcher({ slurmJob: '42' })(p)).toBe(true);
    expect(processMatcher({ slurmJob: '4' })(p)).toBe(false);
    const pod = proc({ cgroup: '/kubepods/pod1234_abcd/x' });
    expect(processMatcher({ k8sPod: '1234-abcd' })(pod)).toBe(true);
    expect(processMatcher({ k8sPod: '9999' })(pod)).toBe(false);
    expect(processMatcher({ k8sPod: '1234' })(pod)).toBe(false); // truncated uid
    expect(processMatcher({ slurmJob: '420' })(p)).toBe(false);
  });
  it('leaves kernel threads out unless asked', () => {
    const k = proc({ kernelThread: true });
    expect(processMatcher({})(k)).toBe(false);
    expect(processMatcher({ includeKernelThreads: true })(k)).toBe(true);
  });
});

describe('agent VE configuration', () => {
  const base = ['--listen', '127.0.0.1:0', '--node-name', 'n', '--insecure'];
  const load = (argv: string[], env: NodeJS.ProcessEnv = {}): AgentConfig =>
    loadConfig([...base, ...argv], env) as AgentConfig;
  it('defaults to looking for the library at the default paths', () => {
    const c = load([]);
    expect(c.ve).toBe(true);
    expect(c.veLibrary).toBeUndefined();
    expect(c.veSysfs).toBeUndefined();
  });
  it('takes the paths from flags or the environment, flags first', () => {
    const c = load(['--ve-library', '/x/libveosinfo.so', '--ve-sysfs=/s/'], {
      PMAPD_VE_LIBRARY: '/env/lib.so',
      PMAPD_VE_SOCKET_DIR: '/run/veos',
    });
    expect(c).toMatchObject({
      veLibrary: '/x/libveosinfo.so',
      veSysfs: '/s',
      veSocketDir: '/run/veos',
    });
    expect(load(['--no-ve']).ve).toBe(false);
    expect(load([], { PMAPD_NO_VE: 'true' }).ve).toBe(false);
  });
  it('rejects relative paths and bad booleans', () => {
    expect(() => load(['--ve-library', 'lib.so'])).toThrow(
      /--ve-library \(PMAPD_VE_LIBRARY\): expected an absolute path/,
    );
    expect(() => load([], { PMAPD_NO_VE: 'maybe' })).toThrow(/--no-ve \(PMAPD_NO_VE\)/);
  });
});
