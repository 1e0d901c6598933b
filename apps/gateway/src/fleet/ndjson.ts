/**
 * Newline-delimited JSON on a hijacked reply, written with backpressure: `line()` resolves once
 * the socket has taken the line (at once while Node's buffer is below its high-water mark, else on
 * 'drain'), so a producer that awaits it stops while the client does not read. Limits hold while
 * streaming: a line that would take the answer past `maxBytes` is replaced by one
 * {"type":"error","code":"RESPONSE_TOO_LARGE"} line and the stream ends; a client that does not
 * drain within `stallMs` is cut (the socket destroyed, which cancels the producers) and logged.
 * The body is gzip or brotli by Accept-Encoding (common/compression.ts); the limit counts the
 * uncompressed lines.
 */
import type { FastifyReply } from 'fastify';
import { openResponseStream, type ResponseBody } from '../common/compression';

export interface NdjsonLimits {
  /** The most bytes the stream may carry (the gateway's maxResponseBytes). */
  maxBytes: number;
  /** How long one write may wait for the client to read before the stream is cut, ms. */
  stallMs: number;
  /** Told when the stream is cut (too large, or a stalled client). */
  onCut?: (why: 'too-large' | 'stalled', bytes: number) => void;
}

export class NdjsonWriter {
  private started = false;
  private ended = false;
  /** Bytes written so far. */
  bytes = 0;
  private body?: ResponseBody;

  constructor(
    private readonly reply: FastifyReply,
    private readonly limits: NdjsonLimits,
  ) {}

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

  /** False once the stream is over (ended, cut, or the client gone): stop producing. */
  get open(): boolean {
    return !this.ended && !this.reply.raw.destroyed && this.body?.destroyed !== true;
  }

  /**
   * Writes one line; resolves when the client may take more. Resolves false when the line was not
   * written (the stream is over, or the line would pass maxBytes: the stream then ends with an
   * error line).
   */
  async line(obj: unknown): Promise<boolean> {
    if (!this.open) return false;
    this.start();
    const text = JSON.stringify(obj) + '\n';
    const n = Buffer.byteLength(text);
    if (this.bytes + n > this.limits.maxBytes) {
      this.tooLarge();
      return false;
    }
    this.bytes += n;
    if (this.body?.write(text) !== false) return true;
    return this.drained();
  }

  /** Waits for 'drain'; a client that does not read within stallMs is cut. */
  private drained(): Promise<boolean> {
    const raw = this.reply.raw;
    const stream = this.body?.stream ?? raw;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        stream.off('drain', onDrain);
        raw.off('close', onClose);
        resolve(ok);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      const timer = setTimeout(() => {
        this.ended = true;
        this.limits.onCut?.('stalled', this.bytes);
        raw.destroy();
        done(false);
      }, this.limits.stallMs);
      stream.on('drain', onDrain);
      raw.on('close', onClose);
    });
  }

  private tooLarge(): void {
    const line = {
      type: 'error',
      code: 'RESPONSE_TOO_LARGE',
      message: `the answer exceeds the gateway's limit of ${this.limits.maxBytes} bytes: narrow it (range, mapping, nodes)`,
    };
    this.limits.onCut?.('too-large', this.bytes);
    this.body?.write(JSON.stringify(line) + '\n');
    this.end();
  }

  end(): void {
    if (this.ended) return;
    this.start();
    this.ended = true;
    this.body?.end();
  }
}
