/**
 * Server-Sent Events on a hijacked reply, written with backpressure: when the socket does not take
 * a write (Node's buffer above its high-water mark), the source (the agent's gRPC stream) is
 * paused until 'drain', so gRPC flow control holds the agent and nothing piles up here; a client
 * that has not drained within `stallMs` is cut (source cancelled, socket destroyed) and reported.
 * `maxBytes` holds for the whole stream: the write that would pass it is replaced by the
 * `tooLarge` event and the stream ends.
 */
import type { Writable } from 'node:stream';

/** What the writer pauses, resumes and cancels: the producer of the events. */
export interface FlowSource {
  pause(): void;
  resume(): void;
  cancel(): void;
}

export interface SseLimits {
  maxBytes: number;
  stallMs: number;
  /** The last event of a stream cut at maxBytes (an SSE `error` event). */
  tooLarge: () => string;
  /** Told when the stream is cut (the source is cancelled either way). */
  onCut?: (why: 'stalled' | 'too-large', bytes: number) => void;
  /** Told once when the stream is over, however it ended. */
  onEnd?: () => void;
}

export class SseWriter {
  private bytes = 0;
  private stall: NodeJS.Timeout | undefined;
  private ended = false;
  /** When something was last written (keepalive comments go out on idle streams). */
  lastWrite = Date.now();

  constructor(
    private readonly raw: Writable,
    private readonly limits: SseLimits,
    private readonly source: FlowSource,
  ) {}

  get open(): boolean {
    return !this.ended && !this.raw.destroyed;
  }

  /** Bytes written so far. */
  get written(): number {
    return this.bytes;
  }

  write(text: string): void {
    if (!this.open) return;
    const n = Buffer.byteLength(text);
    if (this.bytes + n > this.limits.maxBytes) {
      this.limits.onCut?.('too-large', this.bytes);
      this.source.cancel();
      this.raw.write(this.limits.tooLarge());
      this.end();
      return;
    }
    this.bytes += n;
    this.lastWrite = Date.now();
    if (this.raw.write(text) || this.stall) return;
    this.source.pause();
    this.stall = setTimeout(() => {
      this.stall = undefined;
      this.limits.onCut?.('stalled', this.bytes);
      this.source.cancel();
      this.finish();
      this.raw.destroy();
    }, this.limits.stallMs);
    this.raw.once('drain', () => {
      clearTimeout(this.stall);
      this.stall = undefined;
      if (this.open) this.source.resume();
    });
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.stall);
    this.limits.onEnd?.();
  }

  /** Ends the stream (after what was written). */
  end(): void {
    if (this.ended) return;
    this.finish();
    if (!this.raw.destroyed) this.raw.end();
  }
}
