import type { FastifyReply } from 'fastify';
import { openResponseStream, type ResponseBody } from '../common/compression';

/**
 * Newline-delimited JSON on a hijacked reply: one object per line, flushed as written (gzip or
 * brotli by Accept-Encoding, common/compression.ts).
 */
export class NdjsonWriter {
  private started = false;
  private ended = false;
  private body?: ResponseBody;

  constructor(private readonly reply: FastifyReply) {}

  private start(): void {
    if (this.started) return;
    this.started = true;
    void this.reply.hijack();
    this.body = openResponseStream(this.reply.request, this.reply.raw, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
  }

  line(obj: unknown): void {
    if (this.ended || this.reply.raw.destroyed) return;
    this.start();
    this.body?.write(JSON.stringify(obj) + '\n');
  }

  end(): void {
    if (this.ended) return;
    this.start();
    this.ended = true;
    this.body?.end();
  }
}
