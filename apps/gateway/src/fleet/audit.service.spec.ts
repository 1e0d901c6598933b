import { fleetRouteService } from './testing-module';
import type { ProcessInfo } from '@app/domain';
import { FleetSessionResponse, processToProto } from '@app/proto';
import { decodeSessionAnswer } from '../cluster/listed-process';
import { ApiError } from '../common/api-error';
import { AuditService, auditValue, type AuditNode } from './audit.service';
import type { AuditKey } from './dto/fleet-query.dto';
import type { FanOutResult } from './fanout';

const auditService = (): Promise<AuditService> => fleetRouteService(AuditService);

function proc(pid: number, pss: bigint | undefined): ProcessInfo {
  const p: ProcessInfo = {
    pid,
    ppid: 1,
    comm: 'c',
    cmdline: 'c',
    uid: 0,
    user: 'root',
    state: 'S',
    threads: 1,
    startTimeMs: 0,
    vsize: 0n,
    rss: 4096n,
    cgroup: '/',
    kernelThread: false,
  };
  if (pss !== undefined) {
    p.rollup = {
      rss: pss + 1n,
      pss,
      pssAnon: 0n,
      pssFile: 0n,
      pssShmem: 0n,
      sharedClean: 0n,
      sharedDirty: 0n,
      privateClean: 0n,
      privateDirty: 0n,
      referenced: 0n,
      anonymous: 0n,
      anonHugePages: 0n,
      shmemPmdMapped: 0n,
      filePmdMapped: 0n,
      swap: pss % 7n,
      swapPss: 0n,
      locked: 0n,
    };
  }
  return p;
}

/** What an agent answers for `by` and `top`: its ranked list cut at top (processes.service). */
function agentTop(all: ProcessInfo[], by: AuditKey, top: number): ProcessInfo[] {
  const ranked = all.map((p) => ({ p, v: auditValue(p, by) }));
  ranked.sort((a, b) =>
    a.v === b.v
      ? a.p.pid - b.p.pid
      : a.v === undefined
        ? 1
        : b.v === undefined
          ? -1
          : a.v > b.v
            ? -1
            : 1,
  );
  return ranked.slice(0, top).map((x) => x.p);
}

describe('AuditService', () => {
  /** The processes as a fleet session hands them over: bytes, only the figure read. */
  const listed = (ps: ProcessInfo[]) =>
    decodeSessionAnswer(
      FleetSessionResponse.encode({
        id: 1,
        listProcesses: {
          processes: ps.map(processToProto),
          totalMatched: ps.length,
          unreadable: 0,
          totals: undefined,
          nextOffset: 0,
        },
      }).finish(),
    ).listProcesses!.processes;

  it.each([
    ['domain processes', (ps: ProcessInfo[]) => ps],
    ['a session answer (decoded only for the fleet top)', listed],
  ])(
    'merges node tops of %s into the same fleet top N as ranking every process, ties by node then pid',
    async (_what, as) => {
      const svc = await auditService();
      // three nodes, values with ties across nodes and processes without a rollup
      let seed = 7;
      const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % 50;
      const nodes = ['n2', 'n10', 'n1'].map((node) => ({
        node,
        all: Array.from({ length: 40 }, (_, i) =>
          proc(100 + i, i % 9 === 0 ? undefined : BigInt(rnd())),
        ),
      }));
      const top = 12;
      const resOf = (
        as: (ps: ProcessInfo[]) => Parameters<AuditService['nodeOf']>[2],
      ): FanOutResult<AuditNode> => ({
        queried: 3,
        responded: 3,
        failed: [],
        outcomes: [],
        results: nodes.map(({ node, all }) => ({
          node,
          durationMs: 1,
          value: svc.nodeOf(
            {
              processes: all.length,
              withoutRollup: 0,
              rss: 0n,
              pss: all.reduce((n, p) => n + (p.rollup?.pss ?? 0n), 0n),
              swap: 0n,
              anonHugePages: 0n,
              locked: 0n,
            },
            1,
            as(agentTop(all, 'pss', top)),
            'pss',
          ),
        })),
      });
      const out = svc.assemble('pss', top, 5000, resOf(as));
      // every field of the answer as from the domain processes (comm, cmdline, figures...)
      expect(out).toEqual(
        svc.assemble(
          'pss',
          top,
          5000,
          resOf((ps) => ps),
        ),
      );
      // the reference: every process of every node ranked at once
      const every = nodes.flatMap(({ node, all }) =>
        all.filter((p) => p.rollup).map((p) => ({ node, pid: p.pid, v: p.rollup!.pss })),
      );
      every.sort((a, b) =>
        a.v !== b.v
          ? a.v > b.v
            ? -1
            : 1
          : a.node === b.node
            ? a.pid - b.pid
            : a.node.localeCompare(b.node),
      );
      expect(out.processes.map((p) => `${p.node}/${p.pid}/${p.value}`)).toEqual(
        every.slice(0, top).map((e) => `${e.node}/${e.pid}/${Number(e.v)}`),
      );
      expect(out.nodes.map((n) => n.node)).toEqual(['n1', 'n10', 'n2']);
      expect(out.totals.processes).toBe(120);
      expect(out.totals.unreadable).toBe(3);
      expect(out.totals.pss).toBe(
        Number(nodes.flatMap((n) => n.all).reduce((n, p) => n + (p.rollup?.pss ?? 0n), 0n)),
      );
    },
  );

  it('does not rank a process without the figure; shows its missing figures as null', async () => {
    const svc = await auditService();
    const node = svc.nodeOf(
      { processes: 2, withoutRollup: 1, rss: 0n, pss: 0n, swap: 0n, anonHugePages: 0n, locked: 0n },
      0,
      [proc(1, 5n), proc(2, undefined)],
      'swap',
    );
    expect(node.top.map((t) => (t.p as ProcessInfo).pid)).toEqual([1]);
    const byRss = svc.nodeOf(node.totals, 0, [proc(2, undefined)], 'rss');
    const out = svc.assemble('rss', 5, 1000, {
      queried: 1,
      responded: 1,
      failed: [],
      outcomes: [],
      results: [{ node: 'n', durationMs: 1, value: byRss }],
    });
    expect(out.processes).toEqual([
      expect.objectContaining({ pid: 2, value: 4096, rss: 4096, pss: null, swap: null }),
    ]);
  });

  it('answers 404 naming the selector when no node matches', async () => {
    const svc = await auditService();
    await expect(svc.audit({ nodes: 'nope-*' }, undefined)).rejects.toThrow(ApiError);
    await expect(svc.audit({ nodes: 'nope-*' }, undefined)).rejects.toMatchObject({ status: 404 });
  });
});
