import type { MemoryMap, SmapsField, Vma } from '@app/domain';
import {
  GetMemoryMapResponse,
  headerToProto,
  SmapsLayoutEncoder,
  type GetMemoryMapResponse as Chunk,
} from '@app/proto';
import { VE_DGEMM_MAP } from '../../../../libs/pmap-format/src/testing/ve-fixtures';
import { MapJsonWriter, MIN_VMA_JSON_BYTES } from './map-json-writer';

const kb = (name: string, value: bigint): SmapsField => ({ name, value, kb: true });

function vma(start: bigint, extra: Partial<Vma> = {}): Vma {
  return {
    start,
    end: start + 0x3000n,
    perms: 'rw-p',
    offset: 0n,
    devMajor: 0,
    devMinor: 0,
    inode: 0n,
    name: '',
    kind: 'anon',
    ...extra,
  };
}

/** The map as the agent sends it: compact chunks of `per` VMAs, through real protobuf bytes. */
function chunks(map: MemoryMap, per: number): Chunk[] {
  const enc = new SmapsLayoutEncoder();
  const out: Chunk[] = [];
  for (let i = 0; i === 0 || i < map.vmas.length; i += per) {
    const batch = map.vmas.slice(i, i + per);
    const msg = GetMemoryMapResponse.fromPartial({
      header: i === 0 ? headerToProto(map.header) : undefined,
      vmas: batch.map((v) => enc.encode(v)),
      smapsLayouts: enc.takeLayouts(),
      totalVmas: i === 0 ? map.vmas.length : 0,
      last: i + per >= map.vmas.length,
    });
    out.push(GetMemoryMapResponse.decode(GetMemoryMapResponse.encode(msg).finish()));
  }
  return out;
}

function write(w: MapJsonWriter, cs: Chunk[]): string {
  return cs.map((c) => w.chunk(c)).join('') + w.end();
}

const header = {
  pid: 77,
  cmdline: '/bin/x --flag "quoted"',
  comm: 'x',
  startStack: 0x7ffc0000n,
  kernelThread: false,
  uid: 1000,
  readAtMs: Date.UTC(2026, 0, 2),
  pageSize: 4096n,
};

describe('MapJsonWriter', () => {
  const map: MemoryMap = {
    header,
    vmas: [
      vma(0x400000n, {
        perms: 'r-xp',
        name: '/usr/bin/x',
        kind: 'file',
        devMajor: 0xfd,
        devMinor: 1,
        inode: 2n ** 63n,
        fields: [kb('Size', 12n), kb('Rss', 8n), kb('Private_Dirty', 4n), kb('Swap', 1n)],
        vmFlags: 'rd ex mr',
      }),
      vma(0x600000n, {
        perms: 'rw-s',
        kind: 'sysv_shm',
        shmId: 5n,
        name: '/SYSV0 (deleted)',
        fields: [
          kb('Size', 12n),
          kb('Rss', 2n ** 44n),
          { name: 'THPeligible', value: 1n, kb: false },
        ],
        vmFlags: 'rd wr sh ',
      }),
      vma(0x7f0000000000n, {
        kind: 'thread_stack',
        threadId: 9,
        fields: [kb('Size', 12n), kb('Rss', 8n), kb('Private_Dirty', 8n), kb('Swap', 0n)],
        vmFlags: '',
      }),
    ],
  };

  it('writes MemoryMapDto with totals summed on the way, whatever the chunking', () => {
    const expected = {
      node: 'n1',
      view: 'XX',
      detail: 'smaps',
      range: { low: '0x400000', clip: false },
      header: {
        pid: 77,
        cmdline: '/bin/x --flag "quoted"',
        comm: 'x',
        startStack: '0x7ffc0000',
        kernelThread: false,
        uid: 1000,
        pageSize: 4096,
        readAt: '2026-01-02T00:00:00.000Z',
      },
      vmas: [
        {
          start: '0x400000',
          end: '0x403000',
          size: 12288,
          perms: 'r-xp',
          offset: '0x0',
          device: 'fd:01',
          inode: '9223372036854775808',
          name: '/usr/bin/x',
          kind: 'file',
          fields: { Size: 12288, Rss: 8192, Private_Dirty: 4096, Swap: 1024 },
          vmFlags: ['rd', 'ex', 'mr'],
        },
        {
          start: '0x600000',
          end: '0x603000',
          size: 12288,
          perms: 'rw-s',
          offset: '0x0',
          device: '00:00',
          inode: '0',
          name: '/SYSV0 (deleted)',
          kind: 'sysv_shm',
          shmId: '5',
          fields: { Size: 12288, Rss: '18014398509481984', THPeligible: 1 },
          vmFlags: ['rd', 'wr', 'sh'],
        },
        {
          start: '0x7f0000000000',
          end: '0x7f0000003000',
          size: 12288,
          perms: 'rw-p',
          offset: '0x0',
          device: '00:00',
          inode: '0',
          name: '',
          kind: 'thread_stack',
          threadId: 9,
          fields: { Size: 12288, Rss: 8192, Private_Dirty: 8192, Swap: 0 },
          vmFlags: [],
        },
      ],
      totals: {
        vmas: 3,
        size: 36864,
        writeablePrivate: 12288,
        shared: 12288,
        rss: '18014398509498368',
        pss: 0,
        dirty: 12288,
        swap: 1024,
        fields: {
          Size: 36864,
          Rss: '18014398509498368',
          Private_Dirty: 12288,
          Swap: 1024,
        },
      },
    };
    for (const per of [1, 2, 3]) {
      const w = new MapJsonWriter({
        node: 'n1',
        view: 'XX',
        detail: 'smaps',
        range: { low: 0x400000n },
      });
      const text = write(w, chunks(map, per));
      expect(JSON.parse(text)).toEqual(expected);
      // Key order as JSON.stringify of the DTO writes it.
      expect(text).toBe(JSON.stringify(expected));
    }
  });

  it('maps level: no fields, no smaps totals, an empty map is an empty list', () => {
    const plain: MemoryMap = {
      header,
      vmas: map.vmas.map((v) => ({ ...v, fields: undefined, vmFlags: undefined })),
    };
    const w = new MapJsonWriter({ node: 'n1', view: 'default', detail: 'maps' });
    const j = JSON.parse(write(w, chunks(plain, 2))) as {
      range: null;
      vmas: object[];
      totals: object;
    };
    expect(j.range).toBeNull();
    expect(j.vmas[0]).not.toHaveProperty('fields');
    expect(j.vmas[0]).not.toHaveProperty('vmFlags');
    expect(j.totals).toEqual({ vmas: 3, size: 36864, writeablePrivate: 12288, shared: 12288 });
    const empty = new MapJsonWriter({ node: 'n1', view: 'default', detail: 'maps' });
    const e = JSON.parse(write(empty, chunks({ header, vmas: [] }, 5))) as { vmas: object[] };
    expect(e.vmas).toEqual([]);
  });

  it('VE maps: notProvided, veNode, VEOS flags and the links to the host side', () => {
    const w = new MapJsonWriter({ node: 've-host', view: 'default', detail: 'smaps' });
    const j = JSON.parse(write(w, chunks(VE_DGEMM_MAP, 4))) as {
      vmas: { notProvided?: string[]; vmFlags?: string[] }[];
      totals: { vmas: number };
      links: { hostProcess: string; both: string };
    };
    expect(j.vmas).toHaveLength(VE_DGEMM_MAP.vmas.length);
    expect(j.totals.vmas).toBe(VE_DGEMM_MAP.vmas.length);
    expect(j.vmas[0].notProvided).toEqual(VE_DGEMM_MAP.vmas[0].notProvided);
    for (const v of j.vmas) expect(v.vmFlags).not.toContain('');
    expect(j.links.hostProcess).toBe(`/v1/nodes/ve-host/processes/${VE_DGEMM_MAP.header.pid}/maps`);
  });

  it('estimates at least MIN_VMA_JSON_BYTES per VMA, never more than the JSON takes', () => {
    const minimal: MemoryMap = { header, vmas: [vma(0n, { end: 0n })] };
    const w = new MapJsonWriter({ node: 'n', view: 'default', detail: 'maps' });
    const cs = chunks(minimal, 1);
    expect(w.minBytes(cs[0])).toBe(MIN_VMA_JSON_BYTES);
    const text = write(w, cs);
    const vmaJson = JSON.stringify((JSON.parse(text) as { vmas: object[] }).vmas[0]);
    expect(vmaJson.length).toBeGreaterThanOrEqual(MIN_VMA_JSON_BYTES);
  });
});
