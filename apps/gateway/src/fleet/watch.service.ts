/**
 * GET /v1/nodes/{node}/processes/{pid}/maps/watch: the agent's WatchMemoryMap stream as
 * Server-Sent Events. The HTTP answer starts only once the agent sent its first event, so a bad
 * pid or an unreachable agent is a normal JSON error (404, 503...). Then every agent event is one
 * SSE event (`id:` its seq, `event:` snapshot|change|heartbeat|exited, `data:` JSON), a comment
 * line keeps idle connections open, and the stream ends when the process exits (after `exited`),
 * after maxEvents, or when the client leaves (the gRPC stream is cancelled).
 */
import { Inject, Injectable, Optional } from '@nestjs/common';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { type AddressRange, type MemoryRollup } from '@app/domain';
import {
  DetailLevel,
  headerFromProto,
  kindFromProto,
  rangeToProto,
  rollupFromProto,
  WatchEventType,
  type RollupDelta,
  type Vma,
  type WatchMemoryMapResponse,
} from '@app/proto';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { trailersOf } from '../cluster/agent-connection';
import { ClusterService } from '../cluster/cluster.service';
import { ApiError } from '../common/api-error';
import { parseRangeParam } from '../common/range-param';
import { vmaBaseJson } from '../maps/map-json';
import { size, type JsonSize } from '../common/json';
import { LOGGER } from '../common/logger';
import { MetricsService } from '../metrics/metrics.service';
import { LIMIT_DEFAULTS } from '../security/security-config';
import { SecurityService } from '../security/security.service';
import { SseWriter } from './sse-writer';
import type { WatchQuery } from './dto/fleet-query.dto';

/** Comment line sent when nothing else was written for this long. */
export const SSE_KEEPALIVE_MS = 15_000;
/**
 * A client that has not taken what was written for this long (or three intervals, if longer) is
 * cut: the agent stream stays paused meanwhile, so nothing piles up in the gateway.
 */
export const SSE_STALL_MS = 30_000;

const EVENT_NAMES: Partial<Record<WatchEventType, string>> = {
  [WatchEventType.WATCH_EVENT_TYPE_SNAPSHOT]: 'snapshot',
  [WatchEventType.WATCH_EVENT_TYPE_CHANGE]: 'change',
  [WatchEventType.WATCH_EVENT_TYPE_HEARTBEAT]: 'heartbeat',
  [WatchEventType.WATCH_EVENT_TYPE_EXITED]: 'exited',
};

/** A VMA as the maps endpoint shows it (addresses "0x…", smaps fields in bytes). */
export function watchVmaJson(v: Vma): Record<string, unknown> {
  const out: Record<string, unknown> = { ...vmaBaseJson(v, kindFromProto(v.kind)) };
  if (v.hasSmaps) {
    const fields: Record<string, JsonSize> = {};
    for (const f of v.fields) fields[f.name] = size(f.kb ? f.value * 1024n : f.value);
    out.fields = fields;
    out.vmFlags = v.vmFlags === '' ? [] : v.vmFlags.split(' ');
  }
  return out;
}

function rollupJson(r: MemoryRollup): Record<string, JsonSize> {
  const out: Record<string, JsonSize> = {};
  for (const k of Object.keys(r) as (keyof MemoryRollup)[]) out[k] = size(r[k]);
  return out;
}

function deltaJson(d: RollupDelta): Record<string, JsonSize> {
  const out: Record<string, JsonSize> = {};
  for (const k of Object.keys(d) as (keyof RollupDelta)[]) out[k] = size(d[k]);
  return out;
}

/** One agent event as the SSE data object. */
export function watchEventJson(node: string, ev: WatchMemoryMapResponse): Record<string, unknown> {
  const out: Record<string, unknown> = {
    seq: Number(ev.seq),
    time: new Date(Number(ev.timeMs)).toISOString(),
    type: EVENT_NAMES[ev.type] ?? 'unknown',
    node,
  };
  if (ev.header) {
    const h = headerFromProto(ev.header);
    out.pid = h.pid;
    out.comm = h.comm;
    out.cmdline = h.cmdline;
    if (h.veNode !== undefined) out.veNode = h.veNode;
  }
  if (ev.type === WatchEventType.WATCH_EVENT_TYPE_SNAPSHOT) {
    out.vmas = ev.added.map(watchVmaJson);
  } else if (ev.type === WatchEventType.WATCH_EVENT_TYPE_CHANGE) {
    out.added = ev.added.map(watchVmaJson);
    out.removed = ev.removed.map(watchVmaJson);
    out.changed = ev.changed.map((c) => ({
      before: c.before ? watchVmaJson(c.before) : null,
      after: c.after ? watchVmaJson(c.after) : null,
    }));
  }
  if (ev.rollup) out.rollup = rollupJson(rollupFromProto(ev.rollup));
  if (ev.rollupDelta) out.rollupDelta = deltaJson(ev.rollupDelta);
  return out;
}

/** One SSE event block. */
export function sseEvent(id: string | number | undefined, event: string, data: unknown): string {
  const lines: string[] = [];
  if (id !== undefined) lines.push(`id: ${id}`);
  lines.push(`event: ${event}`);
  // JSON.stringify never emits a raw newline, so one data line suffices.
  lines.push(`data: ${JSON.stringify(data)}`);
  return lines.join('\n') + '\n\n';
}

@Injectable()
export class WatchService {
  constructor(
    private readonly cluster: ClusterService,
    private readonly metrics: MetricsService,
    @Inject(LOGGER) private readonly logger: Logger,
    @Optional() private readonly security?: SecurityService,
  ) {}

  parseRange(text: string | undefined): AddressRange | undefined {
    return parseRangeParam({ range: text });
  }

  /**
   * Opens the agent stream, waits for its first event (errors before it are thrown, so the
   * exception filter answers them), then hijacks the reply and streams SSE until the end.
   */
  async stream(nodeName: string, pid: number, q: WatchQuery, reply: FastifyReply): Promise<void> {
    const node = this.cluster.get(nodeName);
    const range = this.parseRange(q.range);
    const call = node.conn.watchMemoryMap({
      pid,
      veNode: q.ve,
      intervalMs: q.interval ?? 0,
      detail: q.detail === 'smaps' ? DetailLevel.DETAIL_LEVEL_SMAPS : DetailLevel.DETAIL_LEVEL_MAPS,
      range: rangeToProto(range),
      maxEvents: q.maxEvents ?? 0,
    });
    const raw = reply.raw;
    let clientGone = false;
    let ended = false;
    const onClose = (): void => {
      if (ended) return;
      clientGone = true;
      this.metrics.clientGone(node.name);
      call.cancel();
    };
    raw.once('close', onClose);

    // Until the SSE answer starts, events queue here.
    const early: WatchMemoryMapResponse[] = [];
    const live: {
      sink?: (ev: WatchMemoryMapResponse) => void;
      onEnd?: () => void;
      onError?: (e: ServiceError) => void;
    } = {};
    let earlyEnd = false;
    let earlyError: ServiceError | undefined;
    let wake: (() => void) | undefined;
    call.on('data', (ev: WatchMemoryMapResponse) => {
      if (live.sink) live.sink(ev);
      else {
        early.push(ev);
        wake?.();
      }
    });
    call.on('end', () => {
      if (live.onEnd) live.onEnd();
      else {
        earlyEnd = true;
        wake?.();
      }
    });
    call.on('error', (e: ServiceError) => {
      if (live.onError) live.onError(e);
      else {
        earlyError = e;
        wake?.();
      }
    });
    await new Promise<void>((resolve) => {
      wake = resolve;
      if (early.length > 0 || earlyEnd || earlyError) resolve();
    });
    wake = undefined;
    if (early.length === 0) {
      raw.off('close', onClose);
      if (earlyError) {
        const err = node.conn.toError(earlyError);
        if (err.unreachable) this.cluster.markUnavailable(node.name, err.message);
        throw err;
      }
      throw new ApiError(502, `node '${node.name}' ended the watch without an event`, {
        node: node.name,
      });
    }
    if (clientGone) return;

    void reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // Backpressure, the stall deadline and maxResponseBytes: sse-writer.ts.
    const maxBytes = this.security?.limits.maxResponseBytes ?? LIMIT_DEFAULTS.maxResponseBytes;
    const out = new SseWriter(
      raw,
      {
        maxBytes,
        stallMs: Math.max(SSE_STALL_MS, 3 * (q.interval ?? 1000)),
        tooLarge: () =>
          sseEvent(undefined, 'error', {
            node: node.name,
            code: 'RESPONSE_TOO_LARGE',
            message: `the stream reached the gateway's limit of ${maxBytes} bytes`,
          }),
        onCut: (why, bytes) =>
          this.logger.warn(
            { route: 'watch', node: node.name, pid, why, bytes },
            why === 'stalled'
              ? 'watch stream cut: the client did not read within the deadline'
              : "watch stream cut at the gateway's maxResponseBytes",
          ),
        onEnd: () => {
          ended = true;
          clearInterval(keepalive);
          raw.off('close', onClose);
        },
      },
      call,
    );
    const write = (text: string): void => out.write(text);
    const keepalive = setInterval(() => {
      if (Date.now() - out.lastWrite >= SSE_KEEPALIVE_MS - 50) write(': keepalive\n\n');
    }, SSE_KEEPALIVE_MS / 3);
    keepalive.unref();
    const finish = (): void => out.end();
    const send = (ev: WatchMemoryMapResponse): void => {
      const name = EVENT_NAMES[ev.type] ?? 'unknown';
      write(sseEvent(Number(ev.seq), name, watchEventJson(node.name, ev)));
    };
    write(`retry: 3000\n: pmapd watch of pid ${pid} on ${node.name}\n\n`);
    for (const ev of early) send(ev);
    if (earlyEnd) return finish();
    if (earlyError) {
      this.streamError(node.name, earlyError, clientGone, write);
      return finish();
    }
    live.sink = send;
    live.onEnd = finish;
    live.onError = (e) => {
      this.streamError(node.name, e, clientGone, write);
      finish();
    };
  }

  private streamError(
    node: string,
    e: ServiceError,
    clientGone: boolean,
    write: (t: string) => void,
  ): void {
    if (clientGone || e.code === GrpcStatus.CANCELLED) return;
    write(
      sseEvent(undefined, 'error', {
        node,
        code: GrpcStatus[e.code] ?? String(e.code),
        message: e.details ?? e.message,
        reason: trailersOf(e.metadata).reason,
      }),
    );
  }
}
