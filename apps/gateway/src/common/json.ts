import { formatAddress } from '@app/domain';

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A size/count at the REST edge: a JSON number below 2^53, else a decimal string. */
export type JsonSize = number | string;

export function size(v: bigint): JsonSize {
  return v <= SAFE && v >= -SAFE ? Number(v) : v.toString();
}

/** An address, offset or other 64-bit location: "0x…" through the one codec. */
export const addr = formatAddress;
