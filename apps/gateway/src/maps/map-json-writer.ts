/**
 * MemoryMapDto written incrementally from the compact GetMemoryMap wire: the opening
 * ({node, view, detail, range, header, "vmas":[) with the first chunk, each chunk's VMAs as they
 * arrive, then totals (summed while streaming) and links. The text is exactly
 * JSON.stringify(MemoryMapDto) of the same map (map-json-writer.spec.ts checks it against
 * toMemoryMapDto), so the OpenAPI DTO stays true.
 */
import type { AddressRange } from '@app/domain';
import { headerFromProto, kindFromProto, SmapsLayoutDecoder, type Vma } from '@app/proto';
import type { GetMemoryMapResponse, SmapsLayout } from '@app/proto';
import { addr, size, type JsonSize } from '../common/json';
import type { MapView } from './dto/maps-query.dto';
import type { MapTotalsDto } from './dto/memory-map.dto';
import { headerJson, rangeJson } from './map-json';
import type { MapBodyWriter } from './map-stream';
import { mapLinks } from './ve-maps';

const TWO_32 = 2 ** 32;
/** kB values below this become bytes as doubles exactly (2^43 * 1024 = 2^53). */
const KB_EXACT = 2 ** 43;
/** VMAs between flushes of the double accumulators (each add < 2^32: sums stay exact). */
const FLUSH_EVERY = 1 << 20;
/** The smallest JSON a VMA can take ({"start":"0x0",...,"kind":"anon"}), for the 413 estimate. */
export const MIN_VMA_JSON_BYTES = 110;

function jsonSize(v: JsonSize): string {
  return typeof v === 'number' ? String(v) : '"' + v + '"';
}

function hex2(n: number): string {
  return n < 16 ? '0' + n.toString(16) : n.toString(16);
}

/** One layout as the writer uses it: JSON keys ready, kB columns mapped to the totals. */
interface LayoutPlan {
  keys: string[];
  kb: boolean[];
  /** Per field: its index among the summed (kB) fields, -1 for the others. */
  sumIndex: number[];
}

export interface MapJsonContext {
  node: string;
  view: MapView;
  detail: 'maps' | 'smaps';
  range?: AddressRange;
}

export class MapJsonWriter implements MapBodyWriter {
  private readonly layouts = new SmapsLayoutDecoder();
  private readonly plans: (LayoutPlan | undefined)[] = [];
  private links = '';
  private first = true;
  private count = 0;
  private total = 0n;
  private writeablePrivate = 0n;
  private shared = 0n;
  /** The summed kB fields, by first appearance (the order totals.fields shows them). */
  private readonly sumNames: string[] = [];
  private readonly sumIndexByName = new Map<string, number>();
  /** Exact sums: bigint, plus doubles of small values flushed into them. */
  private sums: bigint[] = [];
  private small: number[] = [];
  private sinceFlush = 0;
  private readonly flagsJson = new Map<string, string>();

  constructor(private readonly ctx: MapJsonContext) {}

  minBytes(first: GetMemoryMapResponse): number {
    return first.totalVmas * MIN_VMA_JSON_BYTES;
  }

  chunk(c: GetMemoryMapResponse): string {
    let out = '';
    if (this.first) {
      this.first = false;
      const header = headerFromProto(c.header!);
      const links = mapLinks(this.ctx.node, { header, vmas: [] });
      if (links) this.links = ',"links":' + JSON.stringify(links);
      out =
        '{"node":' +
        JSON.stringify(this.ctx.node) +
        ',"view":' +
        JSON.stringify(this.ctx.view) +
        ',"detail":' +
        JSON.stringify(this.ctx.detail) +
        ',"range":' +
        JSON.stringify(rangeJson(this.ctx.range)) +
        ',"header":' +
        JSON.stringify(headerJson(header)) +
        ',"vmas":[';
    }
    this.layouts.add(c);
    for (const v of c.vmas) {
      out += (this.count === 0 ? '' : ',') + this.vma(v);
      this.count++;
    }
    return out;
  }

  end(): string {
    return '],"totals":' + JSON.stringify(this.totals()) + this.links + '}';
  }

  private plan(v: Vma, l: SmapsLayout): LayoutPlan {
    let p = this.plans[v.smapsLayout];
    if (p) return p;
    const sumIndex = l.names.map((name, i) => {
      if (!l.kb[i]) return -1;
      let k = this.sumIndexByName.get(name);
      if (k === undefined) {
        k = this.sumNames.length;
        this.sumNames.push(name);
        this.sumIndexByName.set(name, k);
        this.sums.push(0n);
        this.small.push(0);
      }
      return k;
    });
    p = { keys: l.names.map((n) => JSON.stringify(n) + ':'), kb: l.kb, sumIndex };
    this.plans[v.smapsLayout] = p;
    return p;
  }

  private vma(v: Vma): string {
    const bytes = v.end - v.start;
    this.total += bytes;
    const share = v.perms[3];
    if (share === 's') this.shared += bytes;
    else if (share === 'p' && v.perms[1] === 'w') this.writeablePrivate += bytes;
    let s =
      '{"start":"' +
      addr(v.start) +
      '","end":"' +
      addr(v.end) +
      '","size":' +
      jsonSize(size(bytes)) +
      ',"perms":' +
      JSON.stringify(v.perms) +
      ',"offset":"' +
      addr(v.offset) +
      '","device":"' +
      hex2(v.devMajor) +
      ':' +
      hex2(v.devMinor) +
      '","inode":"' +
      v.inode.toString() +
      '","name":' +
      JSON.stringify(v.name) +
      ',"kind":"' +
      kindFromProto(v.kind) +
      '"';
    if (v.shmId !== undefined) s += ',"shmId":"' + v.shmId.toString() + '"';
    if (v.threadId !== undefined) s += ',"threadId":' + String(v.threadId);
    const l = this.layouts.layout(v);
    if (l) {
      s += ',"fields":{' + this.fields(v, this.plan(v, l)) + '},"vmFlags":' + this.flags(v.vmFlags);
    }
    if (v.notProvided.length > 0) s += ',"notProvided":' + JSON.stringify(v.notProvided);
    if (v.veNode !== undefined) s += ',"veNode":' + String(v.veNode);
    return s + '}';
  }

  /** "Name":bytes,... (kB fields in bytes) and their sums. */
  private fields(v: Vma, p: LayoutPlan): string {
    const values = v.smapsValues;
    let s = '';
    for (let i = 0; i < values.length; i++) {
      const raw = values[i];
      const n = Number(raw);
      let text: string;
      if (p.kb[i]) {
        text = n < KB_EXACT ? String(n * 1024) : jsonSize(size(raw * 1024n));
        const k = p.sumIndex[i];
        if (n < TWO_32) this.small[k] += n;
        else this.sums[k] += raw;
      } else {
        text = jsonSize(size(raw));
      }
      s += (i === 0 ? '' : ',') + p.keys[i] + text;
    }
    if (++this.sinceFlush >= FLUSH_EVERY) this.flush();
    return s;
  }

  private flush(): void {
    for (let k = 0; k < this.small.length; k++) {
      if (this.small[k] !== 0) {
        this.sums[k] += BigInt(this.small[k]);
        this.small[k] = 0;
      }
    }
    this.sinceFlush = 0;
  }

  /** VmFlags codes as a JSON array (VEOS ends every flag with a space: no empty codes). */
  private flags(vmFlags: string): string {
    let j = this.flagsJson.get(vmFlags);
    if (j === undefined) {
      j = JSON.stringify(vmFlags.split(' ').filter((f) => f !== ''));
      if (this.flagsJson.size < 4096) this.flagsJson.set(vmFlags, j);
    }
    return j;
  }

  private totals(): MapTotalsDto {
    this.flush();
    const out: MapTotalsDto = {
      vmas: this.count,
      size: size(this.total),
      writeablePrivate: size(this.writeablePrivate),
      shared: size(this.shared),
    };
    if (this.ctx.detail === 'smaps') {
      const get = (name: string): bigint => {
        const k = this.sumIndexByName.get(name);
        return k === undefined ? 0n : this.sums[k] * 1024n;
      };
      out.rss = size(get('Rss'));
      out.pss = size(get('Pss'));
      out.dirty = size(get('Shared_Dirty') + get('Private_Dirty'));
      out.swap = size(get('Swap'));
      const all: Record<string, JsonSize> = {};
      for (const name of this.sumNames) all[name] = size(get(name));
      out.fields = all;
    }
    return out;
  }
}
