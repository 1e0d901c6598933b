import { vmaOverlaps, type MemoryMap, type SmapsField } from '@app/domain';
import { extendedMappingName, pmapFirstLine } from './names';
import { fieldIndex, PmapRowRenderer, type PmapRowMode } from './procps-rows';
import { ByteOut, dec, equalsRun, zeroPad } from './text';
import type { PmapRenderOptions } from './types';

/**
 * procps-ng pmap, byte for byte (the 4.0.2 layout, with the defects fixed upstream also fixed
 * here: -X/-XX honour -A, and every footer totals exactly the printed VMAs).
 */
export function renderPmap(map: MemoryMap, opts: PmapRenderOptions): string {
  return renderPmapOut(map, opts).toString();
}

/** renderPmap as UTF-8 bytes (no string made: what an agent streams). */
export function renderPmapBytes(map: MemoryMap, opts: PmapRenderOptions): Buffer {
  return renderPmapOut(map, opts).bytes();
}

function renderPmapOut(map: MemoryMap, opts: PmapRenderOptions): ByteOut {
  switch (opts.mode) {
    case 'default':
    case 'x':
    case 'd':
      return renderRows(map, { ...opts, mode: opts.mode });
    case 'X':
    case 'XX':
      return renderSmapsColumns(map, opts);
  }
}

/** Plain, -x, -d: the row renderer over every VMA. */
function renderRows(map: MemoryMap, opts: PmapRenderOptions & { mode: PmapRowMode }): ByteOut {
  const rows = new PmapRowRenderer(map.header, opts, map.vmas.length);
  for (const v of map.vmas) rows.row(v);
  return rows.finish();
}

function fieldValue(fields: SmapsField[] | undefined, name: string, hint: number): bigint {
  if (!fields) return 0n;
  const i = fieldIndex(fields, name, hint);
  return i < 0 ? 0n : fields[i].value;
}

/** smaps fields hidden by -X (shown by -XX). */
const X_HIDDEN = new Set([
  'AnonHugePages',
  'KernelPageSize',
  'MMUPageSize',
  'Shared_Dirty',
  'Private_Dirty',
  'Shared_Clean',
  'Private_Clean',
]);

/** Digits of a non-negative integer as printf "%lu" prints it (0 has one digit). */
function digits(v: number): number {
  let d = 1;
  while (v >= 10) {
    v = Math.floor(v / 10);
    d++;
  }
  return d;
}

/** Characters of "%0*lx" of v: its hex digits, at least `min`. */
function hexWidth(v: bigint, min: number): number {
  let d = 1;
  if (v < 9007199254740992n) {
    for (let t = Number(v); t >= 16; t = Math.floor(t / 16)) d++;
  } else d = v.toString(16).length;
  return d > min ? d : min;
}

/** smaps "%02x:%02x". */
function devString(major: number, minor: number): string {
  if (major === 0 && minor === 0) return '00:00';
  return zeroPad(major.toString(16), 2) + ':' + zeroPad(minor.toString(16), 2);
}

/**
 * -X / -XX (procps print_extended_maps): Address Perm Offset Device Inode, the smaps fields in the
 * kernel's order, VmFlags (-XX), Mapping. Widths: the five leading columns and VmFlags from the
 * longest value over ALL VMAs (procps measures before filtering), at least the header unless -q;
 * each field column max(header, digits of the range's total) or, with -q, its longest in-range value.
 */
function renderSmapsColumns(map: MemoryMap, opts: PmapRenderOptions): ByteOut {
  const header = pmapFirstLine(map.header);
  const all = map.vmas;
  const quiet = !!opts.quiet;
  const xx = opts.mode === 'XX';
  const r = opts.range;
  const ranged = !!r && (r.low !== undefined || r.high !== undefined);

  // Column set: the first VMA that has fields (procps builds its list from the first mapping).
  let columns: string[] = [];
  for (const v of all) {
    if (v.fields && v.fields.length > 0) {
      columns = v.fields.map((f) => f.name);
      break;
    }
  }
  const colIdx: number[] = []; // position in the kernel's field list of each shown column
  const colNames: string[] = [];
  for (let i = 0; i < columns.length; i++) {
    if (!xx && X_HIDDEN.has(columns[i])) continue;
    colIdx.push(i);
    colNames.push(columns[i]);
  }
  const ncol = colIdx.length;
  // Cell values as doubles (kB figures, far below 2^53), one flat array: no BigInt in the hot loop.
  const totals = new Float64Array(ncol);
  const maxVal = new Float64Array(ncol);

  // Pass 1: raw strings, widths, totals.
  const n = all.length;
  const vals = new Float64Array(n * ncol);
  // Hex columns are written from the numbers in pass 2: only their widths here.
  const addrLen = new Uint8Array(n);
  const offLen = new Uint8Array(n);
  const devS = new Array<string>(n);
  const devCache = new Map<number, string>();
  const inoS = new Array<string>(n);
  const flagS = new Array<string>(n);
  const inRange = new Uint8Array(n);
  let w1 = 0;
  let w2 = 0;
  let w3 = 0;
  let w4 = 0;
  let w5 = 0;
  let wv = 0;
  let hasFlags = false;
  for (let k = 0; k < n; k++) {
    const v = all[k];
    const a = hexWidth(v.start, 8);
    const o = hexWidth(v.offset, 8);
    const devKey = v.devMajor * 0x100000 + v.devMinor;
    let d = devCache.get(devKey);
    if (d === undefined) {
      d = devString(v.devMajor, v.devMinor);
      devCache.set(devKey, d);
    }
    const ino = dec(v.inode);
    addrLen[k] = a;
    offLen[k] = o;
    devS[k] = d;
    inoS[k] = ino;
    if (a > w1) w1 = a;
    if (v.perms.length > w2) w2 = v.perms.length;
    if (o > w3) w3 = o;
    if (d.length > w4) w4 = d.length;
    if (ino.length > w5) w5 = ino.length;
    const fl = v.vmFlags;
    if (fl !== undefined && v.fields !== undefined) {
      hasFlags = true;
      const t = fl.length > 0 && fl.charCodeAt(fl.length - 1) === 32 ? fl.trimEnd() : fl;
      flagS[k] = t;
      if (t.length > wv) wv = t.length;
    } else {
      flagS[k] = '';
    }
    const sel = !ranged || vmaOverlaps(v, r);
    inRange[k] = sel ? 1 : 0;
    const f = v.fields;
    if (!f) continue;
    const base = k * ncol;
    for (let c = 0; c < ncol; c++) {
      const i = colIdx[c];
      const fi = i < f.length ? f[i] : undefined;
      const val = Number(
        fi !== undefined && fi.name === colNames[c] ? fi.value : fieldValue(f, colNames[c], -1),
      );
      vals[base + c] = val;
      if (sel) {
        totals[c] += val;
        if (val > maxVal[c]) maxVal[c] = val;
      }
    }
  }
  const widths: number[] = new Array<number>(ncol);
  for (let c = 0; c < ncol; c++) {
    widths[c] = quiet ? digits(maxVal[c]) : Math.max(colNames[c].length, digits(totals[c]));
  }
  const showFlags = xx && hasFlags;

  if (n === 0) {
    const only = new ByteOut(header.length * 3);
    only.text(header);
    return only;
  }
  let rowLen = 64 + (xx ? 24 : 0);
  for (let c = 0; c < ncol; c++) rowLen += widths[c] + 1;
  const out = new ByteOut(256 + header.length * 2 + n * rowLen);
  out.text(header);
  if (!quiet) {
    // Header line (procps justify_print: each right-justified then a space; "Mapping" last).
    w1 = Math.max(w1, 7);
    w2 = Math.max(w2, 4);
    w3 = Math.max(w3, 6);
    w4 = Math.max(w4, 6);
    w5 = Math.max(w5, 5);
    out.right('Address', w1);
    out.byte(32);
    out.right('Perm', w2);
    out.byte(32);
    out.right('Offset', w3);
    out.byte(32);
    out.right('Device', w4);
    out.byte(32);
    out.right('Inode', w5);
    out.byte(32);
    for (let c = 0; c < ncol; c++) {
      out.right(colNames[c], widths[c]);
      out.byte(32);
    }
    if (showFlags) {
      wv = Math.max(wv, 7);
      out.right('VmFlags', wv);
      out.byte(32);
    }
    out.text('Mapping\n');
  }

  const showPath = opts.showPath;
  for (let k = 0; k < n; k++) {
    if (!inRange[k]) continue;
    const v = all[k];
    out.spaces(w1 - addrLen[k]);
    out.hex(v.start, 8);
    out.byte(32);
    out.right(v.perms, w2);
    out.byte(32);
    out.spaces(w3 - offLen[k]);
    out.hex(v.offset, 8);
    out.byte(32);
    out.right(devS[k], w4);
    out.byte(32);
    out.right(inoS[k], w5);
    const base = k * ncol;
    for (let c = 0; c < ncol; c++) {
      out.byte(32);
      out.num(vals[base + c], widths[c]);
    }
    if (showFlags) {
      out.byte(32);
      out.right(flagS[k], wv);
    }
    out.byte(32);
    out.text(extendedMappingName(v.name, showPath));
    out.byte(10);
  }

  if (!quiet && ncol > 0) {
    const gap = w1 + w2 + w3 + w4 + w5 + 5;
    out.spaces(gap);
    for (let c = 0; c < ncol; c++) {
      out.text(equalsRun(widths[c]));
      out.byte(32);
    }
    out.byte(10);
    out.spaces(gap);
    for (let c = 0; c < ncol; c++) {
      out.num(totals[c], widths[c]);
      out.byte(32);
    }
    out.text('KB \n');
  }
  return out;
}
