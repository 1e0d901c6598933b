/**
 * The compact GetMemoryMap wire (docs/wire.md): smaps figures travel as packed numbers per VMA
 * (`smaps_values`) under a field layout (`smaps_layout`, names and kB flags) sent once per stream
 * in `smaps_layouts`, instead of a {name, value, kb} message per field per VMA. WatchMemoryMap
 * keeps `fields` (vmaToProto).
 *
 * The encoder (agent) numbers layouts in the order it first sends them; the decoder (gateway)
 * appends each chunk's `smaps_layouts` before reading the chunk's VMAs.
 */
import type { SmapsField as DomainField, Vma as DomainVma } from '@app/domain';
import { vmaFromProto, vmaToProto } from './convert';
import type { GetMemoryMapResponse, SmapsLayout, Vma } from './gen/pmap/v1/pmap';

/** Interns the smaps field layouts of one stream and encodes VMAs against them. */
export class SmapsLayoutEncoder {
  private readonly ids = new Map<string, number>();
  private readonly layouts: SmapsLayout[] = [];
  private pending: SmapsLayout[] = [];
  private last = -1;

  /** The layout id of `fields`, interning a new layout when none matches. */
  private layoutOf(fields: DomainField[]): number {
    if (this.last >= 0 && sameLayout(this.layouts[this.last], fields)) return this.last;
    let key = '';
    for (const f of fields) key += (f.kb ? '1' : '0') + f.name + '\n';
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.layouts.length;
      const layout: SmapsLayout = { names: fields.map((f) => f.name), kb: fields.map((f) => f.kb) };
      this.layouts.push(layout);
      this.pending.push(layout);
      this.ids.set(key, id);
    }
    this.last = id;
    return id;
  }

  /** A domain VMA as a compact proto VMA (its layout queued for the next takeLayouts()). */
  encode(v: DomainVma): Vma {
    const f = v.fields;
    if (!f) return vmaToProto(v);
    const values = new Array<bigint>(f.length);
    for (let i = 0; i < f.length; i++) values[i] = f[i].value;
    return vmaToProto(v, { layout: this.layoutOf(f), values });
  }

  /** The layouts first used since the last call (to send with the chunk of those VMAs). */
  takeLayouts(): SmapsLayout[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }
}

function sameLayout(l: SmapsLayout, fields: DomainField[]): boolean {
  const n = l.names.length;
  if (n !== fields.length) return false;
  for (let i = 0; i < n; i++) {
    const f = fields[i];
    if (f.name !== l.names[i] || f.kb !== l.kb[i]) return false;
  }
  return true;
}

/** A chunk named a layout it never sent, or a VMA's values do not fit its layout. */
export class MapWireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MapWireError';
  }
}

/** The layouts of one GetMemoryMap stream, as its chunks arrive. */
export class SmapsLayoutDecoder {
  private readonly layouts: SmapsLayout[] = [];

  /** Takes a chunk's new layouts (call before reading its VMAs). */
  add(chunk: Pick<GetMemoryMapResponse, 'smapsLayouts'>): void {
    for (const l of chunk.smapsLayouts) {
      if (l.kb.length !== l.names.length) {
        throw new MapWireError(
          `smaps layout ${this.layouts.length}: ${l.names.length} names, ${l.kb.length} kB flags`,
        );
      }
      this.layouts.push(l);
    }
  }

  /** The layout of a compact VMA (checked against its values), undefined without smaps. */
  layout(v: Vma): SmapsLayout | undefined {
    if (!v.hasSmaps) return undefined;
    const l = this.layouts[v.smapsLayout];
    if (l === undefined) throw new MapWireError(`unknown smaps layout ${v.smapsLayout}`);
    if (l.names.length !== v.smapsValues.length) {
      throw new MapWireError(
        `smaps layout ${v.smapsLayout} has ${l.names.length} fields, the VMA ${v.smapsValues.length} values`,
      );
    }
    return l;
  }

  /** The smaps fields of a compact VMA as {name, value, kb} (what vmaFromProto reads). */
  fields(v: Vma): DomainField[] | undefined {
    const l = this.layout(v);
    if (!l) return undefined;
    const n = l.names.length;
    const out = new Array<DomainField>(n);
    for (let i = 0; i < n; i++) out[i] = { name: l.names[i], value: v.smapsValues[i], kb: l.kb[i] };
    return out;
  }

  /** A compact proto VMA as a domain VMA. */
  toDomain(v: Vma): DomainVma {
    const out = vmaFromProto(v);
    const f = this.fields(v);
    if (f) out.fields = f;
    return out;
  }

  /** Fills a compact VMA's `fields` (the WatchMemoryMap form) in place, for readers of `fields`. */
  expand(v: Vma): Vma {
    const f = this.fields(v);
    if (f) v.fields = f;
    return v;
  }
}

/** Every VMA of a collected stream with `fields` filled in (callers that read `fields`). */
export function expandMapChunks(chunks: GetMemoryMapResponse[]): GetMemoryMapResponse[] {
  const d = new SmapsLayoutDecoder();
  for (const c of chunks) {
    d.add(c);
    for (const v of c.vmas) d.expand(v);
  }
  return chunks;
}
