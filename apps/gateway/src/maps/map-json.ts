/** Domain/proto map pieces -> the JSON the REST API shows (addresses "0x…", sizes in bytes). */
import type { AddressRange, ProcessHeader, VmaKind } from '@app/domain';
import { addr, size, type JsonSize } from '../common/json';
import type { MapHeaderDto, RangeDto } from './dto/memory-map.dto';

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** The columns every VMA shows (domain and proto VMAs alike; `kind` as the API names it). */
export interface VmaBaseJson {
  start: string;
  end: string;
  size: JsonSize;
  perms: string;
  offset: string;
  device: string;
  inode: string;
  name: string;
  kind: VmaKind;
}

export function vmaBaseJson(
  v: {
    start: bigint;
    end: bigint;
    perms: string;
    offset: bigint;
    devMajor: number;
    devMinor: number;
    inode: bigint;
    name: string;
  },
  kind: VmaKind,
): VmaBaseJson {
  return {
    start: addr(v.start),
    end: addr(v.end),
    size: size(v.end - v.start),
    perms: v.perms,
    offset: addr(v.offset),
    device: `${hex(v.devMajor, 2)}:${hex(v.devMinor, 2)}`,
    inode: v.inode.toString(),
    name: v.name,
    kind,
  };
}

export function headerJson(h: ProcessHeader): MapHeaderDto {
  const out: MapHeaderDto = {
    pid: h.pid,
    cmdline: h.cmdline,
    comm: h.comm,
    startStack: addr(h.startStack),
    kernelThread: h.kernelThread,
    uid: h.uid,
  };
  if (h.pageSize !== undefined) out.pageSize = size(h.pageSize);
  if (h.readAtMs !== undefined && Number.isFinite(h.readAtMs) && h.readAtMs > 0) {
    out.readAt = new Date(h.readAtMs).toISOString();
  }
  if (h.veNode !== undefined) out.veNode = h.veNode;
  if (h.vePseudoOf !== undefined) out.vePseudoOf = h.vePseudoOf;
  return out;
}

/** A range's bounds as "0x…" strings (an open side absent). */
export function rangeBoundsJson(r: AddressRange): { low?: string; high?: string } {
  return {
    ...(r.low !== undefined ? { low: addr(r.low) } : {}),
    ...(r.high !== undefined ? { high: addr(r.high) } : {}),
  };
}

/** The range an answer applied (bounds and clip), null without one. */
export function rangeJson(r: AddressRange | undefined): RangeDto | null {
  return r ? { ...rangeBoundsJson(r), clip: r.clip ?? false } : null;
}
