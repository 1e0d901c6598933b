import {
  FleetSessionResponse,
  ListProcessesResponse,
  MemoryRollup,
  ProcessInfo,
  type ProcessTotals,
} from '@app/proto';
import {
  decodeSessionAnswer,
  ListedProcess,
  materialize,
  type ListedFigure,
} from './listed-process';

const FIGURES: ListedFigure[] = ['rss', 'pss', 'swap', 'anonHugePages', 'locked'];

function proc(pid: number, rollup: boolean): ProcessInfo {
  return ProcessInfo.fromPartial({
    pid,
    ppid: 1,
    comm: `c${pid}`,
    cmdline: `/bin/x --secret ${pid} ünï`,
    uid: 1000,
    user: 'u',
    state: 'S',
    threads: 3,
    startTimeMs: 123456789n,
    vsize: 2n ** 40n + BigInt(Math.abs(pid)),
    rollup: rollup
      ? MemoryRollup.fromPartial({
          rss: 1000n * BigInt(Math.abs(pid)),
          pss: 900n * BigInt(Math.abs(pid)),
          swap: pid % 2 === 0 ? 0n : 77n,
          anonHugePages: 2n ** 60n + BigInt(Math.abs(pid)),
          locked: pid === 9 ? 2n ** 64n - 1n : 5n,
          privateDirty: 9n,
        })
      : undefined,
    rollupError: rollup ? '' : 'EACCES',
    cgroup: '/a/b',
    veNode: pid % 3 === 0 ? 2 : undefined,
    rss: 4096n * BigInt(Math.abs(pid)),
    cmdlineTruncated: pid % 2 === 0,
  });
}

const totals: ProcessTotals = {
  processes: 400,
  withoutRollup: 2,
  rss: 2n ** 55n,
  pss: 12345n,
  swap: 0n,
  anonHugePages: 7n,
  locked: 1n,
};

function answer(m: FleetSessionResponse): Uint8Array {
  return FleetSessionResponse.encode(m).finish();
}

describe('decodeSessionAnswer', () => {
  const list = ListProcessesResponse.fromPartial({
    processes: [
      proc(7, true),
      proc(8, false),
      proc(9, true),
      proc(2 ** 31 - 1, true),
      proc(-2, true) /* int32: 10-byte varint */,
    ],
    totalMatched: 400,
    unreadable: 3,
    totals,
    nextOffset: 20,
  });

  it('gives what the generated decoder gives, processes decoded when read', () => {
    const bytes = answer({ id: 4242, listProcesses: list });
    const a = decodeSessionAnswer(bytes);
    expect(a.id).toBe(4242);
    expect(a.listProcesses!.processes).toHaveLength(5);
    expect(materialize(a.listProcesses!)).toEqual(FleetSessionResponse.decode(bytes).listProcesses);
  });

  it('reads every figure and the pid without decoding, as auditValue would decode them', () => {
    const a = decodeSessionAnswer(answer({ id: 1, listProcesses: list }));
    a.listProcesses!.processes.forEach((lp, i) => {
      const p = list.processes[i];
      for (const by of FIGURES) {
        const want = by === 'rss' ? (p.rollup?.rss ?? p.rss) : p.rollup?.[by];
        expect(lp.figure(by)).toBe(want);
        // the same from a decoded process
        expect(ListedProcess.of(p).figure(by)).toBe(want);
      }
      expect(lp.readPid()).toBe(p.pid);
    });
    // no rollup: only rss has a figure (/proc/PID/stat's)
    expect(a.listProcesses!.processes[1].figure('pss')).toBeUndefined();
    expect(a.listProcesses!.processes[1].figure('rss')).toBe(4096n * 8n);
  });

  it('a rollup without the figure reads 0, as decoded', () => {
    const p = ProcessInfo.fromPartial({ pid: 5, rollup: { pss: 3n }, rss: 10n });
    const a = decodeSessionAnswer(
      answer({ id: 2, listProcesses: ListProcessesResponse.fromPartial({ processes: [p] }) }),
    );
    const lp = a.listProcesses!.processes[0];
    expect(lp.figure('swap')).toBe(0n);
    expect(lp.figure('rss')).toBe(0n);
    expect(lp.figure('pss')).toBe(3n);
  });

  it('errors and node info as the generated decoder gives them', () => {
    const err = answer({
      id: 3,
      error: { code: 8, message: 'busy', reason: 'AGENT_BUSY', field: '', pid: 0 },
    });
    expect(decodeSessionAnswer(err)).toEqual(FleetSessionResponse.decode(err));
    const info = answer(
      FleetSessionResponse.fromPartial({
        id: 9,
        nodeInfo: { node: { hostname: 'n1', kernelRelease: '6.1', pageSize: 4096n } },
      }),
    );
    expect(decodeSessionAnswer(info).nodeInfo?.node?.hostname).toBe('n1');
    expect(decodeSessionAnswer(info)).toEqual(FleetSessionResponse.decode(info));
  });

  it('a truncated answer throws (as the generated decoder does), never reads past the end', () => {
    const bytes = answer({ id: 1, listProcesses: list });
    expect(() => decodeSessionAnswer(bytes.subarray(0, bytes.length - 3))).toThrow(RangeError);
    expect(() => FleetSessionResponse.decode(bytes.subarray(0, bytes.length - 3))).toThrow();
  });

  it('redacts a process once, when it is decoded', () => {
    const a = decodeSessionAnswer(answer({ id: 1, listProcesses: list }));
    const seen: number[] = [];
    const redact = (m: unknown) => {
      for (const p of (m as ListProcessesResponse).processes) {
        seen.push(p.pid);
        p.cmdline = p.comm;
      }
      return m;
    };
    for (const lp of a.listProcesses!.processes) lp.redactWith(redact);
    expect(seen).toEqual([]);
    const p = a.listProcesses!.processes[2].process();
    expect(p.cmdline).toBe('c9');
    expect(a.listProcesses!.processes[2].process()).toBe(p);
    expect(seen).toEqual([9]);
    // an already decoded process is redacted at once
    const d = ListedProcess.of(proc(3, true));
    d.redactWith(redact);
    expect(d.process().cmdline).toBe('c3');
  });
});
