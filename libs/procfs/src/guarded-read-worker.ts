/**
 * The worker thread of GuardedFileReader (guarded-read.ts): its source, run with `eval`, and the
 * messages it takes and posts. A request is a path (the whole file, one readFileSync: the fast way
 * to read a big /proc file) or `{ path, chunked: true }` (the file in pieces that each end at a
 * line end, posted as they are read, so the caller parses one while the kernel makes the next).
 * Bytes are posted with their buffer transferred, not copied.
 */

/** Bytes one chunked read asks the kernel for at a time. */
export const READ_CHUNK_BYTES = 1024 * 1024;

/** A line is never longer than this (a piece holds whole lines up to it). */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** What the main thread asks a worker. */
export type WorkerRequest = string | { path: string; chunked: true };

/**
 * What a worker posts back: the whole file's bytes; a piece of a chunked read (`length` bytes of
 * `chunk`), then `done`; or a file-system error's code and message (which ends the read).
 */
export type WorkerReply =
  | { ok: ArrayBuffer }
  | { chunk: ArrayBuffer; length: number }
  | { done: true }
  | { code: string | undefined; message: string };

export const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { readFileSync, openSync, readSync, closeSync } = require('node:fs');
const CHUNK = ${READ_CHUNK_BYTES};
const MAX_LINE = ${MAX_LINE_BYTES};

function whole(path) {
  const b = readFileSync(path);
  // A small read may sit in Node's shared pool: send an exact copy, never the pool itself.
  let ab = b.buffer;
  if (b.byteOffset !== 0 || ab.byteLength !== b.length) ab = new Uint8Array(b).buffer;
  parentPort.postMessage({ ok: ab }, [ab]);
}

function chunked(path) {
  const fd = openSync(path, 'r');
  try {
    let buf = Buffer.allocUnsafeSlow(CHUNK);
    let filled = 0;
    for (;;) {
      const n = readSync(fd, buf, filled, buf.length - filled, null);
      filled += n;
      if (n > 0 && filled < buf.length) continue;
      let cut = filled;
      if (n > 0) {
        const nl = buf.lastIndexOf(10, filled - 1);
        if (nl < 0 && buf.length < MAX_LINE) {
          const bigger = Buffer.allocUnsafeSlow(buf.length * 2);
          buf.copy(bigger, 0, 0, filled);
          buf = bigger;
          continue;
        }
        if (nl >= 0) cut = nl + 1;
      }
      let next;
      if (n > 0) {
        next = Buffer.allocUnsafeSlow(CHUNK);
        buf.copy(next, 0, cut, filled);
      }
      if (cut > 0) parentPort.postMessage({ chunk: buf.buffer, length: cut }, [buf.buffer]);
      if (n === 0) break;
      filled -= cut;
      buf = next;
    }
  } finally {
    closeSync(fd);
  }
  parentPort.postMessage({ done: true });
}

parentPort.on('message', (m) => {
  try {
    if (typeof m === 'string') whole(m);
    else chunked(m.path);
  } catch (e) {
    parentPort.postMessage({ code: e && e.code, message: String(e && e.message) });
  }
});
`;
