import * as grpc from '@grpc/grpc-js';
import { Test, type TestingModule } from '@nestjs/testing';
import { HealthImplementation } from 'grpc-health-check';
import pino from 'pino';
import {
  ListProcessesRequest,
  PmapServiceService,
  SearchMapsRequest,
  SearchMapsResponse,
  VmaKind,
  type ListProcessesResponse,
  type PmapServiceServer,
} from '@app/proto';
import { AllExceptionsFilter } from '../common/exception.filter';
import { LOGGER } from '../common/logger';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config';
import { MetricsService } from '../metrics/metrics.service';
import { AgentCallError, trailersOf } from './agent-connection';
import { ClusterService } from './cluster.service';

/** Trailing metadata as an agent sends it. */
function md(entries: Record<string, string>): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) m.set(k, v);
  return m;
}

/** What the stand-in agent answers ListProcesses with, chosen by name_regex. */
const ANSWERS: Record<string, Partial<grpc.StatusObject>> = {
  busy: {
    code: grpc.status.RESOURCE_EXHAUSTED,
    details: 'the queue is full',
    metadata: md({ 'pmap-reason': 'AGENT_BUSY' }),
  },
  field: {
    code: grpc.status.INVALID_ARGUMENT,
    details: 'must be a positive integer',
    metadata: md({ 'pmap-reason': 'INVALID_FIELD', 'pmap-field': 'pids' }),
  },
  readfail: {
    code: grpc.status.UNAVAILABLE,
    details: 'VE node 0 is OFFLINE',
    metadata: md({ 'pmap-reason': 'READ_FAILED' }),
  },
  stuck: {
    code: grpc.status.DEADLINE_EXCEEDED,
    details: 'reading /proc/9/maps did not return within 3000 ms',
    metadata: md({ 'pmap-reason': 'READ_STUCK', 'pmap-pid': '9' }),
  },
  bogus: {
    code: grpc.status.NOT_FOUND,
    details: 'x',
    metadata: md({ 'pmap-reason': 'NOT_A_REASON', 'pmap-field': 'Bad Field!', 'pmap-pid': '-1' }),
  },
};

describe('AgentConnection errors through a real grpc-js server and ClusterService', () => {
  let server: grpc.Server;
  let moduleRef: TestingModule;
  let cluster: ClusterService;
  let filter: AllExceptionsFilter;
  let searchSent = 0;
  let searchCancelled = false;

  beforeAll(async () => {
    server = new grpc.Server();
    const impl: Partial<PmapServiceServer> = {
      listProcesses: (
        call: grpc.ServerUnaryCall<ListProcessesRequest, ListProcessesResponse>,
        cb: grpc.sendUnaryData<ListProcessesResponse>,
      ) => {
        const a = ANSWERS[call.request.nameRegex];
        if (a) cb(a);
        else
          cb(null, {
            processes: [],
            totalMatched: 0,
            unreadable: 0,
            totals: undefined,
            nextOffset: 0,
          });
      },
    };
    // SearchMaps: matches without end (as a node with far more than the limit would send), one
    // message per turn while the call is not cancelled; searchSent counts them
    impl.searchMaps = (call: grpc.ServerWritableStream<SearchMapsRequest, SearchMapsResponse>) => {
      const vma = {
        start: 0x1000n,
        end: 0x2000n,
        perms: 'r--p',
        name: '/lib/x'.padEnd(900, 'x'),
        kind: VmaKind.VMA_KIND_FILE,
      };
      const message = SearchMapsResponse.fromPartial({
        matches: [
          { process: { pid: 7, cmdline: 'x' }, vmas: Array.from({ length: 100 }, () => vma) },
        ],
      });
      const send = (): void => {
        if (call.cancelled || searchSent > 10_000) return;
        searchSent++;
        if (call.write(message)) setImmediate(send);
        else call.once('drain', send);
      };
      call.on('cancelled', () => (searchCancelled = true));
      send();
    };
    server.addService(PmapServiceService, impl as PmapServiceServer);
    new HealthImplementation({ '': 'SERVING' }).addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    const config = {
      listen: '127.0.0.1:0',
      nodes: [
        { name: 'n1', address: `127.0.0.1:${port}` },
        // nothing listens on port 1: the transport's UNAVAILABLE
        { name: 'gone', address: '127.0.0.1:1' },
      ],
      healthIntervalMs: 3_600_000,
      healthTimeoutMs: 20_000,
      nodeInfoMaxAgeMs: 86_400_000,
      requestTimeoutMs: 20_000,
      logLevel: 'error',
    } as unknown as GatewayConfig;
    moduleRef = await Test.createTestingModule({
      providers: [
        ClusterService,
        MetricsService,
        AllExceptionsFilter,
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: LOGGER, useValue: pino({ level: 'silent' }) },
      ],
    }).compile();
    await moduleRef.init();
    cluster = moduleRef.get(ClusterService);
    filter = moduleRef.get(AllExceptionsFilter);
  });

  afterAll(async () => {
    await moduleRef?.close();
    server?.forceShutdown();
  });

  async function fail(node: string, nameRegex: string): Promise<AgentCallError> {
    const n = cluster.get(node);
    const req = ListProcessesRequest.fromPartial({ nameRegex, skipRollup: true });
    const e: unknown = await cluster
      .call(n, (c) => c.listProcesses(req, { timeoutMs: 20_000 }))
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(e).toBeInstanceOf(AgentCallError);
    return e as AgentCallError;
  }

  test('the agent answers and the node is up', async () => {
    expect(cluster.get('n1').status).toBe('up');
    const n = cluster.get('n1');
    const req = ListProcessesRequest.fromPartial({ nameRegex: 'ok', skipRollup: true });
    await expect(n.conn.listProcesses(req, { timeoutMs: 20_000 })).resolves.toMatchObject({
      totalMatched: 0,
    });
  });

  test('AGENT_BUSY -> 429 with the reason', async () => {
    const e = await fail('n1', 'busy');
    expect(e.reason).toBe('AGENT_BUSY');
    expect(filter.toBody(e)).toMatchObject({ statusCode: 429, reason: 'AGENT_BUSY', node: 'n1' });
  });

  test('INVALID_FIELD -> 400 naming pmap-field as the parameter', async () => {
    const e = await fail('n1', 'field');
    expect(filter.toBody(e)).toMatchObject({
      statusCode: 400,
      parameter: 'pids',
      reason: 'INVALID_FIELD',
    });
  });

  test('READ_STUCK: the agent kept its deadline apart from the transport, with the pid', async () => {
    const e = await fail('n1', 'stuck');
    expect(e).toMatchObject({ reason: 'READ_STUCK', pid: 9, deadlinePassed: false });
    expect(filter.toBody(e)).toMatchObject({ statusCode: 504, reason: 'READ_STUCK' });
  });

  test("an agent's own UNAVAILABLE does not mark its node down; an unreachable agent does", async () => {
    const e = await fail('n1', 'readfail');
    expect(e).toMatchObject({ reason: 'READ_FAILED', unreachable: false });
    expect(cluster.get('n1').status).toBe('up');
    const gone = await fail('gone', 'ok');
    expect(gone).toMatchObject({ code: grpc.status.UNAVAILABLE, reason: undefined });
    expect(gone.unreachable).toBe(true);
    expect(cluster.get('gone').status).toBe('down');
  });

  test('a SearchMaps answer past its byte budget is cancelled, not collected whole', async () => {
    const n = cluster.get('n1');
    const req = SearchMapsRequest.fromPartial({ processes: {}, mappingRegex: 'x' });
    // each message: ~100 x (128 + 900) bytes counted, so 1 MB is passed after ~10 messages
    const e: unknown = await n.conn.searchMaps(req, { timeoutMs: 20_000 }, 1_000_000).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(AgentCallError);
    expect((e as AgentCallError).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(filter.toBody(e).statusCode).toBe(502);
    await new Promise((r) => setTimeout(r, 100));
    expect(searchCancelled).toBe(true);
    expect(searchSent).toBeLessThan(10_000);
  });

  test('malformed trailers are ignored, not trusted', async () => {
    const e = await fail('n1', 'bogus');
    expect(e).toMatchObject({ reason: undefined, field: undefined, pid: undefined });
    expect(filter.toBody(e).statusCode).toBe(404);
    expect(trailersOf(undefined)).toEqual({});
  });
});
