import type { MemoryMap, SmapsField, Vma } from '@app/domain';
import { VE_DGEMM_MAP } from '../../pmap-format/src/testing/ve-fixtures';
import { GetMemoryMapResponse } from './gen/pmap/v1/pmap';
import { expandMapChunks, MapWireError, SmapsLayoutDecoder, SmapsLayoutEncoder } from './map-wire';

const kb = (name: string, value: bigint): SmapsField => ({ name, value, kb: true });
const raw = (name: string, value: bigint): SmapsField => ({ name, value, kb: false });

function smapsVma(start: bigint, extra: Partial<Vma> = {}): Vma {
  return {
    start,
    end: start + 0x2000n,
    perms: 'rw-p',
    offset: 0n,
    devMajor: 0,
    devMinor: 0,
    inode: 0n,
    name: '',
    kind: 'anon',
    fields: [kb('Size', 8n), kb('Rss', 4n), raw('THPeligible', 1n), raw('ProtectionKey', 0n)],
    vmFlags: 'rd wr mr mw me ac sd',
    ...extra,
  };
}

/** Every VMA through the encoder, real protobuf bytes (one chunk per `per` VMAs), the decoder. */
function roundTrip(vmas: Vma[], per = 2): { out: Vma[]; chunks: GetMemoryMapResponse[] } {
  const enc = new SmapsLayoutEncoder();
  const chunks: GetMemoryMapResponse[] = [];
  for (let i = 0; i < vmas.length; i += per) {
    const batch = vmas.slice(i, i + per).map((v) => enc.encode(v));
    const msg = GetMemoryMapResponse.fromPartial({ vmas: batch, smapsLayouts: enc.takeLayouts() });
    chunks.push(GetMemoryMapResponse.decode(GetMemoryMapResponse.encode(msg).finish()));
  }
  const dec = new SmapsLayoutDecoder();
  const out: Vma[] = [];
  for (const c of chunks) {
    dec.add(c);
    for (const v of c.vmas) out.push(dec.toDomain(v));
  }
  return { out, chunks };
}

describe('compact GetMemoryMap wire', () => {
  it('round-trips every VMA field: kB flags, VmFlags, shm ids, thread stacks, 64-bit values', () => {
    const vmas: Vma[] = [
      smapsVma(0x1000n),
      smapsVma(0x7fffffffe000n, {
        kind: 'thread_stack',
        threadId: 4242,
        name: '[stack:4242]',
      }),
      smapsVma(0x10000n, {
        kind: 'sysv_shm',
        perms: 'rw-s',
        shmId: 98307n,
        inode: 98307n,
        name: '/SYSV00000000 (deleted)',
        devMajor: 0xfd,
        devMinor: 0x1,
        offset: 0xffff_ffff_ffff_f000n,
        // Other field names and units than the first layout: a second layout.
        fields: [kb('Size', 2n ** 60n), raw('Odd', 2n ** 64n - 1n), kb('Rss', 0n)],
        vmFlags: '',
      }),
      smapsVma(0x20000n, { fields: [], vmFlags: '' }),
      {
        start: 0x30000n,
        end: 0x31000n,
        perms: 'r--p',
        offset: 0n,
        devMajor: 8,
        devMinor: 3,
        inode: 12n,
        name: '/usr/lib/libx.so',
        kind: 'file',
      },
    ];
    const { out, chunks } = roundTrip(vmas);
    expect(out).toEqual(vmas);
    // No VMA carries a name per field; each distinct layout travels once.
    for (const c of chunks) for (const v of c.vmas) expect(v.fields).toEqual([]);
    expect(chunks.flatMap((c) => c.smapsLayouts.map((l) => l.names))).toEqual([
      ['Size', 'Rss', 'THPeligible', 'ProtectionKey'],
      ['Size', 'Odd', 'Rss'],
      [],
    ]);
    expect(chunks[0].smapsLayouts[0].kb).toEqual([true, true, false, false]);
  });

  it('sends a layout again only when it is new: 1,000 like VMAs share one', () => {
    const vmas = Array.from({ length: 1000 }, (_, i) => smapsVma(BigInt(i) * 0x2000n));
    const { out, chunks } = roundTrip(vmas, 100);
    expect(out).toEqual(vmas);
    expect(chunks.reduce((n, c) => n + c.smapsLayouts.length, 0)).toBe(1);
    expect(chunks[0].smapsLayouts).toHaveLength(1);
  });

  it('round-trips VE maps (not_provided fields, VE node, VEOS flags)', () => {
    const map: MemoryMap = VE_DGEMM_MAP;
    const { out } = roundTrip(map.vmas, 7);
    expect(out).toEqual(map.vmas);
    expect(out.some((v) => (v.notProvided ?? []).length > 0)).toBe(true);
  });

  it('maps-level VMAs carry no smaps at all', () => {
    const v = { ...smapsVma(0x1000n), fields: undefined, vmFlags: undefined };
    const { out, chunks } = roundTrip([v]);
    expect(out).toEqual([v]);
    expect(chunks[0].vmas[0].hasSmaps).toBe(false);
    expect(chunks[0].smapsLayouts).toEqual([]);
  });

  it('expandMapChunks fills `fields` for readers of the WatchMemoryMap form', () => {
    const vmas = [smapsVma(0x1000n), smapsVma(0x3000n)];
    const { chunks } = roundTrip(vmas, 1);
    expandMapChunks(chunks);
    expect(chunks.map((c) => c.vmas[0].fields)).toEqual(vmas.map((v) => v.fields));
  });

  it('refuses a VMA naming a layout never sent, or values that do not fit it', () => {
    const enc = new SmapsLayoutEncoder();
    const v = enc.encode(smapsVma(0x1000n));
    const dec = new SmapsLayoutDecoder();
    expect(() => dec.toDomain(v)).toThrow(MapWireError);
    dec.add({ smapsLayouts: enc.takeLayouts() });
    expect(dec.toDomain(v).fields).toHaveLength(4);
    expect(() => dec.toDomain({ ...v, smapsValues: [1n] })).toThrow(/4 fields, the VMA 1 values/);
    expect(() => dec.add({ smapsLayouts: [{ names: ['A', 'B'], kb: [true] }] })).toThrow(
      MapWireError,
    );
  });

  it('is several times smaller than a SmapsField per field', () => {
    const vmas = Array.from({ length: 500 }, (_, i) => ({
      ...smapsVma(BigInt(i) * 0x2000n),
      fields: [
        'Size',
        'KernelPageSize',
        'MMUPageSize',
        'Rss',
        'Pss',
        'Pss_Dirty',
        'Shared_Clean',
        'Shared_Dirty',
        'Private_Clean',
        'Private_Dirty',
        'Referenced',
        'Anonymous',
        'LazyFree',
        'AnonHugePages',
        'Swap',
        'Locked',
      ].map((n) => kb(n, 4n)),
    }));
    const enc = new SmapsLayoutEncoder();
    const compact = GetMemoryMapResponse.encode(
      GetMemoryMapResponse.fromPartial({
        vmas: vmas.map((v) => enc.encode(v)),
        smapsLayouts: enc.takeLayouts(),
      }),
    ).finish().length;
    const verbose = GetMemoryMapResponse.encode(
      GetMemoryMapResponse.fromPartial({
        vmas: vmas.map((v) => ({ ...enc.encode(v), fields: v.fields, smapsValues: [] })),
      }),
    ).finish().length;
    expect(compact * 3).toBeLessThan(verbose);
  });
});
