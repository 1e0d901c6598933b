/**
 * GuardedFileReader: whole-file reads that cannot freeze the caller's thread for longer than a
 * timeout.
 *
 * Reading /proc/PID/{cmdline,maps,smaps,smaps_rollup,numa_maps} takes the target's mmap_lock. A
 * process stuck in uninterruptible sleep while holding it (a page fault on a dead NFS or Lustre
 * server, a hung FUSE daemon) makes such a read block in the kernel for as long as the process is
 * stuck — and a synchronous read would take the agent's only thread with it: no health answers,
 * no other process served.
 *
 * Here each read runs in a worker thread, still as one synchronous readFileSync (the fast way to
 * read a big /proc file), while the calling thread waits on an Atomics word with a timeout and
 * takes the bytes synchronously (receiveMessageOnPort; the buffer is transferred, not copied).
 * Callers stay synchronous. On timeout the read fails with TIMED_OUT, the stuck worker is set
 * aside (a thread blocked in the kernel cannot be cancelled) and a fresh one serves the next
 * read; while that path's read has not returned, reading it again fails at once instead of
 * stacking another blocked thread, and at most `maxHung` stuck reads are kept: beyond that every
 * guarded read fails at once. A stuck read that finally returns frees its slot and its thread.
 *
 * Cost: about 30 µs per read (two futex wakes and a transferred buffer); one big smaps read is
 * as fast as a direct one.
 */
import {
  MessageChannel,
  receiveMessageOnPort,
  Worker,
  type MessagePort,
} from 'node:worker_threads';
import { PmapError } from '@app/domain';

export interface GuardedReadOptions {
  /**
   * How long one read may take before it is declared hung (ms): one value for every path, or a
   * function giving each path its own (a positive integer each time; tests give the files that
   * answer a long timeout and the one that blocks a short one).
   */
  timeoutMs: number | ((path: string) => number);
  /** Stuck reads kept at most; beyond that guarded reads fail at once (default 8). */
  maxHung?: number;
  /** A read was declared hung. */
  onHung?: (path: string, hung: number) => void;
  /** A hung read returned after `ms` (its path can be read again). */
  onRecovered?: (path: string, ms: number, hung: number) => void;
}

/** What the worker posts back: the bytes, or a file-system error's code and message. */
type Reply = { ok: ArrayBuffer } | { code: string | undefined; message: string };

/** Slot states in ctl[0]. */
const IDLE = 0;
const REQUESTED = 1;
const REPLIED = 2;
/** Bytes for the path in the shared buffer (PATH_MAX). */
const PATH_BYTES = 4096;

/**
 * The worker blocks on the control word instead of running an event loop: a request wakes it
 * directly (one futex wake each way, ~30 µs per read instead of ~150 µs through message events).
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const { port, shared } = workerData;
const ctl = new Int32Array(shared, 0, 2);
const pathBytes = new Uint8Array(shared, 8);
const decoder = new TextDecoder();
for (;;) {
  // Sleep until a request: while the word is IDLE, or still REPLIED to the previous one.
  let state;
  while ((state = Atomics.load(ctl, 0)) !== ${REQUESTED}) Atomics.wait(ctl, 0, state);
  const path = decoder.decode(pathBytes.slice(0, ctl[1]));
  let reply;
  let transfer = [];
  try {
    const b = readFileSync(path);
    // A small read may sit in Node's shared pool: send an exact copy, never the pool itself.
    let ab = b.buffer;
    if (b.byteOffset !== 0 || ab.byteLength !== b.length) ab = new Uint8Array(b).buffer;
    reply = { ok: ab };
    transfer = [ab];
  } catch (e) {
    reply = { code: e && e.code, message: String(e && e.message) };
  }
  port.postMessage(reply, transfer);
  Atomics.store(ctl, 0, ${REPLIED});
  Atomics.notify(ctl, 0);
}
`;

interface Slot {
  worker: Worker;
  port: MessagePort;
  /** [0]: IDLE, REQUESTED or REPLIED; [1]: the path's length in bytes. */
  ctl: Int32Array;
  /** The path of the request (UTF-8). */
  path: Uint8Array;
}

const encoder = new TextEncoder();

/** A Node-style system error, so errno mappings (procError) treat it like a direct read's. */
function systemError(code: string | undefined, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function checkedTimeout(ms: number): number {
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new RangeError(`timeoutMs must be a positive integer, got ${ms}`);
  }
  return ms;
}

export class GuardedFileReader {
  private slot: Slot | undefined;
  /** path -> when its read started, for reads that did not return in time. */
  private readonly hung = new Map<string, number>();
  private readonly timeoutOf: (path: string) => number;
  private readonly maxHung: number;
  private closed = false;

  constructor(private readonly opts: GuardedReadOptions) {
    const { timeoutMs } = opts;
    if (typeof timeoutMs === 'function') {
      this.timeoutOf = (path) => checkedTimeout(timeoutMs(path));
    } else {
      checkedTimeout(timeoutMs);
      this.timeoutOf = () => timeoutMs;
    }
    this.maxHung = opts.maxHung ?? 8;
  }

  /** Reads still blocked in the kernel. */
  get hungReads(): number {
    return this.hung.size;
  }

  /**
   * The whole file, as readFileSync would return it; file-system errors are rethrown as Node
   * system errors (with `code`). TIMED_OUT when the read does not return within the timeout, or
   * at once when this path's earlier read is still stuck or too many reads are.
   */
  read(path: string): Buffer {
    if (this.closed) throw new PmapError('UNAVAILABLE', 'the reader is closed');
    const since = this.hung.get(path);
    if (since !== undefined) {
      throw new PmapError(
        'TIMED_OUT',
        `an earlier read of ${path} has not returned for ${Date.now() - since} ms ` +
          '(the process is probably stuck in uninterruptible sleep)',
      );
    }
    if (this.hung.size >= this.maxHung) {
      throw new PmapError(
        'TIMED_OUT',
        `${this.hung.size} reads of /proc are stuck in the kernel; not reading ${path}`,
      );
    }
    const timeoutMs = this.timeoutOf(path);
    const slot = this.current();
    const { read, written } = encoder.encodeInto(path, slot.path);
    if (read !== path.length) {
      throw systemError('ENAMETOOLONG', `path too long (${path.length} characters): ${path}`);
    }
    const started = Date.now();
    slot.ctl[1] = written;
    Atomics.store(slot.ctl, 0, REQUESTED);
    Atomics.notify(slot.ctl, 0);
    Atomics.wait(slot.ctl, 0, REQUESTED, timeoutMs);
    const got = receiveMessageOnPort(slot.port);
    if (got === undefined) {
      this.setAside(slot, path, started);
      throw new PmapError(
        'TIMED_OUT',
        `reading ${path} did not return within ${timeoutMs} ms ` +
          '(the process is probably stuck in uninterruptible sleep)',
      );
    }
    Atomics.store(slot.ctl, 0, IDLE);
    const reply = got.message as Reply;
    if ('ok' in reply) return Buffer.from(reply.ok);
    throw systemError(reply.code, reply.message);
  }

  /** Stops the worker (stuck ones end when their read returns). */
  close(): void {
    this.closed = true;
    if (this.slot) void this.slot.worker.terminate();
    this.slot = undefined;
  }

  private current(): Slot {
    if (this.slot) return this.slot;
    const shared = new SharedArrayBuffer(8 + PATH_BYTES);
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { port: port2, shared },
      transferList: [port2],
    });
    worker.unref();
    port1.unref();
    this.slot = {
      worker,
      port: port1,
      ctl: new Int32Array(shared, 0, 2),
      path: new Uint8Array(shared, 8, PATH_BYTES),
    };
    return this.slot;
  }

  /** The slot's worker is blocked in the kernel: keep it aside until its read returns. */
  private setAside(slot: Slot, path: string, started: number): void {
    this.slot = undefined;
    this.hung.set(path, started);
    this.opts.onHung?.(path, this.hung.size);
    slot.port.once('message', () => {
      this.hung.delete(path);
      slot.port.close();
      void slot.worker.terminate();
      this.opts.onRecovered?.(path, Date.now() - started, this.hung.size);
    });
  }
}
