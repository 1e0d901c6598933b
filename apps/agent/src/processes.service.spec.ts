import { spawn } from 'node:child_process';
import type { ProcessInfo } from '@app/domain';
import { ProcReader } from '@app/procfs';
import { ListProcessesRequest, ProcessSort } from '@app/proto';
import { VeService } from './ve.service';
import {
  ANSWER_BUDGET_BYTES,
  capUtf8,
  CMDLINE_CAP_BYTES,
  listResponse,
  ProcessesService,
  sumProcesses,
} from './processes.service';

function proc(pid: number, pss: bigint | undefined, extra: Partial<ProcessInfo> = {}): ProcessInfo {
  const p: ProcessInfo = {
    pid,
    ppid: 1,
    comm: `p${pid}`,
    cmdline: `/bin/p${pid}`,
    uid: 0,
    user: 'root',
    state: 'S',
    threads: 1,
    startTimeMs: 0,
    vsize: 0n,
    rss: BigInt(pid) * 4096n,
    cgroup: '/',
    kernelThread: false,
    ...extra,
  };
  if (pss !== undefined) {
    const z = 0n;
    p.rollup = {
      rss: pss * 2n,
      pss,
      pssAnon: z,
      pssFile: z,
      pssShmem: z,
      sharedClean: z,
      sharedDirty: z,
      privateClean: z,
      privateDirty: z,
      referenced: z,
      anonymous: z,
      anonHugePages: z,
      shmemPmdMapped: z,
      filePmdMapped: z,
      swap: pss / 2n,
      swapPss: z,
      locked: z,
    };
  }
  return p;
}

const NO_VE = VeService.of(undefined, 'no VE in this spec');

/** A service over a fixed list (fresh copies per call, as the reader builds them). */
function over(list: () => ProcessInfo[]): ProcessesService {
  return new ProcessesService(
    { listProcesses: () => Promise.resolve({ processes: list(), unreadable: 2 }) },
    NO_VE,
  );
}

const req = (r: Partial<ListProcessesRequest>): ListProcessesRequest =>
  ListProcessesRequest.fromPartial(r);

describe('capUtf8', () => {
  it('leaves strings that fit and cuts longer ones at a character boundary', () => {
    expect(capUtf8('abc', 3)).toBeUndefined();
    expect(capUtf8('a'.repeat(5000), 4096)).toBe('a'.repeat(4096));
    // 'é' is 2 bytes, '€' 3, '😀' 4 (a surrogate pair): never split
    expect(capUtf8('é'.repeat(3000), 4096)).toBe('é'.repeat(2048));
    expect(capUtf8('a€€', 6)).toBe('a€');
    const cut = capUtf8('ab' + '😀'.repeat(2000), 4096)!;
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(4096);
    expect(cut.endsWith('😀')).toBe(true);
    expect(Buffer.from(cut, 'utf8').toString('utf8')).toBe(cut);
  });
});

describe('ProcessesService.list', () => {
  const five = (): ProcessInfo[] => [
    proc(10, 100n),
    proc(11, undefined),
    proc(12, 300n),
    proc(13, 100n),
    proc(14, 0n),
  ];

  it('sorts descending with ties by pid and processes without the figure last', async () => {
    const list = await over(five).list(req({ sort: ProcessSort.PROCESS_SORT_PSS }));
    expect(list.processes.map((p) => p.pid)).toEqual([12, 10, 13, 14, 11]);
    expect(list.totalMatched).toBe(5);
    expect(list.totals).toBeUndefined();
  });

  it('sums every matching process before the limit when asked for totals', async () => {
    const list = await over(five).list(
      req({ sort: ProcessSort.PROCESS_SORT_PSS, limit: 2, totals: true }),
    );
    expect(list.processes.map((p) => p.pid)).toEqual([12, 10]);
    expect(list.totalMatched).toBe(5);
    expect(list.unreadable).toBe(2);
    // rss: rollup rss (2 x pss) where there is one, else /proc/PID/stat rss (11 x 4096)
    expect(list.totals).toEqual({
      processes: 5,
      withoutRollup: 1,
      rss: 1000n + 11n * 4096n,
      pss: 500n,
      swap: 50n + 150n + 50n,
      anonHugePages: 0n,
      locked: 0n,
    });
    expect(listResponse(list).totals).toEqual(list.totals);
    expect(sumProcesses([])).toMatchObject({ processes: 0, rss: 0n });
  });

  it('caps command lines at 4 KiB with the truncation flag', async () => {
    const long = 'x'.repeat(1_900_000);
    const list = await over(() => [proc(20, 1n, { cmdline: long }), proc(21, 1n)]).list(req({}));
    expect(list.processes[0].cmdline).toBe('x'.repeat(CMDLINE_CAP_BYTES));
    expect(list.processes[0].cmdlineTruncated).toBe(true);
    expect(list.processes[1].cmdlineTruncated).toBeUndefined();
    const wire = listResponse(list).processes;
    expect(wire.map((p) => p.cmdlineTruncated)).toEqual([true, false]);
  });

  it('pages an answer past the byte budget with next_offset, and offset goes on from there', async () => {
    // each process carries a capped 4 KiB command line: about 12 KiB counted per process
    const many = (): ProcessInfo[] =>
      Array.from({ length: 2000 }, (_, i) => proc(i + 1, BigInt(i), { cmdline: 'y'.repeat(9000) }));
    const svc = over(many);
    const seen: number[] = [];
    let offset = 0;
    let pages = 0;
    do {
      const page = await svc.list(req({ sort: ProcessSort.PROCESS_SORT_PSS, offset }));
      expect(page.totalMatched).toBe(2000);
      const bytes = page.processes.reduce((n, p) => n + p.cmdline.length * 3 + 256, 0);
      expect(bytes).toBeLessThanOrEqual(ANSWER_BUDGET_BYTES);
      seen.push(...page.processes.map((p) => p.pid));
      offset = page.nextOffset;
      pages++;
    } while (offset > 0 && pages < 100);
    expect(pages).toBeGreaterThan(1);
    expect(seen).toEqual(Array.from({ length: 2000 }, (_, i) => 2000 - i));
  });

  it('caps the command line of a real process started with 1.9 MB of arguments', async () => {
    // one argument may be 128 KiB at most (MAX_ARG_STRLEN): 15 of 126 000 bytes, no environment
    const args = Array.from({ length: 15 }, () => 'z'.repeat(126_000));
    // sh keeps running (sleep is not its last command) with the long arguments as $0, $1...;
    // `sleep 60 zzz…` itself would exit at once on its bad arguments
    const child = spawn('/bin/sh', ['-c', 'sleep 60; :', ...args], { stdio: 'ignore', env: {} });
    try {
      const svc = new ProcessesService(new ProcReader(), NO_VE);
      const list = await svc.list(req({ pids: [child.pid!] }));
      expect(list.processes).toHaveLength(1);
      const p = list.processes[0];
      expect(p.cmdlineTruncated).toBe(true);
      expect(Buffer.byteLength(p.cmdline)).toBeLessThanOrEqual(CMDLINE_CAP_BYTES);
      expect(p.cmdline.startsWith('/bin/sh -c sleep 60; : zzz')).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
