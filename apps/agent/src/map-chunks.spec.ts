import type { MemoryMap, Vma } from '@app/domain';
import { renderPmap, renderVePmap } from '@app/pmap-format';
import { GetMemoryMapResponse, PmapView, SmapsLayoutDecoder } from '@app/proto';
import { VE_DGEMM_MAP } from '../../../libs/pmap-format/src/testing/ve-fixtures';
import { serializeMemoryMapResponse, textChunks, vmaChunks } from './map-chunks';
import { renderText, textQuery } from './map-text';

const vma = (i: number): Vma => ({
  start: BigInt(0x10000 + i * 0x1000),
  end: BigInt(0x11000 + i * 0x1000),
  perms: 'rw-p',
  offset: 0n,
  devMajor: 0,
  devMinor: 0,
  inode: 0n,
  name: i % 2 ? '/opt/app/lib/libz.so' : '',
  kind: i % 2 ? 'file' : 'anon',
  fields: [
    { name: 'Size', value: 4n, kb: true },
    { name: 'Rss', value: BigInt(i % 5), kb: true },
    { name: 'Private_Dirty', value: 0n, kb: true },
  ],
  vmFlags: 'rd wr',
});

const map: MemoryMap = {
  header: {
    pid: 5,
    cmdline: '/opt/app/bin/app --x',
    comm: 'app',
    startStack: 0n,
    kernelThread: false,
    uid: 0,
    pageSize: 4096n,
  },
  vmas: Array.from({ length: 25 }, (_, i) => vma(i)),
};

describe('vmaChunks', () => {
  it('batches, header and total first, last flag and total last, layouts once', () => {
    const cs = [...vmaChunks(map, 10)];
    expect(cs.map((c) => c.vmas.length)).toEqual([10, 10, 5]);
    expect(cs.map((c) => c.header !== undefined)).toEqual([true, false, false]);
    expect(cs.map((c) => c.totalVmas)).toEqual([25, 0, 25]);
    expect(cs.map((c) => c.last)).toEqual([false, false, true]);
    expect(cs.map((c) => c.smapsLayouts.length)).toEqual([1, 0, 0]);
    const d = new SmapsLayoutDecoder();
    const back = cs.flatMap((c) => {
      d.add(c);
      return c.vmas.map((v) => d.toDomain(v));
    });
    expect(back).toEqual(map.vmas);
  });

  it('an empty map is one chunk: the header and last', () => {
    const cs = [...vmaChunks({ header: map.header, vmas: [] }, 10)];
    expect(cs).toHaveLength(1);
    expect(cs[0]).toMatchObject({ last: true, totalVmas: 0, vmas: [] });
    expect(cs[0].header?.pid).toBe(5);
  });
});

describe('textChunks and renderText', () => {
  it('cuts the rendered text in pieces that join to exactly what pmap prints', () => {
    const q = textQuery({ textView: PmapView.PMAP_VIEW_EXTENDED }, false)!;
    const text = renderText(map, q, undefined);
    expect(text.toString()).toBe(renderPmap(map, { mode: 'x' }));
    const cs = [...textChunks(map.header, map.vmas.length, text, 100)];
    expect(cs.length).toBe(Math.ceil(text.length / 100));
    expect(Buffer.concat(cs.map((c) => c.text)).equals(text)).toBe(true);
    expect(cs[0].textBytes).toBe(BigInt(text.length));
    expect(cs.slice(1).every((c) => c.textBytes === 0n && c.header === undefined)).toBe(true);
    expect(cs.map((c) => c.last)).toEqual(cs.map((_, i) => i === cs.length - 1));
  });

  it('renders every procps view with its flags, illumos, and the VE pmap for VE maps', () => {
    const views: [PmapView, string][] = [
      [PmapView.PMAP_VIEW_DEFAULT, renderPmap(map, { mode: 'default', quiet: true })],
      [PmapView.PMAP_VIEW_SMAPS, renderPmap(map, { mode: 'X', quiet: true })],
      [PmapView.PMAP_VIEW_SMAPS_ALL, renderPmap(map, { mode: 'XX', quiet: true })],
      [PmapView.PMAP_VIEW_DEVICE, renderPmap(map, { mode: 'd', quiet: true })],
    ];
    for (const [view, expected] of views) {
      const q = textQuery({ textView: view, quiet: true }, false)!;
      expect(renderText(map, q, undefined).toString()).toBe(expected);
    }
    const p = textQuery({ textView: PmapView.PMAP_VIEW_DEFAULT, showPath: true }, false)!;
    expect(renderText(map, p, undefined).toString()).toContain('/opt/app/lib/libz.so');
    const il = textQuery({ textView: PmapView.PMAP_VIEW_ILLUMOS }, false)!;
    expect(renderText(map, il, undefined).toString()).toMatch(/^5:\s+\/opt\/app\/bin\/app --x\n/);
    const ve = textQuery({ textView: PmapView.PMAP_VIEW_SMAPS_ALL }, true)!;
    expect(renderText(VE_DGEMM_MAP, ve, undefined).toString()).toBe(
      renderVePmap(VE_DGEMM_MAP, { mode: 'XX' }),
    );
  });

  it('refuses unknown views and views a VE process does not have', () => {
    expect(textQuery({}, false)).toBeUndefined();
    expect(() => textQuery({ textView: 99 as PmapView }, false)).toThrow(/text_view: unknown/);
    expect(() => textQuery({ textView: PmapView.PMAP_VIEW_EXTENDED }, true)).toThrow(
      /text_view: a VE process/,
    );
  });
});

describe('serializeMemoryMapResponse', () => {
  const generated = (m: GetMemoryMapResponse): Buffer =>
    Buffer.from(GetMemoryMapResponse.encode(m).finish());

  it('encodes text chunks to the bytes the generated encoder makes (one copy of the text)', () => {
    const text = Buffer.alloc(300_000);
    for (let i = 0; i < text.length; i++) text[i] = 32 + (i % 90);
    const cases = [
      ...textChunks(map.header, 30_041, text, 100_000),
      ...textChunks(map.header, 3, text.subarray(0, 127)),
      ...textChunks(map.header, 0, text.subarray(0, 128)),
      ...textChunks(map.header, 2 ** 31, text.subarray(0, 16_384), 16_383),
    ];
    expect(cases.length).toBe(3 + 1 + 1 + 2);
    for (const m of cases) {
      const got = serializeMemoryMapResponse(m);
      expect(got.equals(generated(m))).toBe(true);
      const back = GetMemoryMapResponse.decode(got);
      expect(Buffer.from(back.text).equals(Buffer.from(m.text))).toBe(true);
      expect([back.last, back.totalVmas, back.textBytes]).toEqual([
        m.last,
        m.totalVmas,
        m.textBytes,
      ]);
      expect(back.header?.pid).toBe(m.header?.pid);
    }
    // an empty chunk: no field at all but what is set
    const empty = {
      ...cases[1],
      header: undefined,
      text: Buffer.alloc(0),
      textBytes: 0n,
      totalVmas: 0,
    };
    expect(serializeMemoryMapResponse(empty).equals(generated(empty))).toBe(true);
  });

  it('chunks of VMAs go through the generated encoder', () => {
    for (const m of vmaChunks(map, 2)) {
      expect(serializeMemoryMapResponse(m).equals(generated(m))).toBe(true);
    }
  });
});
