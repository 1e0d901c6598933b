/**
 * Flow control of the agent's server streams, in one place: every streaming RPC writes until
 * `write()` returns false, then waits here for the client to drain (or for the call to end), and
 * long loops give the event loop back between steps.
 */
import type { EventEmitter } from 'node:events';

const OVER = ['drain', 'cancelled', 'close', 'error'] as const;

/** Resolves when the stream may take more data, or when the call is over (cancel, error, close). */
export function whenWritable(call: EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      for (const e of OVER) call.off(e, done);
      resolve();
    };
    for (const e of OVER) call.on(e, done);
  });
}

/** Resolves on the next turn of the event loop (after pending I/O callbacks). */
export function yieldLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
