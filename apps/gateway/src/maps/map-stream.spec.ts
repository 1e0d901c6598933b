import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { status as GrpcStatus, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { GetMemoryMapResponse } from '@app/proto';
import pino from 'pino';
import { ApiError, type ErrorBody } from '../common/api-error';
import { streamMap, type MapBodyWriter, type MapStreamOptions } from './map-stream';
import { MapTextWriter } from './map-text-writer';

/**
 * A server stream as grpc-js hands it to the gateway: 'data' events while not paused, pause()
 * and resume(), cancel() ending it with CANCELLED. `produced` counts the chunks it let out.
 */
class AgentStream extends EventEmitter {
  produced = 0;
  cancelled = false;
  private paused = false;
  private ended = false;

  constructor(
    private readonly chunks: GetMemoryMapResponse[],
    private readonly endWith?: ServiceError,
  ) {
    super();
    setImmediate(() => this.flow());
  }

  private flow(): void {
    while (!this.paused && !this.ended && this.produced < this.chunks.length) {
      this.emit('data', this.chunks[this.produced++]);
    }
    if (!this.paused && !this.ended && this.produced === this.chunks.length) {
      this.ended = true;
      if (this.endWith) this.emit('error', this.endWith);
      else this.emit('end');
    }
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    this.paused = false;
    setImmediate(() => this.flow());
    return this;
  }

  cancel(): void {
    if (this.ended) return;
    this.cancelled = true;
    this.ended = true;
    const e = Object.assign(new Error('Cancelled'), { code: GrpcStatus.CANCELLED, details: '' });
    setImmediate(() => this.emit('error', e));
  }
}

const PIECE = 64 * 1024;

function textChunks(n: number, total = n * PIECE): GetMemoryMapResponse[] {
  return Array.from({ length: n }, (_, i) =>
    GetMemoryMapResponse.fromPartial({
      header: i === 0 ? { pid: 1, cmdline: 'x', comm: 'x' } : undefined,
      text: Buffer.alloc(PIECE, 97 + (i % 26)),
      textBytes: i === 0 ? BigInt(total) : 0n,
      last: i === n - 1,
    }),
  );
}

const silent = pino({ level: 'silent' });

function options(over: Partial<MapStreamOptions> = {}): MapStreamOptions {
  return {
    node: 'n1',
    pid: 1,
    maxBytes: 1 << 30,
    timeoutMs: 60000,
    highWaterMark: 128 * 1024,
    toError: (e) => new Error(`agent: ${e.code}`),
    toBody: (e): ErrorBody =>
      e instanceof ApiError
        ? e.body
        : { statusCode: 502, error: 'Bad Gateway', message: (e as Error).message },
    log: silent,
    ...over,
  };
}

function open(s: AgentStream, writer: MapBodyWriter, over: Partial<MapStreamOptions> = {}) {
  return streamMap(s as unknown as ClientReadableStream<GetMemoryMapResponse>, writer, {
    ...options(over),
  });
}

async function readAll(body: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const p of body) parts.push(Buffer.from(p as Buffer));
  return Buffer.concat(parts).toString();
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('streamMap', () => {
  it('cuts a client that reads nothing for stallMs: the agent call is cancelled, the body destroyed', async () => {
    const agent = new AgentStream(textChunks(200));
    const cuts: string[] = [];
    const body = await open(agent, new MapTextWriter(), {
      stallMs: 50,
      onCut: (r) => cuts.push(r),
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(cuts).toEqual(['stalled']);
    expect(agent.cancelled).toBe(true);
    expect(body.destroyed).toBe(true);
    expect(agent.produced).toBeLessThan(200);
  });

  it('a slow client that keeps reading is never cut for stalling', async () => {
    const agent = new AgentStream(textChunks(40));
    const cuts: string[] = [];
    const body = await open(agent, new MapTextWriter(), {
      stallMs: 30,
      onCut: (r) => cuts.push(r),
    });
    let bytes = 0;
    body.on('data', (d: Buffer) => {
      bytes += d.length;
      body.pause();
      setTimeout(() => body.resume(), 5);
    });
    await new Promise((r) => body.once('end', r));
    expect(cuts).toEqual([]);
    expect(bytes).toBe(40 * PIECE);
  });

  it('pauses the agent stream while nobody reads, and delivers everything once read', async () => {
    const agent = new AgentStream(textChunks(200));
    let pauses = 0;
    const body = await open(agent, new MapTextWriter(), { onPause: () => pauses++ });
    for (let i = 0; i < 20; i++) await turn();
    // 12.5 MiB on offer; the body holds about its high-water mark and the stream stopped.
    expect(pauses).toBeGreaterThanOrEqual(1);
    expect(agent.produced).toBeLessThanOrEqual(4);
    const text = await readAll(body);
    expect(text.length).toBe(200 * PIECE);
    expect(agent.produced).toBe(200);
    expect(text.slice(PIECE, PIECE + 1)).toBe('b');
  });

  it('answers 413 before any byte when the agent says the text is bigger than the limit', async () => {
    const agent = new AgentStream(textChunks(4));
    await expect(open(agent, new MapTextWriter(), { maxBytes: 3 * PIECE })).rejects.toMatchObject({
      body: { statusCode: 413 },
    });
    await turn();
    expect(agent.cancelled).toBe(true);
  });

  it('cuts a stream that grows past the limit with one JSON error line', async () => {
    // The first chunk understates the size: the limit is met while streaming.
    const agent = new AgentStream(textChunks(10, PIECE));
    let cut = '';
    const body = await open(agent, new MapTextWriter(), {
      maxBytes: 3 * PIECE,
      onCut: (r) => (cut = r),
    });
    const text = await readAll(body);
    const lines = text.split('\n');
    expect(lines[lines.length - 1]).toBe('');
    const err = JSON.parse(lines[lines.length - 2]) as ErrorBody;
    expect(err.statusCode).toBe(413);
    expect(text.length).toBeLessThan(3 * PIECE + 1000);
    expect(cut).toBe('limit');
    expect(agent.cancelled).toBe(true);
  });

  it('an agent error after the first chunk ends the body with an error line; before it, rejects', async () => {
    const fail = Object.assign(new Error('boom'), {
      code: GrpcStatus.INTERNAL,
      details: 'boom',
    }) as ServiceError;
    const late = await open(new AgentStream(textChunks(3), fail), new MapTextWriter());
    const text = await readAll(late);
    expect(JSON.parse(text.slice(text.lastIndexOf('\n', text.length - 2) + 1))).toMatchObject({
      statusCode: 502,
      message: `agent: ${GrpcStatus.INTERNAL}`,
    });
    await expect(open(new AgentStream([], fail), new MapTextWriter())).rejects.toThrow(
      `agent: ${GrpcStatus.INTERNAL}`,
    );
  });

  it('a stream that ends without its last chunk is cut, not passed off as whole', async () => {
    const cs = textChunks(3);
    cs[2].last = false;
    const text = await readAll(await open(new AgentStream(cs), new MapTextWriter()));
    expect(text).toMatch(/ended the memory map early"[^\n]*\n$/);
  });

  it('past the deadline the answer ends with an error line; a stalled client is then closed', async () => {
    const reader = new AgentStream(textChunks(100));
    const read = await open(reader, new MapTextWriter(), { timeoutMs: 200, cutGraceMs: 60000 });
    // Reads slowly: one piece per 20 ms, so the deadline passes while it reads.
    const parts: Buffer[] = [];
    for await (const p of read) {
      parts.push(p as Buffer);
      await new Promise((r) => setTimeout(r, 20));
    }
    const text = Buffer.concat(parts).toString();
    expect(JSON.parse(text.slice(text.lastIndexOf('\n', text.length - 2) + 1))).toMatchObject({
      statusCode: 504,
    });
    expect(reader.cancelled).toBe(true);

    const stalled = new AgentStream(textChunks(100));
    let cut = '';
    const body = await open(stalled, new MapTextWriter(), {
      timeoutMs: 200,
      cutGraceMs: 50,
      onCut: (r) => (cut = r),
    });
    await new Promise<void>((resolve) => body.once('close', resolve));
    expect(cut).toBe('deadline');
    expect(body.destroyed).toBe(true);
    expect(body.readableEnded).toBe(false);
    expect(stalled.cancelled).toBe(true);
    expect(stalled.produced).toBeLessThan(100);
  });

  it('destroying the body (the client went away) cancels the agent call', async () => {
    const agent = new AgentStream(textChunks(100));
    const body = await open(agent, new MapTextWriter());
    body.destroy();
    await turn();
    expect(agent.cancelled).toBe(true);
  });
});
