/**
 * gRPC fuzz: random GetMemoryMap / ListProcesses / GetHistogram / WatchMemoryMap requests (huge
 * and negative pids, unknown enum values, huge batch sizes and limits, ranges at 2^64-1, random
 * and catastrophic regexes such as `(a+)+$`) against a real agent. Only documented statuses may
 * come back (never INTERNAL/UNKNOWN), and the agent must stay alive and responsive — including a
 * ReDoS regex matched against a process whose command line is 50,000 'a's followed by '!'.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import fc from 'fast-check';
import {
  GetHistogramRequest,
  GetMemoryMapRequest,
  ListProcessesRequest,
  WatchMemoryMapRequest,
} from '@app/proto';
import { startAgent, type AgentHandle } from './helpers/agents';
import { collectSettled, deadlineIn, healthCheck, unary } from './helpers/grpc';
import { killAndReap, spawnZoo, startAll, type Zoo } from './helpers/processes';

const RUNS = Number(process.env.FUZZ_RUNS ?? 250);

const DOCUMENTED = new Set<number>([
  status.OK,
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.PERMISSION_DENIED,
  status.UNIMPLEMENTED,
  status.FAILED_PRECONDITION,
  status.DEADLINE_EXCEEDED,
  status.RESOURCE_EXHAUSTED,
]);

const REGEXES = [
  '(a+)+$',
  '(a|a)*$',
  '^(\\w+\\s?)*$',
  '(.*a){20}',
  '((a)\\2)*(?=x)',
  '(?<=a)b',
  '\\1',
  '(',
  '[z-a]',
  'a'.repeat(2000),
  'zoo',
  '.',
  '',
];

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const uint32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.constantFrom(0n, 2n ** 64n - 1n),
);
const range = fc.option(
  fc.record({
    low: fc.option(u64, { nil: undefined }),
    high: fc.option(u64, { nil: undefined }),
    clip: fc.boolean(),
  }),
  { nil: undefined },
);
const enumish = fc.integer({ min: -3, max: 12 });

describe('gRPC fuzz against a real agent', () => {
  let agent: AgentHandle;
  let zoo: Zoo;
  let longCmd: ChildProcess;
  let pidArb: fc.Arbitrary<number>;

  beforeAll(async () => {
    [agent, zoo] = await startAll([
      startAgent({ host: '127.0.0.43', nodeName: 'fz', extraArgs: ['--no-ve'] }),
      spawnZoo(),
    ]);
    longCmd = spawn(
      process.execPath,
      ['-e', 'setTimeout(() => {}, 120000)', 'a'.repeat(50_000) + '!'],
      {
        stdio: 'ignore',
      },
    );
    pidArb = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(zoo.pid, process.pid, 1) },
      { weight: 2, arbitrary: int32 },
      { weight: 1, arbitrary: fc.constantFrom(0, -1, 2 ** 31 - 1, 4194304) },
    );
  });

  afterAll(async () => {
    await Promise.all([longCmd && killAndReap(longCmd), agent?.stop(), zoo?.stop()]);
  });

  const codeOf = async (p: Promise<unknown>): Promise<number> => {
    try {
      await p;
      return status.OK;
    } catch (e) {
      return (e as ServiceError).code;
    }
  };

  test('a catastrophic regex on a 50,000-character command line answers, and the agent with it', async () => {
    // Backtracking, `(a+)+$` on 50,000 'a's and a '!' would take longer than the universe's age,
    // blocking the agent's one thread: the call would end at its (client-side) deadline and a
    // health check sent right behind it would get no answer either. Both deadlines are far from
    // the milliseconds the linear-time engine needs.
    const [res, health] = await Promise.all([
      unary(
        agent.client,
        agent.client.listProcesses,
        ListProcessesRequest.fromPartial({ nameRegex: '(a+)+$', skipRollup: true }),
        { deadline: deadlineIn(10000) },
      ),
      healthCheck(agent.address),
    ]);
    expect(health).toBe('SERVING');
    expect(res.processes.map((p) => p.pid)).not.toContain(longCmd.pid);
    const hit = await unary(
      agent.client,
      agent.client.listProcesses,
      ListProcessesRequest.fromPartial({ nameRegex: '^(a+)+!$', skipRollup: true }),
      { deadline: deadlineIn(10000) },
    );
    // matched against the whole command line "node -e ... aaaa!": not anchored at its start
    expect(hit.processes).toEqual([]);
    const tail = await unary(
      agent.client,
      agent.client.listProcesses,
      ListProcessesRequest.fromPartial({ nameRegex: '(a+)+!$', skipRollup: true }),
      { deadline: deadlineIn(10000) },
    );
    expect(tail.processes.map((p) => p.pid)).toContain(longCmd.pid);
  });

  test(`${RUNS} random requests: documented statuses only, agent alive and responsive`, async () => {
    const seen = new Map<string, number>();
    const note = (rpc: string, code: number): boolean => {
      const k = `${rpc}:${status[code]}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
      return DOCUMENTED.has(code);
    };
    const memoryMap = fc.record({
      pid: pidArb,
      detail: enumish,
      batchSize: fc.oneof(uint32, fc.constantFrom(0, 1, 10000, 10001)),
      range,
      threadStacks: fc.boolean(),
      veNode: fc.option(uint32, { nil: undefined, freq: 8 }),
    });
    const list = fc.record({
      nameRegex: fc.oneof(fc.constantFrom(...REGEXES), fc.string({ maxLength: 30 })),
      user: fc.oneof(fc.constantFrom('', 'root', '0', '65534', '99999999999'), fc.string()),
      cgroup: fc.string({ maxLength: 20 }),
      pids: fc.array(int32, { maxLength: 5 }),
      veNode: fc.option(uint32, { nil: undefined, freq: 8 }),
      slurmJob: fc.oneof(fc.constant(''), fc.string({ maxLength: 12 })),
      k8sPod: fc.oneof(fc.constant(''), fc.string({ maxLength: 40 })),
      skipRollup: fc.boolean(),
      sort: enumish,
      limit: uint32,
      includeKernelThreads: fc.boolean(),
      totals: fc.boolean(),
      offset: uint32,
    });
    const histogram = fc.record({
      pid: pidArb,
      kind: enumish,
      range,
      omitFileBacked: fc.boolean(),
      omitUnfaulted: fc.boolean(),
      maxOrder: fc.option(fc.oneof(fc.integer({ min: 0, max: 40 }), uint32), { nil: undefined }),
      veNode: fc.option(uint32, { nil: undefined, freq: 8 }),
      compat: enumish,
      runs: fc.boolean(),
    });
    const watch = fc.record({
      pid: pidArb,
      intervalMs: fc.oneof(fc.constantFrom(0, 1, 99, 100, 60000, 60001), uint32),
      detail: enumish,
      range,
      maxEvents: fc.integer({ min: 1, max: 2 }),
    });
    const call = fc.oneof(
      memoryMap.map((r) => ({ rpc: 'GetMemoryMap' as const, r })),
      list.map((r) => ({ rpc: 'ListProcesses' as const, r })),
      histogram.map((r) => ({ rpc: 'GetHistogram' as const, r })),
      watch.map((r) => ({ rpc: 'WatchMemoryMap' as const, r })),
    );
    const c = agent.client;
    await fc.assert(
      fc.asyncProperty(call, async ({ rpc, r }) => {
        const opts = { deadline: deadlineIn(5000) };
        switch (rpc) {
          case 'ListProcesses':
            return note(
              rpc,
              await codeOf(unary(c, c.listProcesses, ListProcessesRequest.fromPartial(r), opts)),
            );
          case 'GetMemoryMap': {
            const s = await collectSettled(
              c.getMemoryMap(GetMemoryMapRequest.fromPartial(r), new Metadata(), opts),
            );
            return note(rpc, s.error?.code ?? status.OK);
          }
          case 'GetHistogram': {
            const s = await collectSettled(
              c.getHistogram(GetHistogramRequest.fromPartial(r), new Metadata(), opts),
            );
            return note(rpc, s.error?.code ?? status.OK);
          }
          case 'WatchMemoryMap': {
            const s = await collectSettled(
              c.watchMemoryMap(WatchMemoryMapRequest.fromPartial(r), new Metadata(), {
                deadline: deadlineIn(1500),
              }),
            );
            return note(rpc, s.error?.code ?? status.OK);
          }
        }
      }),
      {
        numRuns: RUNS,
        endOnFailure: true,
        seed: Number(process.env.FUZZ_SEED ?? Date.now() % 1e9),
      },
    );
    // every RPC was exercised, with successes and refusals
    for (const rpc of ['GetMemoryMap', 'ListProcesses', 'GetHistogram', 'WatchMemoryMap']) {
      expect([...seen.keys()].some((k) => k.startsWith(rpc))).toBe(true);
    }
    // random ListProcesses requests mostly name a VE node or an unknown sort: whether one of them
    // came back OK depends on the seed, so prove the agent still lists processes explicitly.
    const listed = await unary(
      c,
      c.listProcesses,
      ListProcessesRequest.fromPartial({ pids: [agent.pid] }),
      {
        deadline: deadlineIn(5000),
      },
    );
    expect(listed.processes.map((p) => p.pid)).toEqual([agent.pid]);
    expect(seen.get('GetMemoryMap:INVALID_ARGUMENT') ?? 0).toBeGreaterThan(0);
    expect(agent.child.exitCode).toBeNull();
    // responsive: both answer before deadlines far beyond what they take (a frozen agent would not)
    const [health, info] = await Promise.all([
      healthCheck(agent.address),
      unary(c, c.getNodeInfo, {}, { deadline: deadlineIn(10000) }),
    ]);
    expect(health).toBe('SERVING');
    expect(info.node?.nodeName).toBe('fz');
    expect(agent.logs.join('\n')).not.toMatch(/"internal error"/);
  }, 150000);
});
