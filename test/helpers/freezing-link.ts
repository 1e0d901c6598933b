/**
 * A TCP link between the gateway and an agent that the test can make stall mid-answer: every
 * byte is forwarded both ways until `freezeAfter(n)` is armed; then, once n more bytes have gone
 * from the agent to the gateway, that direction stops (the agent's socket is paused, so nothing
 * more reaches the gateway; the kernel buffers hold the rest). Requests and cancellations still
 * reach the agent. A stall at the network, independent of how much the client's or the gateway's
 * socket buffers would take in.
 */
import * as net from 'node:net';

export interface FreezingLink {
  /** host:port the gateway is given instead of the agent's. */
  address: string;
  /** From now, forward `bytes` more from the agent, then stop that direction. */
  freezeAfter(bytes: number): void;
  /** Whether the agent's direction has stopped (the budget ran out). */
  frozen(): boolean;
  /** Forward everything again. */
  thaw(): void;
  stop(): Promise<void>;
}

export async function startFreezingLink(host: string, agentAddress: string): Promise<FreezingLink> {
  const colon = agentAddress.lastIndexOf(':');
  const target = {
    host: agentAddress.slice(0, colon),
    port: Number(agentAddress.slice(colon + 1)),
  };
  let budget = Infinity;
  let stopped = false;
  const upstreams = new Set<net.Socket>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(target);
    upstreams.add(up);
    sockets.add(up).add(down);
    down.pipe(up);
    up.on('data', (chunk: Buffer) => {
      if (chunk.length <= budget) {
        budget -= chunk.length;
        down.write(chunk);
        return;
      }
      const n = budget;
      budget = 0;
      down.write(chunk.subarray(0, n));
      up.pause();
      up.unshift(chunk.subarray(n));
    });
    const close = (): void => {
      up.destroy();
      down.destroy();
      sockets.delete(up);
      sockets.delete(down);
      upstreams.delete(up);
    };
    up.on('error', close).on('close', close);
    down.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `${host}:${port}`,
    freezeAfter(bytes) {
      budget = bytes;
    },
    frozen: () => budget === 0,
    thaw() {
      budget = Infinity;
      for (const up of upstreams) up.resume();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
