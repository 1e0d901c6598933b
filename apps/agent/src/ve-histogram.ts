/**
 * GetHistogram with ve_node: the request is validated by the host histogram service (the same
 * field rules and messages), then computed from the VE map by VeService.histogram (the maths:
 * veHistogram of @app/ve) and sent in chunks (first: header; last: totals and last=true). A VE
 * map has tens of VMAs, so there is no time slicing.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import {
  headerToProto,
  histogramTotalsToProto,
  vmaHistogramToProto,
  type GetHistogramRequest,
  type GetHistogramResponse,
} from '@app/proto';
import { unimplemented } from './errors';
import type { HistogramService } from './histogram.service';
import type { VeService } from './ve.service';

const VMAS_PER_CHUNK = 1000;

/** The host histogram service's request validation (HistogramService.toQuery). */
export type HistogramValidator = Pick<HistogramService, 'toQuery'>;

export async function serveVeHistogram(
  call: ServerWritableStream<GetHistogramRequest, GetHistogramResponse>,
  ve: VeService,
  validator: HistogramValidator,
): Promise<void> {
  const veNode = call.request.veNode!;
  if (!ve.available) {
    throw unimplemented(`VE targets are not available on this agent: ${ve.reason}`);
  }
  const q = validator.toQuery({ ...call.request, veNode: undefined });
  if (call.cancelled) return;
  const h = await ve.histogram(veNode, q.pid, {
    kind: q.kind,
    range: q.range,
    omitFileBacked: q.options.omitFileBacked ?? false,
    omitUnfaulted: q.options.omitUnfaulted ?? false,
    maxOrder: q.options.maxOrder ?? 9,
    compat: q.options.compat === 'memhist',
    runs: q.options.runs ?? false,
  });
  if (call.cancelled) return;
  const header = headerToProto(h.map.header);
  let sent = 0;
  do {
    const end = Math.min(h.vmas.length, sent + VMAS_PER_CHUNK);
    const last = end === h.vmas.length;
    call.write({
      header: sent === 0 ? header : undefined,
      vmas: h.vmas.slice(sent, end).map(vmaHistogramToProto),
      totals: last ? histogramTotalsToProto(h.totals) : undefined,
      last,
    });
    sent = end;
  } while (sent < h.vmas.length);
  call.end();
}
