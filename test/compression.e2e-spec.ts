/**
 * Response compression (docs/gateway.md "Compression"): a real agent on 127.0.0.71 behind the
 * built gateway, and a 2,000-VMA zoo. Each answer is asked for with Accept-Encoding br, gzip and
 * identity (node http: nothing decompresses behind the test's back); the compressed ones are
 * decompressed and compared byte for byte with the identity answer. Vary and Content-Encoding are
 * checked, and so are a small body (below the threshold), an error, HEAD and the OpenAPI document.
 */
import http from 'node:http';
import { basename } from 'node:path';
import { brotliDecompressSync, createGunzip, gunzipSync } from 'node:zlib';
import { startAgent, type AgentHandle } from './helpers/agents';
import { NO_RATE_LIMIT_YAML, startGateway, type GatewayHandle } from './helpers/gateway';
import { spawnZoo, startAll, type Zoo } from './helpers/processes';
import { openStream } from './helpers/sse';

jest.setTimeout(120000);

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body as received (compressed or not). */
  bytes: Buffer;
}

function request(
  port: number,
  path: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          bytes: Buffer.concat(chunks),
        }),
      );
      res.on('error', reject);
    });
    req.setTimeout(60000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** NDJSON fields that differ between two runs of the same query on a busy machine. */
const VARYING = new Set(['durationMs', 'scanned', 'unreadable', 'vanished']);

function decode(r: Raw): Buffer {
  switch (r.headers['content-encoding']) {
    case 'br':
      return brotliDecompressSync(r.bytes);
    case 'gzip':
      return gunzipSync(r.bytes);
    case undefined:
      return r.bytes;
    default:
      throw new Error(`unexpected content-encoding ${String(r.headers['content-encoding'])}`);
  }
}

/** The Vary tokens, lower-cased. */
function vary(r: Raw): string[] {
  return String(r.headers.vary ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
    .sort();
}

describe('compression: gzip and brotli by Accept-Encoding', () => {
  let agent: AgentHandle;
  /** A second node, stopped (SIGSTOP) to hold a fleet stream open. */
  let slow: AgentHandle;
  let zoo: Zoo;
  let gw: GatewayHandle;

  beforeAll(async () => {
    [agent, slow, zoo] = await startAll([
      startAgent({ host: '127.0.0.71', nodeName: 'z1' }),
      startAgent({ host: '127.0.0.72', nodeName: 'z2' }),
      spawnZoo({ vmas: 2000 }),
    ]);
    gw = await startGateway(
      [
        { name: 'z1', address: agent.address },
        { name: 'z2', address: slow.address },
      ],
      [],
      NO_RATE_LIMIT_YAML,
    );
  });

  afterAll(async () => {
    slow?.kill('SIGCONT');
    await gw?.stop();
    await agent?.stop();
    await slow?.stop();
    await zoo?.stop();
  });

  /** identity, br and gzip answers of one request, in that order. */
  async function threeWays(path: string, accept: string): Promise<[Raw, Raw, Raw]> {
    const ask = (enc: string): Promise<Raw> =>
      request(gw.port, path, { accept, 'accept-encoding': enc });
    return [await ask('identity'), await ask('br'), await ask('gzip, deflate')];
  }

  // views without Pss: a shared page's Pss moves as other processes map and unmap it
  test.each([
    ['pmap text (view=x)', 'x', 'text/plain', 'text/plain; charset=utf-8'],
    ['a JSON map', 'default', 'application/json', 'application/json; charset=utf-8'],
  ])(
    '%s: br and gzip decompress to the identity answer byte for byte',
    async (_, view, accept, type) => {
      const path = `/v1/nodes/z1/processes/${zoo.pid}/maps?view=${view}`;
      const [id, br, gz] = await threeWays(path, accept);
      for (const r of [id, br, gz]) {
        expect(r.status).toBe(200);
        expect(r.headers['content-type']).toBe(type);
        expect(vary(r)).toEqual(['accept', 'accept-encoding']);
      }
      expect(id.headers['content-encoding']).toBeUndefined();
      expect(br.headers['content-encoding']).toBe('br');
      expect(gz.headers['content-encoding']).toBe('gzip');
      // 2,000 VMAs: well above the threshold, and it compresses
      expect(id.bytes.length).toBeGreaterThan(50_000);
      expect(br.bytes.length).toBeLessThan(id.bytes.length / 3);
      expect(gz.bytes.length).toBeLessThan(id.bytes.length / 3);
      // byte for byte, but for the time of the read (JSON `readAt`), which differs per request
      const same = (b: Buffer): string =>
        b.toString('latin1').replace(/"readAt":"[^"]*"/, '"readAt":""');
      // (a boolean: a failure would print megabytes)
      expect(same(decode(br)) === same(id.bytes)).toBe(true);
      expect(same(decode(gz)) === same(id.bytes)).toBe(true);
    },
  );

  test('a fleet NDJSON stream: compressed line by line, the same lines as identity', async () => {
    // only this zoo maps files of its own directory, and names it in its command line
    const path = `/v1/maps?mapping=${basename(zoo.dir)}&name=${basename(zoo.dir)}&nodes=z1&timeout=60000`;
    const [id, br, gz] = await threeWays(path, 'application/x-ndjson');
    /** The lines, with what differs run to run blanked: durations, the machine's process counts. */
    const lines = (b: Buffer): string[] =>
      b
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.stringify(JSON.parse(l), (k, v: unknown) => (VARYING.has(k) ? 0 : v)));
    for (const r of [id, br, gz]) {
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
      expect(vary(r)).toEqual(['accept', 'accept-encoding']);
    }
    expect(id.headers['content-encoding']).toBeUndefined();
    expect(br.headers['content-encoding']).toBe('br');
    expect(gz.headers['content-encoding']).toBe('gzip');
    const plain = lines(id.bytes);
    expect(plain[plain.length - 1]).toMatch(/^\{"type":"summary"/);
    expect(plain.some((l) => l.startsWith('{"type":"node","node":"z1"'))).toBe(true);
    expect(lines(decode(br))).toEqual(plain);
    expect(lines(decode(gz))).toEqual(plain);
  });

  test("a gzip NDJSON stream is flushed as nodes answer: the first node's line decompresses while another node still holds the stream open", async () => {
    slow.kill('SIGSTOP');
    let continued = false;
    try {
      const { res } = await openStream(
        `${gw.url}/v1/maps?mapping=${basename(zoo.dir)}&name=${basename(zoo.dir)}&nodes=z1,z2&timeout=60000`,
        { accept: 'application/x-ndjson', 'accept-encoding': 'gzip' },
      );
      expect(res.headers['content-encoding']).toBe('gzip');
      let text = '';
      let ended = false;
      let endedBeforeFirstLine: boolean | undefined;
      await new Promise<void>((resolve, reject) => {
        const gunzip = res.pipe(createGunzip());
        gunzip.setEncoding('utf8');
        gunzip.on('data', (c: string) => {
          text += c;
          if (endedBeforeFirstLine === undefined && text.includes('"type":"node","node":"z1"')) {
            // z2 is stopped: only its answer (after SIGCONT) or the 60 s deadline ends the stream
            endedBeforeFirstLine = ended;
            continued = true;
            slow.kill('SIGCONT');
          }
        });
        gunzip.on('end', () => {
          ended = true;
          resolve();
        });
        gunzip.on('error', reject);
      });
      expect(endedBeforeFirstLine).toBe(false);
      // z2 answered after its SIGCONT: z1's line had left the compressor before z2 could answer
      // (held in the compressor, it would have waited for the 60 s deadline and z2 failed it)
      const lines = text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; responded?: number });
      expect(lines[lines.length - 1]).toMatchObject({ type: 'summary', responded: 2 });
    } finally {
      if (!continued) slow.kill('SIGCONT');
    }
  });

  test('SSE (a watch) is never compressed', async () => {
    const { res, req } = await openStream(`${gw.url}/v1/nodes/z1/processes/${zoo.pid}/maps/watch`, {
      'accept-encoding': 'gzip, br',
    });
    try {
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(res.headers['content-encoding']).toBeUndefined();
      const first = await new Promise<string>((resolve) =>
        res.once('data', (c: Buffer) => resolve(c.toString('utf8'))),
      );
      expect(first).toMatch(/^(id|event|retry|:)/m);
    } finally {
      req.destroy();
    }
  });

  test('q-values and "*": the preferred encoding the client accepts; none acceptable -> identity', async () => {
    const path = `/v1/nodes/z1/processes/${zoo.pid}/maps?view=x`;
    const ask = (enc: string): Promise<Raw> =>
      request(gw.port, path, { accept: 'text/plain', 'accept-encoding': enc });
    expect((await ask('gzip;q=1, br;q=0.5')).headers['content-encoding']).toBe('gzip');
    expect((await ask('*')).headers['content-encoding']).toBe('gzip');
    const none = await ask('compress');
    expect(none.headers['content-encoding']).toBeUndefined();
    expect(none.status).toBe(200);
    const bare = await request(gw.port, path, { accept: 'text/plain' });
    expect(bare.headers['content-encoding']).toBeUndefined();
    expect(vary(bare)).toEqual(['accept', 'accept-encoding']);
  });

  test('small bodies stay uncompressed; errors are JSON (compressed or not); HEAD has no body', async () => {
    const small = await request(gw.port, '/v1/nodes/z1', { 'accept-encoding': 'br, gzip' });
    expect(small.status).toBe(200);
    if (small.bytes.length < 1024) expect(small.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(decode(small).toString('utf8'))).toMatchObject({ name: 'z1' });

    const bad = await request(gw.port, `/v1/nodes/z1/processes/${zoo.pid}/maps?view=nope`, {
      'accept-encoding': 'gzip',
    });
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(decode(bad).toString('utf8'))).toMatchObject({ parameter: 'view' });

    const gone = await request(gw.port, '/v1/nodes/z1/processes/999999999/maps', {
      'accept-encoding': 'br',
    });
    expect(gone.status).toBe(404);
    expect(JSON.parse(decode(gone).toString('utf8'))).toMatchObject({
      statusCode: 404,
      reason: 'PROCESS_NOT_FOUND',
    });

    const path = `/v1/nodes/z1/processes/${zoo.pid}/maps?view=x`;
    const head = await request(
      gw.port,
      path,
      { accept: 'text/plain', 'accept-encoding': 'gzip' },
      'HEAD',
    );
    expect(head.status).toBe(200);
    expect(head.bytes.length).toBe(0);
    expect(head.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  test('the size limit counts the uncompressed answer: a map over maxResponseBytes is a 413 even with gzip', async () => {
    const limited = await startGateway(
      [{ name: 'z1', address: agent.address }],
      [],
      'limits: { ratePerSecond: 100000, burst: 100000, maxResponseBytes: 20000 }\n',
    );
    try {
      const path = `/v1/nodes/z1/processes/${zoo.pid}/maps?view=x`;
      const r = await request(limited.port, path, {
        accept: 'text/plain',
        'accept-encoding': 'gzip',
      });
      expect(r.status).toBe(413);
      expect(JSON.parse(decode(r).toString('utf8'))).toMatchObject({ statusCode: 413 });
      const ok = await request(limited.port, '/v1/nodes/z1', { 'accept-encoding': 'gzip' });
      expect(ok.status).toBe(200);
    } finally {
      await limited.stop();
    }
  });

  test('the OpenAPI document arrives compressed and whole', async () => {
    const id = await request(gw.port, '/openapi.json', { 'accept-encoding': 'identity' });
    const gz = await request(gw.port, '/openapi.json', { 'accept-encoding': 'gzip' });
    expect(id.status).toBe(200);
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(decode(gz).equals(id.bytes)).toBe(true);
    expect(JSON.parse(id.bytes.toString('utf8'))).toHaveProperty('openapi');
  });
});
