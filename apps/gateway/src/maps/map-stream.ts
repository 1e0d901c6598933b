/**
 * A GetMemoryMap stream written out as it arrives, with bounded memory:
 *   - the agent call is paused whenever the HTTP body's buffer is full (the client reads slower
 *     than the agent sends) and resumed when it drains, so gRPC flow control stops the agent;
 *   - the answer's size is checked on the first chunk (413 before any byte when the agent's figure
 *     already exceeds the limit) and counted while streaming (past it: cut);
 *   - past the deadline, on an agent error, or over the limit, the body is cut: one JSON error line
 *     {statusCode, error, message, node?} ends it, and the cut is logged; after a deadline cut a
 *     client that has not read the rest within cutGraceMs has its connection closed;
 *   - a client that reads nothing for stallMs while the agent call is paused is cut at once (the
 *     agent call cancelled, the connection closed): a client that never reads cannot hold the
 *     agent's heavy-read permit for the request's whole timeout.
 * Errors before the first chunk are thrown (the exception filter answers them as usual).
 */
import { Readable } from 'node:stream';
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { GetMemoryMapResponse } from '@app/proto';
import type { Logger } from 'pino';
import { ApiError, type ErrorBody } from '../common/api-error';

/** Turns chunks into response bytes (text pieces, or JSON written incrementally). */
export interface MapBodyWriter {
  /** A lower bound on the answer's size in bytes, from the first chunk. */
  minBytes(first: GetMemoryMapResponse): number;
  /** The bytes of one chunk (the opening of the answer comes with the first). */
  chunk(c: GetMemoryMapResponse): string | Buffer;
  /** The closing bytes, after the last chunk. */
  end(): string | Buffer;
}

export interface MapStreamOptions {
  node: string;
  pid: number;
  /** Answers above: 413 before the first byte, or the stream is cut. */
  maxBytes: number;
  /** The request's deadline (ms from now): an answer still being written then is cut. */
  timeoutMs: number;
  /** Bytes the body buffers before the agent call is paused. */
  highWaterMark?: number;
  /** An agent ServiceError as the error the exception filter maps (AgentConnection.toError). */
  toError(e: ServiceError): Error;
  /** The JSON error body of an error (the exception filter's mapping). */
  toBody(e: unknown): ErrorBody;
  /** After a deadline cut: how long a client gets to read the rest before it is disconnected. */
  cutGraceMs?: number;
  /**
   * How long the agent call may stay paused for a client that reads nothing before the answer is
   * cut and the connection closed (the agent holds a heavy-read permit while it streams).
   */
  stallMs?: number;
  /** Told each time the agent call is paused for a slow client. */
  onPause?(): void;
  /** Told when a started answer is cut (reason: 'deadline' | 'limit' | 'agent'). */
  onCut?(reason: string): void;
  log: Logger;
}

export const DEFAULT_HIGH_WATER_MARK = 256 * 1024;
export const DEFAULT_CUT_GRACE_MS = 5000;
export const DEFAULT_STALL_MS = 30_000;

/** The HTTP body of a map stream: pulling from it resumes the paused agent call. */
class MapBody extends Readable {
  constructor(
    highWaterMark: number,
    private readonly onRead: () => void,
    private readonly onDestroy: () => void,
  ) {
    super({ highWaterMark });
  }

  override _read(): void {
    this.onRead();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.onDestroy();
    cb(err);
  }
}

function byteLength(b: string | Buffer): number {
  return typeof b === 'string' ? Buffer.byteLength(b) : b.length;
}

/**
 * Waits for the first chunk of `call`, then resolves with the body to send (already holding the
 * first chunk's bytes). Rejects with the agent's error, or 413 when the answer is too big.
 */
export function streamMap(
  call: ClientReadableStream<GetMemoryMapResponse>,
  writer: MapBodyWriter,
  opts: MapStreamOptions,
): Promise<Readable> {
  return new Promise<Readable>((resolve, reject) => {
    let started = false;
    let done = false;
    let sawLast = false;
    let written = 0;
    let paused = false;
    let stallTimer: NodeJS.Timeout | undefined;
    const body = new MapBody(
      opts.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      () => {
        if (!paused || done) return;
        paused = false;
        clearTimeout(stallTimer);
        call.resume();
      },
      () => {
        if (!done) {
          done = true;
          clearTimeout(timer);
          clearTimeout(stallTimer);
          call.cancel();
        }
      },
    );
    /** A client that has read nothing for stallMs: the agent call ends, the connection closes. */
    const stalled = (): void => {
      if (done || !paused) return;
      opts.log.warn(
        { node: opts.node, pid: opts.pid, reason: 'stalled', written },
        'map stream cut',
      );
      opts.onCut?.('stalled');
      done = true;
      clearTimeout(timer);
      call.cancel();
      body.destroy();
    };
    const push = (b: string | Buffer): void => {
      if (b.length === 0) return;
      written += byteLength(b);
      if (!body.push(b) && !paused && !done) {
        paused = true;
        call.pause();
        opts.onPause?.();
        stallTimer = setTimeout(stalled, opts.stallMs ?? DEFAULT_STALL_MS);
        stallTimer.unref();
      }
    };
    const finish = (): void => {
      done = true;
      clearTimeout(timer);
      clearTimeout(stallTimer);
      body.push(null);
    };
    /** Ends a started answer with an error line (or the connection, if the client is stalled). */
    const cut = (reason: string, err: unknown): void => {
      if (done) return;
      const line = opts.toBody(err);
      opts.log.warn(
        { node: opts.node, pid: opts.pid, reason, written, message: line.message },
        'map stream cut',
      );
      opts.onCut?.(reason);
      done = true;
      clearTimeout(timer);
      clearTimeout(stallTimer);
      call.cancel();
      body.push('\n' + JSON.stringify(line) + '\n');
      body.push(null);
      if (reason === 'deadline') {
        // A client that still has not read the rest a grace period later loses the connection.
        setTimeout(() => {
          if (!body.readableEnded) body.destroy();
        }, opts.cutGraceMs ?? DEFAULT_CUT_GRACE_MS).unref();
      }
    };
    const timer = setTimeout(() => {
      const e = new ApiError(
        504,
        `the map of pid ${opts.pid} on node '${opts.node}' was not written within ${opts.timeoutMs} ms`,
        { node: opts.node },
      );
      if (started) cut('deadline', e);
      else {
        done = true;
        call.cancel();
        reject(e);
      }
    }, opts.timeoutMs);
    timer.unref();

    call.on('data', (c: GetMemoryMapResponse) => {
      if (done) return;
      try {
        if (!started) {
          if (!c.header) {
            throw new ApiError(502, `node '${opts.node}' sent a memory map without a header`, {
              node: opts.node,
            });
          }
          const min = writer.minBytes(c);
          if (min > opts.maxBytes) {
            throw new ApiError(
              413,
              `the answer (at least ${min} bytes) exceeds the gateway's limit of ${opts.maxBytes} bytes: narrow it (range, view)`,
            );
          }
        }
        const bytes = writer.chunk(c);
        if (c.last) sawLast = true;
        if (written + byteLength(bytes) > opts.maxBytes) {
          throw new ApiError(
            413,
            `the answer exceeds the gateway's limit of ${opts.maxBytes} bytes: narrow it (range, view)`,
          );
        }
        push(bytes);
        if (!started) {
          started = true;
          resolve(body);
        }
      } catch (e) {
        if (started) {
          cut(e instanceof ApiError && e.body.statusCode === 413 ? 'limit' : 'agent', e);
          return;
        }
        done = true;
        clearTimeout(timer);
        call.cancel();
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    call.on('error', (e: ServiceError) => {
      if (done) return;
      if (!started) {
        done = true;
        clearTimeout(timer);
        reject(opts.toError(e));
        return;
      }
      if (e.code === GrpcStatus.CANCELLED && body.destroyed) return; // the client went away
      cut(e.code === GrpcStatus.DEADLINE_EXCEEDED ? 'deadline' : 'agent', opts.toError(e));
    });
    call.on('end', () => {
      if (done) return;
      if (!started) {
        done = true;
        clearTimeout(timer);
        reject(new ApiError(502, `node '${opts.node}' sent no memory map`, { node: opts.node }));
        return;
      }
      if (!sawLast) {
        cut(
          'agent',
          new ApiError(502, `node '${opts.node}' ended the memory map early`, { node: opts.node }),
        );
        return;
      }
      try {
        push(writer.end());
      } catch (e) {
        cut('agent', e);
        return;
      }
      finish();
    });
  });
}
