/**
 * test/fixtures/layouts.c: a process with known memory layouts (which pages of which region it
 * touches), and the expected histogram values computed independently of the histogram library —
 * from the layout definition or from raw pagemap reads.
 *
 *   const l = await spawnLayouts();          // stopped (state T): its snapshot is stable
 *   regionOrders(l.regions.sparse!, 'sparse');
 *   expectedPhysical(rawPagemapEntries(l.pid, r.start, r.pages));
 *   await killAndReap(l.child);
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { fixtureBinary, killAndReap, waitForJsonLine, waitForState } from './processes';

export const PS = 4096;

export interface Region {
  start: bigint;
  pages: number;
}

/** Which pages (offsets) of each region layouts.c touches: the layout definition, repeated here. */
export const TOUCHED: Record<string, (i: number) => boolean> = {
  full: () => true,
  alternate: (i) => i % 2 === 0,
  sparse: (i) => (i >= 1 && i <= 3) || (i >= 8 && i < 16) || i === 17 || i >= 32,
  blocks: (i) => i !== 1023,
  thp: () => true,
  unaligned: () => true,
  file: () => true,
  memfd: () => true,
  reserve: () => false,
};

/** Every region of layouts.c, in its order. */
export const LAYOUT = Object.keys(TOUCHED);

/** The regions of plain 4 KiB anonymous pages. */
export const ANON_4K = ['full', 'alternate', 'sparse', 'blocks', 'unaligned'];

/** Presence of each page of a region per the layout definition. */
export function touchedPages(name: string, pages: number): boolean[] {
  return Array.from({ length: pages }, (_, i) => TOUCHED[name](i));
}

export function touchedCount(name: string, pages: number): number {
  return touchedPages(name, pages).filter(Boolean).length;
}

export interface Layouts {
  child: ChildProcess;
  pid: number;
  regions: Record<string, Region | null>;
}

/**
 * Starts layouts.c (under `wrapper`, e.g. setpriv, when given) and resolves once it has stopped
 * itself, with the regions it printed.
 */
export async function spawnLayouts(wrapper: string[] = []): Promise<Layouts> {
  const [cmd, ...args] = [...wrapper, fixtureBinary('layouts')];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const info = await waitForJsonLine<{
      pid: number;
      regions: Record<string, { start: string; pages: number } | null>;
    }>(child, 'stdout', (o) => typeof o.pid === 'number');
    const regions: Record<string, Region | null> = {};
    for (const [k, v] of Object.entries(info.regions))
      regions[k] = v && { start: BigInt(v.start), pages: v.pages };
    await waitForState(info.pid, 'T');
    return { child, pid: info.pid, regions };
  } catch (e) {
    await killAndReap(child);
    throw e;
  }
}

/** Raw pagemap entries of [start, start + pages) of pid, read independently (root: PFNs visible). */
export function rawPagemapEntries(pid: number, start: bigint, pages: number): bigint[] {
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  try {
    const buf = Buffer.alloc(pages * 8);
    const got = readSync(fd, buf, 0, buf.length, Number(start / BigInt(PS)) * 8);
    const out: bigint[] = [];
    for (let i = 0; i < got / 8; i++) out.push(buf.readBigUInt64LE(i * 8));
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Correct (or mem_hist.py's) order histogram by brute force over a presence array. */
export function ordersFromPresence(
  present: boolean[],
  startPage: number,
  maxOrder: number,
  memhist = false,
): number[] {
  const hist = new Array<number>(maxOrder + 1).fill(0);
  const end = startPage + present.length;
  for (let order = 0; order <= maxOrder; order++) {
    const size = 2 ** order;
    const first = memhist
      ? Math.floor(startPage / size) * size + size
      : Math.ceil(startPage / size) * size;
    for (let b = first; b + size <= end; b += size) {
      let all = true;
      for (let p = b; p < b + size && all; p++) all = present[p - startPage];
      if (all) {
        hist[order]++;
        if (order > 0) hist[order - 1] -= 2;
      }
    }
  }
  return hist;
}

/** The order histogram of a whole region per the layout definition. */
export function regionOrders(r: Region, name: string, maxOrder = 9, memhist = false): number[] {
  return ordersFromPresence(
    touchedPages(name, r.pages),
    Number(r.start / BigInt(PS)),
    maxOrder,
    memhist,
  );
}

/**
 * Physical runs from raw entries per the documented definition (same category, PFN + 1), binned
 * as documented: 2M blocks, then the binary digits of the rest. Keys absent mean 0.
 */
export function expectedPhysical(entries: bigint[]): Map<string, number> {
  const bins = new Map<string, number>();
  const label = (pages: number): string =>
    pages >= 256 ? `${(pages * 4) / 1024}M` : `${pages * 4}K`;
  const add = (len: number, file: boolean): void => {
    const p = file ? 'FileCont' : 'AnonCont';
    const k = Math.floor(len / 512);
    if (k) bins.set(p + '2M', (bins.get(p + '2M') ?? 0) + k);
    let r = len % 512;
    for (let i = 0; r > 0; i++, r >>= 1) {
      if (r & 1) bins.set(p + label(1 << i), (bins.get(p + label(1 << i)) ?? 0) + 1);
    }
  };
  let len = 0;
  let file = false;
  let prev = -2n;
  for (const e of entries) {
    if (e >> 63n !== 1n) {
      if (len) add(len, file);
      len = 0;
      prev = -2n;
      continue;
    }
    const pfn = e & ((1n << 55n) - 1n);
    const f = ((e >> 61n) & 1n) === 1n;
    if (len && pfn === prev + 1n && f === file) len++;
    else {
      if (len) add(len, file);
      len = 1;
      file = f;
    }
    prev = pfn;
  }
  if (len) add(len, file);
  return bins;
}
