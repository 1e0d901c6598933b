import type { FastifyReply } from 'fastify';

/** Newline-delimited JSON on a hijacked reply: one object per line, flushed as written. */
export class NdjsonWriter {
  private started = false;
  private ended = false;

  constructor(private readonly reply: FastifyReply) {}

  private start(): void {
    if (this.started) return;
    this.started = true;
    void this.reply.hijack();
    this.reply.raw.writeHead(200, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
  }

  line(obj: unknown): void {
    if (this.ended || this.reply.raw.destroyed) return;
    this.start();
    this.reply.raw.write(JSON.stringify(obj) + '\n');
  }

  end(): void {
    if (this.ended) return;
    this.start();
    this.ended = true;
    if (!this.reply.raw.destroyed) this.reply.raw.end();
  }
}
