import { PmapError } from '@app/domain';
import {
  decodeVeMapinfo,
  decodeVeMapinfoFile,
  VE_FIELD_LAYOUT,
  VE_MAPINFO_SIZE,
  VE_NOT_PROVIDED,
  veVmaKind,
} from './mapinfo';

/** One struct ve_mapinfo as VEOS writes it (x86_64 layout, written field by field here). */
interface Rec {
  start: bigint;
  end: bigint;
  perms: string;
  offset: bigint;
  inode: bigint;
  major: number;
  minor: number;
  desc: string;
  nums: bigint[]; // size rss pss shared_dirty private_dirty shared_clean private_clean referenced
  // anonymous anon_hugepage swap mmu_pagesize locked pagesize (struct order)
  vmflags: string;
}

function record(r: Rec): Buffer {
  const b = Buffer.alloc(400, 0);
  b.writeBigUInt64LE(r.start, 0);
  b.writeBigUInt64LE(r.end, 8);
  b.write(r.perms, 16, 32, 'latin1');
  b.writeBigUInt64LE(r.offset, 48);
  b.writeBigUInt64LE(r.inode, 56);
  b.writeUInt32LE(r.major, 64);
  b.writeUInt32LE(r.minor, 68);
  b.write(r.desc, 72, 128, 'utf8');
  r.nums.forEach((n, i) => b.writeBigUInt64LE(n, 200 + 8 * i));
  b.write(r.vmflags, 312, 81, 'latin1');
  // bytes 393..399: padding — fill with garbage to prove it is ignored
  b.fill(0xee, 393, 400);
  return b;
}

const dgemmText: Rec = {
  start: 0x600000000000n,
  end: 0x600004000000n,
  perms: 'r-xp',
  offset: 0n,
  inode: 1618700757n,
  major: 0xfd,
  minor: 2,
  desc: '/home/focht/Tests/samples/dgemm',
  //     size    rss     pss     sd  pd  sc  pc  ref anon ahp    swap mmu    locked pagesize
  nums: [65536n, 65536n, 65536n, 0n, 0n, 0n, 0n, 0n, 0n, 65536n, 0n, 65536n, 0n, 65536n],
  vmflags: 'rd ex mr mw me ht ',
};

describe('struct ve_mapinfo decoding', () => {
  it('is 400 bytes per record', () => {
    expect(VE_MAPINFO_SIZE).toBe(400);
  });

  it('decodes every member of a record', () => {
    const v = decodeVeMapinfo(record(dgemmText));
    expect(v.start).toBe(0x600000000000n);
    expect(v.end).toBe(0x600004000000n);
    expect(v.perms).toBe('r-xp');
    expect(v.offset).toBe(0n);
    expect(v.inode).toBe(1618700757n);
    expect(v.devMajor).toBe(0xfd);
    expect(v.devMinor).toBe(2);
    expect(v.name).toBe('/home/focht/Tests/samples/dgemm');
    expect(v.kind).toBe('file');
    expect(v.vmFlags).toBe('rd ex mr mw me ht ');
    expect(v.fields).toEqual([
      { name: 'Size', value: 65536n, kb: true },
      { name: 'Rss', value: 65536n, kb: true },
      { name: 'Pss', value: 65536n, kb: true },
      { name: 'Shared_Clean', value: 0n, kb: true },
      { name: 'Shared_Dirty', value: 0n, kb: true },
      { name: 'Private_Clean', value: 0n, kb: true },
      { name: 'Private_Dirty', value: 0n, kb: true },
      { name: 'Referenced', value: 0n, kb: true },
      { name: 'Anonymous', value: 0n, kb: true },
      { name: 'AnonHugePages', value: 65536n, kb: true },
      { name: 'Swap', value: 0n, kb: true },
      { name: 'KernelPageSize', value: 65536n, kb: true },
      { name: 'MMUPageSize', value: 65536n, kb: true },
      { name: 'Locked', value: 0n, kb: true },
    ]);
    expect(v.notProvided).toEqual([
      'Shared_Clean',
      'Shared_Dirty',
      'Private_Clean',
      'Private_Dirty',
      'Referenced',
      'Swap',
      'Locked',
    ]);
  });

  it('takes each figure from its own offset (distinct values in every slot)', () => {
    // struct order: size rss pss shared_dirty private_dirty shared_clean private_clean referenced
    // anonymous anon_hugepage swap mmu_pagesize locked pagesize
    const nums = Array.from({ length: 14 }, (_, i) => BigInt(1000 + i));
    const v = decodeVeMapinfo(record({ ...dgemmText, nums }));
    const byName = new Map(v.fields!.map((f) => [f.name, f.value]));
    expect(byName.get('Size')).toBe(1000n);
    expect(byName.get('Rss')).toBe(1001n);
    expect(byName.get('Pss')).toBe(1002n);
    expect(byName.get('Shared_Dirty')).toBe(1003n);
    expect(byName.get('Private_Dirty')).toBe(1004n);
    expect(byName.get('Shared_Clean')).toBe(1005n);
    expect(byName.get('Private_Clean')).toBe(1006n);
    expect(byName.get('Referenced')).toBe(1007n);
    expect(byName.get('Anonymous')).toBe(1008n);
    expect(byName.get('AnonHugePages')).toBe(1009n);
    expect(byName.get('Swap')).toBe(1010n);
    expect(byName.get('MMUPageSize')).toBe(1011n);
    expect(byName.get('Locked')).toBe(1012n);
    expect(byName.get('KernelPageSize')).toBe(1013n);
    // and the -XX column order
    expect(v.fields!.map((f) => f.name)).toEqual(VE_FIELD_LAYOUT.map((f) => f.name));
  });

  it('keeps 64-bit values exact', () => {
    const v = decodeVeMapinfo(
      record({ ...dgemmText, start: 0xfffffffffffff000n, end: 0xffffffffffffffffn }),
    );
    expect(v.start).toBe(0xfffffffffffff000n);
    expect(v.end).toBe(0xffffffffffffffffn);
  });

  it('stops names at the array end when VEOS filled all 128 bytes', () => {
    const long = '/' + 'x'.repeat(140);
    const b = record({ ...dgemmText, desc: long });
    const v = decodeVeMapinfo(b);
    expect(v.name).toBe(long.slice(0, 128));
    expect(v.perms).toBe('r-xp');
  });

  it('classifies VE names', () => {
    expect(veVmaKind('[anon]')).toBe('anon');
    expect(veVmaKind('[stack]')).toBe('stack');
    expect(veVmaKind('[heap]')).toBe('heap');
    expect(veVmaKind('/opt/nec/ve/musl/lib/libc.so')).toBe('file');
    expect(veVmaKind('/tmp/x (deleted)')).toBe('deleted_file');
    expect(veVmaKind('')).toBe('anon');
    expect(veVmaKind('[vdso]')).toBe('other');
    const stack = decodeVeMapinfo(record({ ...dgemmText, desc: '[stack]', perms: '-w-p' }));
    expect(stack.kind).toBe('stack');
    expect(stack.perms).toBe('-w-p');
  });

  it('decodes a file of records at their offsets and sets veNode', () => {
    const second = record({
      ...dgemmText,
      start: 0x7f3ec0400000n,
      end: 0x7f3ec0600000n,
      perms: 'rw-p',
      offset: 0x200000n,
      desc: '/opt/nec/ve/musl/lib/libc.so',
      vmflags: 'rd wr mr mw me ',
    });
    const vmas = decodeVeMapinfoFile(Buffer.concat([record(dgemmText), second]), 2, 3);
    expect(vmas).toHaveLength(2);
    expect(vmas[1].start).toBe(0x7f3ec0400000n);
    expect(vmas[1].offset).toBe(0x200000n);
    expect(vmas[1].vmFlags).toBe('rd wr mr mw me ');
    expect(vmas.every((v) => v.veNode === 3)).toBe(true);
  });

  it('fails on a file shorter than the announced record count', () => {
    const buf = Buffer.concat([record(dgemmText), Buffer.alloc(399)]);
    expect(() => decodeVeMapinfoFile(buf, 2)).toThrow(PmapError);
    expect(() => decodeVeMapinfoFile(buf, 2)).toThrow(/announced 2 records/);
    expect(decodeVeMapinfoFile(buf, 1)).toHaveLength(1);
    expect(decodeVeMapinfoFile(Buffer.alloc(0), 0)).toEqual([]);
  });

  it('names only fields VEOS never fills as not provided', () => {
    expect(VE_NOT_PROVIDED).not.toContain('Rss');
    expect(VE_NOT_PROVIDED).not.toContain('AnonHugePages');
    for (const n of VE_NOT_PROVIDED) expect(VE_FIELD_LAYOUT.map((f) => f.name)).toContain(n);
  });
});
