import { fleetRouteService } from './testing-module';
import type { ProcessInfo, Vma } from '@app/domain';
import { JobMemoryService, processSums, vmaSums } from './job-memory.service';

const jobService = (): Promise<JobMemoryService> => fleetRouteService(JobMemoryService);

const proc = (pid: number): ProcessInfo => ({
  pid,
  ppid: 1,
  comm: 'solver',
  cmdline: 'solver --big',
  uid: 1000,
  user: 'alice',
  state: 'S',
  threads: 4,
  startTimeMs: 0,
  vsize: 0n,
  rss: 0n,
  cgroup: '/job_42/step_0',
  kernelThread: false,
});

function vma(kind: Vma['kind'], rssKb: bigint, thpKb = 0n): Vma {
  return {
    start: 0x1000n,
    end: 0x201000n,
    perms: 'rw-p',
    offset: 0n,
    devMajor: 0,
    devMinor: 0,
    inode: 0n,
    name: '',
    kind,
    fields: [
      { name: 'Rss', value: rssKb, kb: true },
      { name: 'Pss', value: rssKb / 2n, kb: true },
      { name: 'AnonHugePages', value: thpKb, kb: true },
      { name: 'THPeligible', value: 1n, kb: false },
    ],
  };
}

describe('JobMemoryService', () => {
  it('sums smaps figures per VMA in bytes (kB fields only)', () => {
    const s = vmaSums(vma('anon', 8n, 2n));
    expect(s).toMatchObject({ vmas: 1, size: 0x200000n, rss: 8192n, pss: 4096n, thp: 2048n });
  });

  it('sums per process, per node and for the job, by kind, nodes by name', async () => {
    const svc = await jobService();
    const a = processSums(proc(1), [vma('anon', 100n, 50n), vma('heap', 10n)]);
    const b = processSums(proc(2), [vma('anon', 300n)]);
    const c = processSums(proc(3), [vma('file', 40n)]);
    const out = svc.assemble('42', 5000, {
      queried: 3,
      responded: 3,
      failed: [],
      outcomes: [],
      results: [
        { node: 'n2', durationMs: 1, value: { processes: [c], unreadable: 1 } },
        { node: 'n1', durationMs: 1, value: { processes: [a, b], unreadable: 0 } },
        { node: 'n3', durationMs: 1, value: { processes: [], unreadable: 0 } },
      ],
    });
    expect(out.nodes.map((n) => n.node)).toEqual(['n1', 'n2']); // n3 does not run the job
    expect(out.nodes[0].totals).toMatchObject({ vmas: 3, rss: 410 * 1024, thp: 50 * 1024 });
    expect(out.nodes[0].processes[0]).toMatchObject({ pid: 1, rss: 110 * 1024, thpShare: 0.4545 });
    expect(Object.keys(out.byKind)).toEqual(['anon', 'file', 'heap']); // largest Rss first
    expect(out.byKind.anon).toMatchObject({ vmas: 2, rss: 400 * 1024 });
    expect(out.totals).toMatchObject({ processes: 3, nodes: 2, rss: 450 * 1024 });
  });
});
