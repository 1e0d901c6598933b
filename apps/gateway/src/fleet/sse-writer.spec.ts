import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { SseWriter, type FlowSource } from './sse-writer';

/** A producer that records what the writer asks of it. */
class Source implements FlowSource {
  calls: string[] = [];
  paused = false;
  pause(): void {
    this.paused = true;
    this.calls.push('pause');
  }
  resume(): void {
    this.paused = false;
    this.calls.push('resume');
  }
  cancel(): void {
    this.calls.push('cancel');
  }
}

const EVENT = `event: change\ndata: ${'x'.repeat(1024 * 1024)}\n\n`;

/** A real HTTP server whose one answer is an SseWriter; resolves with it once a client asked. */
async function serve(
  limits: { maxBytes: number; stallMs: number },
  cuts: string[],
): Promise<{ url: URL; writer: Promise<{ w: SseWriter; src: Source }>; close: () => void }> {
  let give!: (x: { w: SseWriter; src: Source }) => void;
  const writer = new Promise<{ w: SseWriter; src: Source }>((r) => (give = r));
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const src = new Source();
    const w = new SseWriter(
      res,
      {
        ...limits,
        tooLarge: () => 'event: error\ndata: {"code":"RESPONSE_TOO_LARGE"}\n\n',
        onCut: (why) => cuts.push(why),
      },
      src,
    );
    give({ w, src });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    writer,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() > end) reject(new Error('condition not reached'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

describe('SseWriter', () => {
  it('pauses its source when the client stops reading, and cuts it after stallMs', async () => {
    const cuts: string[] = [];
    const s = await serve({ maxBytes: 1e12, stallMs: 300 }, cuts);
    const client = net.connect(Number(s.url.port), '127.0.0.1');
    client.pause(); // never reads
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    try {
      const { w, src } = await s.writer;
      // the producer writes whenever it is not paused, as the agent stream does
      let events = 0;
      while (w.open && events < 500) {
        if (src.paused) await new Promise((r) => setTimeout(r, 10));
        else {
          w.write(EVENT);
          events++;
        }
      }
      // stopped by the cut, after what the kernel's socket buffers took: far from 500 events
      expect(events).toBeLessThan(200);
      await until(() => cuts.length > 0);
      expect(cuts).toEqual(['stalled']);
      expect(src.calls.at(-2)).toBe('pause');
      expect(src.calls.at(-1)).toBe('cancel');
      expect(w.open).toBe(false);
    } finally {
      client.destroy();
      s.close();
    }
  });

  it('resumes its source once the client reads again', async () => {
    const cuts: string[] = [];
    const s = await serve({ maxBytes: 1e12, stallMs: 60_000 }, cuts);
    const client = net.connect(Number(s.url.port), '127.0.0.1');
    client.pause();
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    try {
      const { w, src } = await s.writer;
      while (!src.paused) w.write(EVENT);
      client.on('data', () => undefined);
      client.resume(); // reads now
      await until(() => src.calls.includes('resume'));
      expect(src.calls).toEqual(['pause', 'resume']);
      expect(cuts).toEqual([]);
      w.end();
    } finally {
      client.destroy();
      s.close();
    }
  });

  it('ends the stream with the too-large event at maxBytes and cancels its source', async () => {
    const cuts: string[] = [];
    const s = await serve({ maxBytes: 3.5 * 1024 * 1024, stallMs: 60_000 }, cuts);
    try {
      const body = fetch(s.url).then((r) => r.text());
      const { w, src } = await s.writer;
      for (let i = 0; i < 10 && w.open; i++) w.write(EVENT);
      const text = await body;
      expect(text.endsWith('event: error\ndata: {"code":"RESPONSE_TOO_LARGE"}\n\n')).toBe(true);
      expect(text.split('event: change').length - 1).toBe(3); // 3 events fit, the 4th does not
      expect(cuts).toEqual(['too-large']);
      expect(src.calls).toContain('cancel');
      expect(w.written).toBeLessThanOrEqual(3.5 * 1024 * 1024);
    } finally {
      s.close();
    }
  });
});
