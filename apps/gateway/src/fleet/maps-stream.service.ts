/**
 * GET /v1/maps as NDJSON: one {"type":"node"} (or "failed") line per node as it answers, a
 * "progress" line after each, then the "summary". Written with backpressure (ndjson.ts): each
 * node's lines are awaited before its fan-out slot is released, so a client that stops reading
 * stops the fan-out after at most `fanoutConcurrency` answers wait; a client that does not read
 * for the per-node deadline is cut; the stream stops at maxResponseBytes with an error line.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { LOGGER } from '../common/logger';
import type { MapsSearchQuery } from './dto/fleet-query.dto';
import { FleetService } from './fleet.service';
import { MapsSearchService } from './maps-search.service';
import { NdjsonWriter } from './ndjson';

@Injectable()
export class MapsStreamService {
  constructor(
    private readonly fleet: FleetService,
    private readonly search: MapsSearchService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async stream(q: MapsSearchQuery, signal: AbortSignal, reply: FastifyReply): Promise<void> {
    const prepared = this.search.prepare(q); // 400/404 before the stream starts
    const out = new NdjsonWriter(reply, {
      maxBytes: this.fleet.maxResponseBytes,
      stallMs: prepared.timeoutMs,
      onCut: (why, bytes) =>
        this.logger.warn(
          { route: '/v1/maps', why, bytes, nodes: prepared.nodes.length },
          why === 'stalled'
            ? 'fleet stream cut: the client did not read within the deadline'
            : "fleet stream cut at the gateway's maxResponseBytes",
        ),
    });
    // A stream that is over (cut, too large, client gone) cancels the nodes still asked.
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      const summary = await this.search.run(prepared, ac.signal, async (o, done, total) => {
        if (!out.open) return stop();
        let line: object;
        if (o.ok) {
          const v = o.value!;
          const { matches, vmaCount: _vmaCount, matched: _matched, ...rest } = v;
          line = { type: 'node', ...rest, durationMs: o.durationMs, matches };
          v.matches = []; // written (or about to be): the summary needs only the counts
        } else {
          line = { type: 'failed', ...o.failure!, durationMs: o.durationMs };
        }
        if (!(await out.line(line)) || !(await out.line({ type: 'progress', done, total }))) {
          stop();
        }
      });
      if (!out.open) return;
      const { matches: _none, ...rest } = summary;
      await out.line({ type: 'summary', ...rest, matched: summary.totals.processes });
      out.end();
    } finally {
      signal.removeEventListener('abort', stop);
      out.end();
    }
  }
}
