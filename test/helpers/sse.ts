/**
 * Server-Sent Events and NDJSON streams from the gateway, read with a raw http client (supertest
 * buffers whole responses; a watch stream does not end by itself).
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- event data is untyped JSON */
import http from 'node:http';

/** GET with a raw http client: for SSE/NDJSON streams. */
export function openStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ res: http.IncomingMessage; req: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => resolve({ res, req }));
    req.on('error', reject);
  });
}

export interface SseEvent {
  id?: string;
  event?: string;
  data?: any;
}

/**
 * The complete events in `text` (a stream read so far): a chunk may end in the middle of an event,
 * so only what precedes the last blank line is parsed.
 */
export function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  const complete = text.slice(0, text.lastIndexOf('\n\n') + 1);
  for (const block of complete.split('\n\n')) {
    const ev: SseEvent = {};
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) ev.id = line.slice(4);
      else if (line.startsWith('event: ')) ev.event = line.slice(7);
      else if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
    }
    if (ev.event !== undefined) out.push(ev);
  }
  return out;
}
