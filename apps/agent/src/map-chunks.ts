/**
 * The chunks of a GetMemoryMap answer, made one at a time as the stream takes them (so only the
 * chunk being written is encoded): VMAs in the compact wire (@app/proto SmapsLayoutEncoder,
 * docs/wire.md), or the rendered pmap text cut in pieces. The first chunk carries the header and
 * the map's size (total_vmas, text_bytes for text); the last one `last`.
 */
import type { MemoryMap, ProcessHeader } from '@app/domain';
import {
  GetMemoryMapResponse,
  headerToProto,
  ProcessHeader as ProtoHeader,
  SmapsLayoutEncoder,
} from '@app/proto';

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

/** Bytes of `n` (a non-negative integer below 2^53) as a protobuf varint. */
function varintBytes(n: number): number {
  let k = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    k++;
  }
  return k;
}

function writeVarint(b: Buffer, at: number, n: number): number {
  while (n >= 128) {
    b[at++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  b[at++] = n;
  return at;
}

/**
 * GetMemoryMap's response serializer (agent.server.ts): a text chunk is encoded into one buffer
 * of its exact size, the text copied once (ts-proto's writer copies it into its own buffer, then
 * into the finished one, then Buffer.from copies that: three copies of 256 KiB a chunk). The
 * fields and their numbers are GetMemoryMapResponse's (header 1, last 3, total_vmas 4, text 6,
 * text_bytes 7); a chunk of VMAs goes through the generated encoder.
 */
export function serializeMemoryMapResponse(m: GetMemoryMapResponse): Buffer {
  if (m.vmas.length > 0 || m.smapsLayouts.length > 0 || m.textBytes >= 2n ** 53n) {
    return Buffer.from(GetMemoryMapResponse.encode(m).finish());
  }
  const header = m.header ? ProtoHeader.encode(m.header).finish() : undefined;
  const textBytes = Number(m.textBytes);
  const text = m.text.length;
  let size = 0;
  if (header) size += 1 + varintBytes(header.length) + header.length;
  if (m.last) size += 2;
  if (m.totalVmas !== 0) size += 1 + varintBytes(m.totalVmas);
  if (text !== 0) size += 1 + varintBytes(text) + text;
  if (textBytes !== 0) size += 1 + varintBytes(textBytes);
  const b = Buffer.allocUnsafe(size);
  let at = 0;
  if (header) {
    b[at++] = 10;
    at = writeVarint(b, at, header.length);
    b.set(header, at);
    at += header.length;
  }
  if (m.last) {
    b[at++] = 24;
    b[at++] = 1;
  }
  if (m.totalVmas !== 0) {
    b[at++] = 32;
    at = writeVarint(b, at, m.totalVmas);
  }
  if (text !== 0) {
    b[at++] = 50;
    at = writeVarint(b, at, text);
    b.set(m.text, at);
    at += text;
  }
  if (textBytes !== 0) {
    b[at++] = 56;
    writeVarint(b, at, textBytes);
  }
  return b;
}
