/**
 * The map route streams (a real agent on 127.0.0.61, a real gateway, the mapping zoo with 30,000
 * extra VMAs, stopped): a client that stops reading makes the gateway pause the agent's stream
 * instead of buffering the map (the gateway's pause counter and the bytes it let out say so); the
 * size limit answers 413 before the first byte when the agent's figures exceed it, and cuts a
 * started answer with one JSON error line when the JSON grows past it; past the deadline a started
 * answer (its agent's link stalled mid-answer) ends with a 504 error line.
 */
import * as http from 'node:http';
import { startAgent, type AgentHandle } from './helpers/agents';
import { startFreezingLink, type FreezingLink } from './helpers/freezing-link';
import { NO_RATE_LIMIT_YAML, startGateway, type GatewayHandle } from './helpers/gateway';
import { eventually, spawnZoo, startAll, type Zoo } from './helpers/processes';

jest.setTimeout(120000);

/** The JSON -XX map of the zoo is ~17 MB, its -XX text ~10 MB; the limit lies between its
 * JSON lower bound (VMAs x 110 bytes, ~3.3 MB) and the JSON itself. */
const LIMIT = 8 * 1024 * 1024;

let agent: AgentHandle;
let zoo: Zoo;
let gw: GatewayHandle;
let limited: GatewayHandle;
/** A gateway that reaches the agent through a link the test can stall. */
let stalling: GatewayHandle;
let link: FreezingLink;

beforeAll(async () => {
  [agent, zoo] = await startAll([
    startAgent({ host: '127.0.0.61', nodeName: 'big' }),
    spawnZoo({ vmas: 30000 }),
  ]);
  const nodes = [{ name: 'big', address: agent.address }];
  link = await startFreezingLink('127.0.0.61', agent.address);
  [gw, limited, stalling] = await startAll([
    startGateway(nodes, [], NO_RATE_LIMIT_YAML),
    startGateway(
      nodes,
      [],
      `limits: { ratePerSecond: 100000, burst: 100000, maxResponseBytes: ${LIMIT} }\n`,
    ),
    startGateway([{ name: 'big', address: link.address }], [], NO_RATE_LIMIT_YAML),
  ]);
});

afterAll(async () => {
  await Promise.all([gw?.stop(), limited?.stop(), stalling?.stop(), link?.stop()]);
  await Promise.all([agent?.stop(), zoo?.stop()]);
});

function mapUrl(g: GatewayHandle, query: string): string {
  return `${g.url}/v1/nodes/big/processes/${zoo.pid}/maps?${query}`;
}

/** One Prometheus sample of the gateway's /metrics, `name` or `name{labels}` (0 when absent). */
async function metric(g: GatewayHandle, name: string): Promise<number> {
  const text = await (await fetch(`${g.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** The gateway's stderr so far as one string (a log line may arrive in two pieces). */
function logText(g: GatewayHandle): string {
  return g.logs.join('');
}

describe('map answers stream with backpressure', () => {
  it('a client that stops reading pauses the agent stream; reading again gets the whole map', async () => {
    const pausesBefore = await metric(gw, 'pmapd_gateway_map_stream_pauses_total');
    const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get(mapUrl(gw, 'view=XX'), resolve).on('error', reject),
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    // Read the first piece, then stop reading.
    const parts: Buffer[] = [await new Promise<Buffer>((r) => res.once('data', r))];
    res.pause();
    await eventually(
      'the gateway pausing the agent stream for the slow client',
      async () => (await metric(gw, 'pmapd_gateway_map_stream_pauses_total')) > pausesBefore,
    );
    // While paused, the client holds what its socket had read: a small part of the answer.
    const held = res.readableLength + parts[0].length;
    // Read on: the whole map arrives, valid JSON, every VMA.
    res.on('data', (d: Buffer) => parts.push(d));
    res.resume();
    await new Promise((r) => res.once('end', r));
    const body = Buffer.concat(parts);
    // The answer is far bigger than what the pipeline held while the client did not read.
    expect(body.length).toBeGreaterThan(3 * held);
    const map = JSON.parse(body.toString()) as {
      vmas: unknown[];
      totals: { vmas: number; rss: number };
    };
    expect(map.vmas.length).toBeGreaterThan(30000);
    expect(map.totals.vmas).toBe(map.vmas.length);
    expect(map.totals.rss).toBeGreaterThan(0);
  });

  it('past the deadline a started answer is cut: logged, and it ends with a 504 error line', async () => {
    // The agent's answer stalls on the network after its first 512 KiB (the map is several MB on
    // the wire): the gateway has started the answer and cannot finish it within the 5 s deadline,
    // whatever the sockets on the way would buffer.
    const cuts = 'pmapd_gateway_map_streams_cut_total{reason="deadline"}';
    const cutsBefore = await metric(stalling, cuts);
    link.freezeAfter(512 * 1024);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get(mapUrl(stalling, 'view=XX&timeout=5000'), resolve).on('error', reject),
    );
    expect(res.statusCode).toBe(200);
    const parts: Buffer[] = [];
    res.on('data', (d: Buffer) => parts.push(d));
    await new Promise((r) => res.once('end', r));
    expect(link.frozen()).toBe(true);
    expect(await metric(stalling, cuts)).toBe(cutsBefore + 1);
    expect(logText(stalling)).toMatch(/"reason":"deadline"[^\n]*"msg":"map stream cut"/);
    const text = Buffer.concat(parts).toString();
    expect(text.startsWith('{')).toBe(true);
    const lines = text.split('\n');
    const err = JSON.parse(lines[lines.length - 2]) as { statusCode: number; message: string };
    expect(err.statusCode).toBe(504);
    expect(err.message).toMatch(/within 5000 ms/);
  });

  it('text is piped as the agent rendered it, identical to the JSON view of the same map', async () => {
    const [text, json] = await Promise.all([
      fetch(mapUrl(gw, 'view=x&format=text')).then((r) => r.text()),
      fetch(mapUrl(gw, 'view=x')).then((r) => r.json() as Promise<{ vmas: { start: string }[] }>),
    ]);
    const rows = text.split('\n').filter((l) => /^[0-9a-f]{16} /.test(l));
    expect(rows.length).toBe(json.vmas.length);
    expect(rows.map((l) => BigInt('0x' + l.slice(0, 16)))).toEqual(
      json.vmas.map((v) => BigInt(v.start)),
    );
  });
});

describe('size limits on map answers', () => {
  it('413 before the first byte when the agent says the text is bigger than the limit', async () => {
    const r = await fetch(mapUrl(limited, 'view=XX&format=text'));
    expect(r.status).toBe(413);
    const body = (await r.json()) as { statusCode: number; message: string };
    expect(body.statusCode).toBe(413);
    expect(body.message).toMatch(/exceeds the gateway's limit of 8388608 bytes/);
    // A smaller view of the same process fits.
    const small = await fetch(mapUrl(limited, 'format=text'));
    expect(small.status).toBe(200);
    expect((await small.text()).endsWith('K\n')).toBe(true);
  });

  it('JSON that grows past the limit while streaming is cut with one error line', async () => {
    const cuts = 'pmapd_gateway_map_streams_cut_total{reason="limit"}';
    const cutsBefore = await metric(limited, cuts);
    const r = await fetch(mapUrl(limited, 'view=XX'));
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(text.length).toBeLessThanOrEqual(LIMIT + 1000);
    expect(() => JSON.parse(text) as unknown).toThrow();
    const lines = text.split('\n');
    expect(lines[lines.length - 1]).toBe('');
    const err = JSON.parse(lines[lines.length - 2]) as { statusCode: number; message: string };
    expect(err.statusCode).toBe(413);
    expect(err.message).toMatch(/limit of 8388608 bytes/);
    expect(await metric(limited, cuts)).toBeGreaterThan(cutsBefore);
    expect(logText(limited)).toContain('"msg":"map stream cut"');
    // The gateway still answers maps that fit.
    expect((await fetch(mapUrl(limited, 'range=' + zoo.regions.private))).status).toBe(200);
  });
});
