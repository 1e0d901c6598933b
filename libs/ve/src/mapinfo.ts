import { PmapError, type SmapsField, type Vma, type VmaKind } from '@app/domain';

/**
 * struct ve_mapinfo (veosinfo.h) as VEOS writes it to the ve_map_info temp file: 400 bytes per
 * record on x86_64, little endian. Offsets from docs/reference.md §3 / veosinfo.h.
 */
export const VE_MAPINFO_SIZE = 400;

export const VE_MAPINFO_OFFSETS = {
  start: 0,
  end: 8,
  perms: 16, // char[32]
  offset: 48,
  inode: 56,
  devMajor: 64, // u32
  devMinor: 68, // u32
  mapDesc: 72, // char[128]
  size: 200,
  rss: 208,
  pss: 216,
  sharedDirty: 224,
  privateDirty: 232,
  sharedClean: 240,
  privateClean: 248,
  referenced: 256,
  anonymous: 264,
  anonHugePage: 272,
  swap: 280,
  mmuPageSize: 288,
  locked: 296,
  pageSize: 304,
  vmFlags: 312, // char[81]
} as const;

const PERMS_LEN = 32;
const MAP_DESC_LEN = 128;
const VMFLAGS_LEN = 81;

/**
 * The smaps-like figures in the VE `pmap -XX` column order, with the byte offset of each in the
 * struct. Names as the VE pmap header prints them (and as Linux smaps names them).
 */
export const VE_FIELD_LAYOUT: readonly { name: string; at: number }[] = [
  { name: 'Size', at: VE_MAPINFO_OFFSETS.size },
  { name: 'Rss', at: VE_MAPINFO_OFFSETS.rss },
  { name: 'Pss', at: VE_MAPINFO_OFFSETS.pss },
  { name: 'Shared_Clean', at: VE_MAPINFO_OFFSETS.sharedClean },
  { name: 'Shared_Dirty', at: VE_MAPINFO_OFFSETS.sharedDirty },
  { name: 'Private_Clean', at: VE_MAPINFO_OFFSETS.privateClean },
  { name: 'Private_Dirty', at: VE_MAPINFO_OFFSETS.privateDirty },
  { name: 'Referenced', at: VE_MAPINFO_OFFSETS.referenced },
  { name: 'Anonymous', at: VE_MAPINFO_OFFSETS.anonymous },
  { name: 'AnonHugePages', at: VE_MAPINFO_OFFSETS.anonHugePage },
  { name: 'Swap', at: VE_MAPINFO_OFFSETS.swap },
  { name: 'KernelPageSize', at: VE_MAPINFO_OFFSETS.pageSize },
  { name: 'MMUPageSize', at: VE_MAPINFO_OFFSETS.mmuPageSize },
  { name: 'Locked', at: VE_MAPINFO_OFFSETS.locked },
];

/** The figures VEOS never fills (always 0 there): "not provided", not a real zero. */
export const VE_NOT_PROVIDED: readonly string[] = [
  'Shared_Clean',
  'Shared_Dirty',
  'Private_Clean',
  'Private_Dirty',
  'Referenced',
  'Swap',
  'Locked',
];

/** A C string inside a fixed-size char array (up to the first NUL). */
function cString(buf: Buffer, at: number, len: number): string {
  const nul = buf.indexOf(0, at);
  const stop = nul < 0 || nul > at + len ? at + len : nul;
  return buf.toString('utf8', at, stop);
}

/** VE map_desc -> kind: "[anon]", "[stack]", "[heap]", else a path is a file. */
export function veVmaKind(name: string): VmaKind {
  if (name === '' || name === '[anon]') return 'anon';
  if (name === '[stack]') return 'stack';
  if (name === '[heap]') return 'heap';
  if (name.startsWith('[')) return 'other';
  return name.endsWith(' (deleted)') ? 'deleted_file' : 'file';
}

/** Decodes the record at byte `at` of `buf` into a domain Vma (smaps level). */
export function decodeVeMapinfo(buf: Buffer, at = 0): Vma {
  if (at < 0 || at + VE_MAPINFO_SIZE > buf.length) {
    throw new PmapError(
      'UNAVAILABLE',
      `truncated ve_mapinfo record at byte ${at} (buffer of ${buf.length} bytes)`,
    );
  }
  const o = VE_MAPINFO_OFFSETS;
  const name = cString(buf, at + o.mapDesc, MAP_DESC_LEN);
  const fields: SmapsField[] = new Array<SmapsField>(VE_FIELD_LAYOUT.length);
  for (let i = 0; i < VE_FIELD_LAYOUT.length; i++) {
    const f = VE_FIELD_LAYOUT[i];
    fields[i] = { name: f.name, value: buf.readBigUInt64LE(at + f.at), kb: true };
  }
  return {
    start: buf.readBigUInt64LE(at + o.start),
    end: buf.readBigUInt64LE(at + o.end),
    perms: cString(buf, at + o.perms, PERMS_LEN),
    offset: buf.readBigUInt64LE(at + o.offset),
    devMajor: buf.readUInt32LE(at + o.devMajor),
    devMinor: buf.readUInt32LE(at + o.devMinor),
    inode: buf.readBigUInt64LE(at + o.inode),
    name,
    kind: veVmaKind(name),
    fields,
    vmFlags: cString(buf, at + o.vmFlags, VMFLAGS_LEN),
    notProvided: [...VE_NOT_PROVIDED],
  };
}

/**
 * Decodes `length` records (the count ve_map_info returned) from the temp file's contents.
 * A file shorter than `length` records is an error (VEOS wrote less than it announced).
 */
export function decodeVeMapinfoFile(buf: Buffer, length: number, veNode?: number): Vma[] {
  if (!Number.isInteger(length) || length < 0) {
    throw new PmapError('UNAVAILABLE', `bad ve_map_info record count ${length}`);
  }
  if (buf.length < length * VE_MAPINFO_SIZE) {
    throw new PmapError(
      'UNAVAILABLE',
      `ve_map_info announced ${length} records but the file holds ${buf.length} bytes ` +
        `(${Math.floor(buf.length / VE_MAPINFO_SIZE)} records)`,
    );
  }
  const vmas: Vma[] = new Array<Vma>(length);
  for (let i = 0; i < length; i++) {
    const v = decodeVeMapinfo(buf, i * VE_MAPINFO_SIZE);
    if (veNode !== undefined) v.veNode = veNode;
    vmas[i] = v;
  }
  return vmas;
}

/** The figure `name` of a decoded VE VMA (KiB), 0n when absent. */
export function veField(vma: Vma, name: string): bigint {
  const f = vma.fields?.find((x) => x.name === name);
  return f ? f.value : 0n;
}
