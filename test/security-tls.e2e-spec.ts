/**
 * Agent transport security: mutual TLS with a SAN allow-list (the TLS matrix: no client
 * certificate, a client certificate from another CA, an expired one, a SAN not allowed, a client
 * that does not trust the server, plaintext → all refused), certificate reload when the files
 * change, the plaintext health port, the metrics port, the request id in the agent's RPC log, and
 * the --insecure rules (loopback only).
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { request as httpRequest } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { PmapServiceClient, type GetNodeInfoResponse } from '@app/proto';
import { runAgentOnce, startAgent, type AgentHandle } from './helpers/agents';
import { TestPki, type CertFiles } from './helpers/certs';
import { deadlineIn, healthCheck, unary } from './helpers/grpc';
import { eventually, sleep } from './helpers/processes';

const HOST = '127.0.0.6';
const GATEWAY_SAN = 'URI:spiffe://pmapd/gateway';

let pki: TestPki;
let ca: CertFiles;
let serverCert: CertFiles;
let agent: AgentHandle;
let healthAddress: string;
let metricsAddress: string;

function creds(trust: CertFiles, client?: CertFiles): grpc.ChannelCredentials {
  return client
    ? grpc.credentials.createSsl(
        readFileSync(trust.cert),
        readFileSync(client.key),
        readFileSync(client.cert),
      )
    : grpc.credentials.createSsl(readFileSync(trust.cert));
}

async function nodeInfo(
  c: grpc.ChannelCredentials,
  md?: grpc.Metadata,
): Promise<GetNodeInfoResponse> {
  const client = new PmapServiceClient(agent.address, c);
  try {
    return await new Promise<GetNodeInfoResponse>((resolve, reject) => {
      client.getNodeInfo({}, md ?? new grpc.Metadata(), { deadline: deadlineIn(30000) }, (e, r) =>
        e ? reject(e) : resolve(r),
      );
    });
  } finally {
    client.close();
  }
}

async function refusal(c: grpc.ChannelCredentials): Promise<grpc.ServiceError> {
  try {
    await nodeInfo(c);
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error('the call succeeded but should have been refused');
}

/** The CN of the certificate the agent presents to a new TLS connection. */
function presentedCn(): Promise<string> {
  const [host, port] = [agent.host, agent.port];
  return new Promise((resolve, reject) => {
    const s = tlsConnect(
      {
        host,
        port,
        ca: readFileSync(ca.cert),
        cert: readFileSync(pki.dir + '/gw.pem'),
        key: readFileSync(pki.dir + '/gw.key'),
        ALPNProtocols: ['h2'],
        checkServerIdentity: () => undefined,
      },
      () => {
        const subject = s.getPeerCertificate().subject as unknown as Record<string, string>;
        s.destroy();
        resolve(subject.CN);
      },
    );
    s.once('error', reject);
  });
}

function httpGet(address: string, path: string): Promise<{ status: number; body: string }> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: address.slice(0, i), port: Number(address.slice(i + 1)), path },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.once('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  pki = new TestPki();
  ca = pki.ca('ca');
  serverCert = pki.issue(ca, 'agent-v1', [`IP:${HOST}`, 'DNS:localhost']);
  pki.issue(ca, 'gw', [GATEWAY_SAN, 'DNS:gateway']);
  // The agent reads copies, so the reload test can replace them.
  copyFileSync(serverCert.cert, `${pki.dir}/live.pem`);
  copyFileSync(serverCert.key, `${pki.dir}/live.key`);
  agent = await startAgent({
    host: HOST,
    nodeName: 'tls-node',
    insecure: false,
    extraArgs: [
      '--tls-cert',
      `${pki.dir}/live.pem`,
      '--tls-key',
      `${pki.dir}/live.key`,
      '--tls-ca',
      ca.cert,
      '--allow-client',
      `${GATEWAY_SAN},DNS:other-gateway`,
      '--tls-reload-interval-ms',
      '200',
      '--health-listen',
      `${HOST}:0`,
      '--metrics-listen',
      `${HOST}:0`,
    ],
  });
  const startup = agent.logs
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((o) => typeof o.listening === 'string')!;
  expect(startup.msg).toBe('agent listening (mutual TLS)');
  healthAddress = startup.healthListening as string;
  metricsAddress = startup.metricsListening as string;
});

afterAll(async () => {
  await agent?.stop();
  pki?.cleanup();
});

describe('mutual TLS', () => {
  it('serves a client whose certificate the CA signed and whose SAN is allowed', async () => {
    const gw = { name: 'gw', cert: `${pki.dir}/gw.pem`, key: `${pki.dir}/gw.key` };
    const res = await nodeInfo(creds(ca, gw));
    expect(res.node?.nodeName).toBe('tls-node');
  });

  it('refuses a client without a certificate', async () => {
    const e = await refusal(creds(ca));
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('refuses a client certificate from another CA', async () => {
    const other = pki.ca('wrong-ca');
    const client = pki.issue(other, 'gw-wrong-ca', [GATEWAY_SAN]);
    const e = await refusal(creds(ca, client));
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('refuses an expired client certificate', async () => {
    const client = pki.issue(ca, 'gw-expired', [GATEWAY_SAN], { expired: true });
    expect(readFileSync(client.cert, 'utf8')).toContain('BEGIN CERTIFICATE');
    const e = await refusal(creds(ca, client));
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('refuses a client whose SAN is not in the allow-list (every RPC, health included)', async () => {
    const client = pki.issue(ca, 'intruder', ['DNS:intruder', 'URI:spiffe://pmapd/other']);
    const e = await refusal(creds(ca, client));
    expect(e.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(e.details).toMatch(/DNS:intruder.*not allowed/);
    // the agent's log line travels through a pipe: give it a moment to arrive
    const logged = (): number =>
      agent.logs.filter((l) => l.includes('client identity not in the allow-list')).length;
    for (let i = 0; i < 50 && logged() === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(logged()).toBeGreaterThan(0);
  });

  it('accepts the second allowed SAN', async () => {
    const client = pki.issue(ca, 'gw2', ['DNS:other-gateway']);
    expect((await nodeInfo(creds(ca, client))).node?.nodeName).toBe('tls-node');
  });

  it('is refused by a client that does not trust the agent (server cert of another CA)', async () => {
    const other = pki.ca('client-trusts-this');
    const gw = { name: 'gw', cert: `${pki.dir}/gw.pem`, key: `${pki.dir}/gw.key` };
    const e = await refusal(creds(other, gw));
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('refuses plaintext', async () => {
    const e = await refusal(grpc.credentials.createInsecure());
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('logs each RPC with the request id from the gRPC metadata and the client identity', async () => {
    const gw = { name: 'gw', cert: `${pki.dir}/gw.pem`, key: `${pki.dir}/gw.key` };
    const md = new grpc.Metadata();
    md.set('x-request-id', 'req-tls-42');
    await nodeInfo(creds(ca, gw), md);
    const line = await eventually('the rpc log line', () =>
      agent.logs
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((o) => o.requestId === 'req-tls-42'),
    );
    expect(line).toMatchObject({ msg: 'rpc', rpc: 'GetNodeInfo', code: 'OK' });
    expect(line.client).toContain(GATEWAY_SAN);
  });

  it('reloads the server certificate when its files change', async () => {
    expect(await presentedCn()).toBe('agent-v1');
    const v2 = pki.issue(ca, 'agent-v2', [`IP:${HOST}`]);
    copyFileSync(v2.key, `${pki.dir}/live.key`);
    copyFileSync(v2.cert, `${pki.dir}/live.pem`);
    const until = Date.now() + 10_000;
    let cn = '';
    while (Date.now() < until && (cn = await presentedCn()) !== 'agent-v2') await sleep(100);
    expect(cn).toBe('agent-v2');
    expect(agent.logs.some((l) => l.includes('TLS certificates reloaded'))).toBe(true);
    const gw = { name: 'gw', cert: `${pki.dir}/gw.pem`, key: `${pki.dir}/gw.key` };
    expect((await nodeInfo(creds(ca, gw))).node?.nodeName).toBe('tls-node');
  });
});

describe('side ports', () => {
  it('--health-listen serves plaintext grpc.health.v1 and nothing else', async () => {
    expect(await healthCheck(healthAddress)).toBe('SERVING');
    const client = new PmapServiceClient(healthAddress, grpc.credentials.createInsecure());
    const e = await unary(client, client.getNodeInfo, {}, { deadline: deadlineIn(30000) }).catch(
      (x: grpc.ServiceError) => x,
    );
    client.close();
    expect((e as grpc.ServiceError).code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('--metrics-listen serves Prometheus metrics: RPCs and /proc read latency by file, no pids', async () => {
    const gw = { name: 'gw', cert: `${pki.dir}/gw.pem`, key: `${pki.dir}/gw.key` };
    const client = new PmapServiceClient(agent.address, creds(ca, gw));
    await unary(client, client.listProcesses, {
      nameRegex: '',
      user: '',
      cgroup: '',
      pids: [process.pid],
      slurmJob: '',
      k8sPod: '',
      skipRollup: false,
      sort: 0,
      limit: 0,
      includeKernelThreads: false,
      totals: false,
      offset: 0,
    });
    client.close();
    const { status, body } = await httpGet(metricsAddress, '/metrics');
    expect(status).toBe(200);
    expect(body).toMatch(/pmapd_agent_rpc_requests_total\{rpc="ListProcesses",code="OK"\} \d+/);
    expect(body).toMatch(/pmapd_agent_proc_read_seconds_count\{file="smaps_rollup"\} \d+/);
    expect(body).not.toMatch(/pid="/);
  });
});

describe('--insecure', () => {
  it.each([
    [['--listen', '0.0.0.0:0', '--node-name', 'n', '--insecure'], /loopback/],
    [['--listen', '10.1.2.3:0', '--node-name', 'n', '--insecure'], /loopback/],
    [['--listen', '127.0.0.1:0', '--node-name', 'n'], /mutual TLS needs --tls-cert/],
    [
      ['--listen', '127.0.0.1:0', '--node-name', 'n', '--insecure', '--tls-cert', '/x'],
      /cannot be combined/,
    ],
    [
      [
        '--listen',
        '0.0.0.0:0',
        '--node-name',
        'n',
        '--tls-cert',
        '/nonexistent.pem',
        '--tls-key',
        '/nonexistent.key',
        '--tls-ca',
        '/nonexistent-ca.pem',
        '--allow-client',
        'DNS:gw',
      ],
      /cannot read the TLS certificate/,
    ],
  ])('refuses %j (exit 2)', async (args, message) => {
    const r = await runAgentOnce(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
