/**
 * The chunks of a GetMemoryMap answer, made one at a time as the stream takes them (so only the
 * chunk being written is encoded): VMAs in the compact wire (@app/proto SmapsLayoutEncoder,
 * docs/wire.md), or the rendered pmap text cut in pieces. The first chunk carries the header and
 * the map's size (total_vmas, text_bytes for text); the last one `last`.
 */
import type { MemoryMap, ProcessHeader } from '@app/domain';
import { headerToProto, SmapsLayoutEncoder, type GetMemoryMapResponse } from '@app/proto';

/** Bytes of text per chunk: far below gRPC's message limit, big enough to cost little. */
export const TEXT_CHUNK_BYTES = 256 * 1024;

function chunk(fields: Partial<GetMemoryMapResponse>): GetMemoryMapResponse {
  return {
    header: undefined,
    vmas: [],
    last: false,
    totalVmas: 0,
    smapsLayouts: [],
    text: Buffer.alloc(0),
    textBytes: 0n,
    ...fields,
  };
}

/** Batches of `batchSize` VMAs (at least one chunk: an empty map is the header and `last`). */
export function* vmaChunks(map: MemoryMap, batchSize: number): Generator<GetMemoryMapResponse> {
  const { vmas } = map;
  const n = vmas.length;
  const enc = new SmapsLayoutEncoder();
  let sent = 0;
  do {
    const end = Math.min(n, sent + batchSize);
    const batch = new Array<GetMemoryMapResponse['vmas'][number]>(end - sent);
    for (let i = sent; i < end; i++) batch[i - sent] = enc.encode(vmas[i]);
    const first = sent === 0;
    sent = end;
    yield chunk({
      header: first ? headerToProto(map.header) : undefined,
      vmas: batch,
      smapsLayouts: enc.takeLayouts(),
      last: end === n,
      totalVmas: first || end === n ? n : 0,
    });
  } while (sent < n);
}

/**
 * The text of a map of `n` VMAs (the rows printed) in pieces of `size` bytes (views of one
 * buffer: nothing copied here).
 */
export function* textChunks(
  header: ProcessHeader,
  n: number,
  text: Buffer,
  size = TEXT_CHUNK_BYTES,
): Generator<GetMemoryMapResponse> {
  let at = 0;
  do {
    const end = Math.min(text.length, at + size);
    const first = at === 0;
    yield chunk({
      header: first ? headerToProto(header) : undefined,
      text: text.subarray(at, end),
      textBytes: first ? BigInt(text.length) : 0n,
      last: end === text.length,
      totalVmas: first || end === text.length ? n : 0,
    });
    at = end;
  } while (at < text.length);
}
