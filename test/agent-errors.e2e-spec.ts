/**
 * The agent's failure modes end to end: gRPC status codes, machine-readable reasons (trailing
 * metadata pmap-reason / pmap-field / pmap-pid, docs/agent.md) and messages for missing,
 * unreadable and exiting processes, bad requests, deadlines, unimplemented RPCs, configuration
 * errors and shutdown.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { status, type ServiceError } from '@grpc/grpc-js';
import {
  DetailLevel,
  GetHistogramRequest,
  GetMemoryMapRequest,
  ListProcessesRequest,
} from '@app/proto';
import { runAgentOnce, shareAgentAndZoo, startAgent, type AgentHandle } from './helpers/agents';
import {
  collect,
  collectSettled,
  deadlineIn,
  grpcError,
  memoryMapRequest,
  unary,
} from './helpers/grpc';
import { spawnZoo, type Zoo } from './helpers/processes';
import { makeStalledProc, STALLED_PID } from './helpers/stalled-proc';

jest.setTimeout(60000);

let agent: AgentHandle;
let zoo: Zoo;

shareAgentAndZoo({ host: '127.0.0.4', nodeName: 'e2e-err' }, (s) => ({ agent, zoo } = s));

/** The error's trailing metadata the agent's contract defines: {reason, field, pid}. */
function trailers(e: ServiceError | undefined): { reason?: string; field?: string; pid?: string } {
  const one = (k: string): string | undefined => {
    const v = e?.metadata?.get(k)[0];
    return typeof v === 'string' ? v : undefined;
  };
  const out: { reason?: string; field?: string; pid?: string } = {};
  const [reason, field, pid] = [one('pmap-reason'), one('pmap-field'), one('pmap-pid')];
  if (reason !== undefined) out.reason = reason;
  if (field !== undefined) out.field = field;
  if (pid !== undefined) out.pid = pid;
  return out;
}

function mapError(a: AgentHandle, req: Partial<GetMemoryMapRequest>) {
  return grpcError(collect(a.client.getMemoryMap(memoryMapRequest(req))));
}

/** A pid that existed a moment ago: a child that exited and was reaped. */
async function reapedPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

describe('missing processes', () => {
  it('a process that exited and was reaped -> NOT_FOUND "no such process"', async () => {
    const pid = await reapedPid();
    const err = await mapError(agent, { pid });
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toBe(`no such process ${pid}`);
    expect(trailers(err)).toEqual({ reason: 'PROCESS_NOT_FOUND', pid: String(pid) });
    const rollup = await unary(
      agent.client,
      agent.client.listProcesses,
      ListProcessesRequest.fromPartial({ pids: [pid] }),
    );
    expect(rollup.processes).toEqual([]);
  });

  it('the highest pid -> NOT_FOUND', async () => {
    const err = await mapError(agent, { pid: 2 ** 31 - 1, detail: DetailLevel.DETAIL_LEVEL_SMAPS });
    expect(err.code).toBe(status.NOT_FOUND);
  });

  /*
   * A reliable "exited during the read": the zoo (20,000 extra VMAs, ~15 MB of smaps) watches the
   * agent's open file descriptors and exits the moment the agent opens its smaps, so the kernel
   * ends the file early while the agent is reading it. The agent must answer NOT_FOUND "process N
   * exited during the read" rather than a silently truncated map.
   */
  it('a process that exits while the agent reads its smaps -> NOT_FOUND "exited during the read"', async () => {
    const victim = await spawnZoo({ vmas: 20000, exitOnReadBy: agent.pid });
    try {
      const { messages, error } = await collectSettled(
        agent.client.getMemoryMap(
          memoryMapRequest({
            pid: victim.pid,
            detail: DetailLevel.DETAIL_LEVEL_SMAPS,
            batchSize: 1,
          }),
        ),
      );
      expect(messages).toEqual([]);
      expect(error?.code).toBe(status.NOT_FOUND);
      expect(error?.details).toBe(`process ${victim.pid} exited during the read`);
      expect(trailers(error)).toEqual({ reason: 'PROCESS_EXITED', pid: String(victim.pid) });
      await new Promise((r) =>
        victim.child.exitCode !== null ? r(null) : victim.child.once('exit', r),
      );
      expect(victim.child.exitCode).toBe(0); // it exited because it saw the agent reading
    } finally {
      await victim.stop();
    }
  });

  it('a process killed between chunks of a slow stream: complete stream or NOT_FOUND, never a truncated success', async () => {
    // The agent reads the whole map before streaming, so killing the process after the first chunk
    // cannot truncate the data: the stream must still deliver every VMA it read, in order, with
    // last=true and the right total.
    const victim = await spawnZoo({ vmas: 20000 });
    try {
      const stream = agent.client.getMemoryMap(memoryMapRequest({ pid: victim.pid, batchSize: 1 }));
      let killed = false;
      const messages: { vmas: unknown[]; last: boolean; totalVmas: number }[] = [];
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (m: { vmas: unknown[]; last: boolean; totalVmas: number }) => {
          messages.push(m);
          if (!killed) {
            killed = true;
            victim.kill('SIGKILL');
          }
        });
        stream.on('error', reject);
        stream.on('end', resolve);
      });
      expect(killed).toBe(true);
      const total = messages.reduce((n, m) => n + m.vmas.length, 0);
      expect(total).toBeGreaterThan(20000);
      expect(messages[messages.length - 1]).toMatchObject({ last: true, totalVmas: total });
    } finally {
      await victim.stop();
    }
  });
});

describe('permissions', () => {
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  let unprivileged: AgentHandle | undefined;

  beforeAll(async () => {
    if (!setpriv) return;
    unprivileged = await startAgent({
      host: '127.0.0.5',
      nodeName: 'e2e-nobody',
      wrapper: [setpriv, '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'],
    });
  });

  afterAll(async () => {
    await unprivileged?.stop();
  });

  it('an agent without CAP_SYS_PTRACE gets PERMISSION_DENIED naming CAP_SYS_PTRACE', async () => {
    if (!setpriv) throw new Error('setpriv (util-linux) is required for this test');
    const a = unprivileged!;
    const err = await mapError(a, { pid: zoo.pid });
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.details).toContain('CAP_SYS_PTRACE');
    expect(trailers(err)).toEqual({ reason: 'PERMISSION_DENIED', pid: String(zoo.pid) });
    const info = await unary(a.client, a.client.getNodeInfo, {});
    expect(info.node!.capabilities!.readOtherUsers).toBe(false);
    expect(info.node!.capabilities!.notes.join('\n')).toContain('CAP_SYS_PTRACE');
    // ...and says so at startup.
    expect(a.logs.join('\n')).toMatch(
      /capability missing.*CAP_SYS_PTRACE|CAP_SYS_PTRACE.*capability missing/,
    );
    // Listing still works; the zoo is counted as unreadable, not listed with figures.
    const list = await unary(
      a.client,
      a.client.listProcesses,
      ListProcessesRequest.fromPartial({ pids: [zoo.pid] }),
    );
    expect(list.unreadable).toBeGreaterThanOrEqual(1);
  });
});

describe('bad requests', () => {
  it.each([0, -1])('pid %d -> INVALID_ARGUMENT', async (pid) => {
    const err = await mapError(agent, { pid });
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^pid must be a positive integer/);
    expect(trailers(err)).toEqual({ reason: 'INVALID_FIELD', field: 'pid' });
  });

  it('an unknown detail level -> INVALID_ARGUMENT naming detail', async () => {
    const err = await mapError(agent, { pid: zoo.pid, detail: 7 as DetailLevel });
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^detail: /);
    expect(trailers(err)).toEqual({ reason: 'INVALID_FIELD', field: 'detail' });
  });

  it('low above high -> INVALID_ARGUMENT naming range', async () => {
    const err = await mapError(agent, {
      pid: zoo.pid,
      range: { low: 0x2000n, high: 0x1000n, clip: false },
    });
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^range: /);
    expect(trailers(err)).toEqual({ reason: 'INVALID_FIELD', field: 'range' });
  });

  it('batch_size above 10000 -> INVALID_ARGUMENT naming batch_size', async () => {
    const err = await mapError(agent, { pid: zoo.pid, batchSize: 10001 });
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^batch_size: /);
    expect(trailers(err)).toEqual({ reason: 'INVALID_FIELD', field: 'batch_size' });
  });

  it('an invalid name regex -> INVALID_ARGUMENT "name_regex: ..."', async () => {
    const err = await grpcError(
      unary(
        agent.client,
        agent.client.listProcesses,
        ListProcessesRequest.fromPartial({ nameRegex: '(' }),
      ),
    );
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^name_regex: /);
    expect(trailers(err)).toEqual({ reason: 'INVALID_FIELD', field: 'name_regex' });
  });

  it('VE targets -> UNIMPLEMENTED', async () => {
    const err = await mapError(agent, { pid: zoo.pid, veNode: 0 });
    expect(err.code).toBe(status.UNIMPLEMENTED);
    // docs/ve.md: "VE targets are not available on this agent: <reason>" (no library here).
    const reason =
      /^VE targets are not available on this agent: libveosinfo not found \(looked for \/.+\)$/;
    expect(err.details).toMatch(reason);
    expect(trailers(err)).toEqual({ reason: 'UNSUPPORTED' });
    const err2 = await grpcError(
      unary(
        agent.client,
        agent.client.listProcesses,
        ListProcessesRequest.fromPartial({ veNode: 1 }),
      ),
    );
    expect(err2.code).toBe(status.UNIMPLEMENTED);
    expect(err2.details).toMatch(reason);
  });

  it('GetHistogram without a kind -> INVALID_ARGUMENT naming kind', async () => {
    const h = await grpcError(
      collect(agent.client.getHistogram(GetHistogramRequest.fromPartial({ pid: zoo.pid }))),
    );
    expect(h.code).toBe(status.INVALID_ARGUMENT);
    expect(h.details).toMatch(/^kind: required, one of order, physical, pagesize, numa/);
    expect(trailers(h)).toEqual({ reason: 'INVALID_FIELD', field: 'kind' });
  });
});

describe('deadlines', () => {
  it('a tiny deadline -> DEADLINE_EXCEEDED, and the agent keeps serving', async () => {
    const big = await spawnZoo({ vmas: 30000 });
    try {
      const err = await grpcError(
        collect(
          agent.client.getMemoryMap(
            memoryMapRequest({
              pid: big.pid,
              detail: DetailLevel.DETAIL_LEVEL_SMAPS,
              batchSize: 10,
            }),
            { deadline: deadlineIn(50) },
          ),
        ),
      );
      expect(err.code).toBe(status.DEADLINE_EXCEEDED);
      // The agent stopped that stream and still answers, the same big map included.
      const msgs = await collect(agent.client.getMemoryMap(memoryMapRequest({ pid: big.pid })));
      expect(msgs[msgs.length - 1].totalVmas).toBeGreaterThan(30000);
      const info = await unary(agent.client, agent.client.getNodeInfo, {});
      expect(info.node!.nodeName).toBe('e2e-err');
    } finally {
      await big.stop();
    }
  });
});

describe('configuration and lifecycle', () => {
  it.each([
    [['--listen', '127.0.0.1:0', '--node-name', 'n'], /mutual TLS needs .*--insecure/],
    [['--node-name', 'n', '--insecure'], /--listen .* is required/],
    [['--listen', 'nohostport', '--node-name', 'n', '--insecure'], /expected HOST:PORT/],
    [
      ['--listen', '127.0.0.1:0', '--node-name', 'n', '--insecure', '--batch-size', '20000'],
      /--batch-size/,
    ],
    [
      ['--listen', '127.0.0.1:0', '--node-name', 'n', '--insecure', '--bogus'],
      /unknown argument '--bogus'/,
    ],
  ])('%j -> one error line, exit 2', async (args, message) => {
    const r = await runAgentOnce(args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it('validates environment variables too', async () => {
    const r = await runAgentOnce([], {
      PMAPD_AGENT_LISTEN: '127.0.0.1:0',
      PMAPD_NODE_NAME: 'n',
      PMAPD_INSECURE: 'maybe',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/PMAPD_INSECURE.*maybe/);
  });

  it('starts from environment variables and stops gracefully on SIGTERM', async () => {
    const a = await startAgent({
      host: '127.0.0.6',
      nodeName: 'env-node',
      env: { PMAPD_BATCH_SIZE: '7' },
    });
    const msgs = await collect(a.client.getMemoryMap(memoryMapRequest({ pid: zoo.pid })));
    expect(msgs[0].vmas).toHaveLength(7);
    a.kill('SIGTERM');
    const { code } = await a.exited;
    expect(code).toBe(0);
    expect(a.logs.some((l) => l.includes('"stopped"'))).toBe(true);
    await a.stop();
  });

  it('ends on SIGTERM even with a read stuck in the kernel (by the signal: exit would wait forever)', async () => {
    const tree = makeStalledProc(['maps']);
    let a: AgentHandle | undefined;
    try {
      a = await startAgent({
        host: '127.0.0.6',
        nodeName: 'stuck-node',
        extraArgs: ['--proc-root', tree.procRoot, '--proc-read-timeout-ms', '5000'],
      });
      const err = await mapError(a, { pid: STALLED_PID, detail: DetailLevel.DETAIL_LEVEL_MAPS });
      expect(err.code).toBe(status.DEADLINE_EXCEEDED);
      expect(err.details).toMatch(/4242\/maps did not return within 5000 ms/);
      expect(trailers(err)).toEqual({ reason: 'READ_STUCK', pid: String(STALLED_PID) });
      a.kill('SIGTERM');
      // the agent's worker thread is still blocked in open(2) of the FIFO: a plain exit would
      // join it forever, and this wait would end only at the test's timeout
      expect(await a.exited).toEqual({ code: null, signal: 'SIGTERM' });
      expect(a.logs.join('\n')).toMatch(/"stuckReads":1.*ending with reads still stuck/);
    } finally {
      await a?.stop();
      tree.remove();
    }
  });
});
