import {
  status,
  type ServerInterceptingCallInterface,
  type ServerMethodDefinition,
} from '@grpc/grpc-js';
import pino from 'pino';
import { ProcReader } from '@app/procfs';

type PartialStatusObject = Parameters<ServerInterceptingCallInterface['sendStatus']>[0];
import { AgentMetrics, instrumentReader, rpcLogInterceptor } from './observability';

describe('instrumentReader', () => {
  it('times every /proc file read by file name, including reads inside other methods', async () => {
    const metrics = new AgentMetrics();
    const reader = instrumentReader(new ProcReader(), metrics);
    await reader.readMemoryMap(process.pid, { detail: 'smaps' });
    const list = await reader.listProcesses({ pids: [process.pid] });
    expect(list.processes[0].pid).toBe(process.pid);
    const text = await metrics.registry.getSingleMetricAsString('pmapd_agent_proc_read_seconds');
    for (const file of ['smaps', 'stat', 'status', 'smaps_rollup']) {
      expect(text).toMatch(
        new RegExp(`pmapd_agent_proc_read_seconds_count\\{file="${file}"\\} [1-9]`),
      );
    }
    expect(text).not.toMatch(/pid=/);
  });
});

describe('rpcLogInterceptor', () => {
  /**
   * The stand-in for grpc-js's call at the interceptor boundary: a client whose TLS connection is
   * gone by the time the agent answers (stopped and continued, the client long away). grpc-js's
   * getAuthContext() then throws reading the destroyed socket's certificate — which used to end
   * the agent from inside sendStatus.
   */
  function goneClientCall(statuses: PartialStatusObject[]): ServerInterceptingCallInterface {
    return {
      start: () => undefined,
      sendMetadata: () => undefined,
      sendMessage: (_m: unknown, cb: () => void) => cb(),
      sendStatus: (st: PartialStatusObject) => statuses.push(st),
      startRead: () => undefined,
      getPeer: () => 'ipv4:127.0.0.1:1',
      getDeadline: () => Infinity,
      getHost: () => 'agent',
      getAuthContext: () => {
        throw new TypeError("Cannot read properties of null (reading 'raw')");
      },
      getConnectionInfo: () => ({}),
      getMetricsRecorder: () =>
        ({}) as ReturnType<ServerInterceptingCallInterface['getMetricsRecorder']>,
    };
  }

  it('answers and logs a call whose client connection is already gone (no client in the line)', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const metrics = new AgentMetrics();
    const statuses: PartialStatusObject[] = [];
    const method = { path: '/pmap.v1.PmapService/GetMemoryMap' } as ServerMethodDefinition<
      unknown,
      unknown
    >;
    const call = rpcLogInterceptor(log, metrics)(method, goneClientCall(statuses));
    call.start({
      onReceiveMetadata: () => undefined,
      onReceiveMessage: () => undefined,
      onReceiveHalfClose: () => undefined,
      onCancel: () => undefined,
    });
    expect(() => call.sendStatus({ code: status.CANCELLED, details: 'gone' })).not.toThrow();
    expect(statuses).toEqual([{ code: status.CANCELLED, details: 'gone' }]);
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'rpc', rpc: 'GetMemoryMap', code: 'CANCELLED' }),
    ]);
    expect(lines[0].client).toBeUndefined();
    expect(
      await metrics.registry.getSingleMetricAsString('pmapd_agent_rpc_requests_total'),
    ).toMatch(/rpc="GetMemoryMap",code="CANCELLED"\} 1/);
  });
});

describe('AgentMetrics sources', () => {
  it('reads the read pool and the watches at each scrape', async () => {
    let skipped = 3;
    const metrics = new AgentMetrics({
      reads: () => ({ workers: 4, busy: 2, slow: 1, queued: 7, hung: 0 }),
      watches: () => ({ active: 5, skipped, reads: 10, joined: 30 }),
    });
    let text = await metrics.registry.metrics();
    expect(text).toMatch(/pmapd_agent_proc_read_workers\{state="slow"\} 1/);
    expect(text).toMatch(/pmapd_agent_proc_reads_queued 7/);
    expect(text).toMatch(/pmapd_agent_watches 5/);
    expect(text).toMatch(/pmapd_agent_watch_samples_skipped_total 3/);
    expect(text).toMatch(/pmapd_agent_watch_sample_reads_total\{how="joined"\} 30/);
    skipped = 8;
    text = await metrics.registry.metrics();
    expect(text).toMatch(/pmapd_agent_watch_samples_skipped_total 8/);
  });
});
