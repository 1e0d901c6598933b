/**
 * PagemapReader: /proc/PID/pagemap opened once per request, read either through the PAGEMAP_SCAN
 * ioctl (runs of populated pages, no per-page work for holes) or by positioned reads in large
 * chunks into one reused buffer. Entries are looked at as two Uint32 halves: no BigInt per page.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { PmapError } from '@app/domain';
import { exited, procError } from '../errors';
import {
  bufferAddress,
  libc,
  PAGE_IS_FILE,
  PAGE_IS_HUGE,
  PAGE_IS_PRESENT,
  PAGE_IS_SWAPPED,
  PAGE_REGION_SIZE,
  PAGEMAP_SCAN,
  PM_SCAN_ARG_SIZE,
} from './native';

/** High 32 bits of a pagemap entry. */
export const PM_HI_PRESENT = 0x80000000;
export const PM_HI_SWAPPED = 0x40000000;
export const PM_HI_FILE = 0x20000000;
/** PFN bits 32..54 in the high half. */
export const PM_HI_PFN_MASK = 0x7fffff;

const TWO32 = 4294967296;
/** Addresses at or above this are not user space ([vsyscall]): pagemap reads return nothing. */
const USER_LIMIT_PAGE_BYTES = 0x8000000000000000n;

export interface PagemapReaderOptions {
  procRoot?: string;
  /** Bytes (default 4096). */
  pageSize?: number;
  /** Use PAGEMAP_SCAN when available (default true). */
  useScan?: boolean;
  /** Entries per positioned read (default 32768 = 256 KiB). */
  chunkEntries?: number;
  /** Regions per PAGEMAP_SCAN call (default 4096). */
  scanRegions?: number;
  /** Called between chunks; throw to stop. */
  check?: () => void;
}

/** Called per run of pages [startPage, endPage) with PAGE_IS_* categories. */
export type RegionVisitor = (startPage: number, endPage: number, categories: number) => void;

/**
 * Called per chunk of entries: entries[2*i] = low 32 bits, entries[2*i+1] = high 32 bits of the
 * entry of page firstPage + i, for i < count.
 */
export type ChunkVisitor = (entries: Uint32Array, count: number, firstPage: number) => void;

/**
 * The scanning loops are generators that yield after each chunk (one positioned read, one
 * PAGEMAP_SCAN call), so an asynchronous caller can give the event loop a turn between chunks;
 * `drain` runs one to its end synchronously.
 */
export type Steps<R = void> = Generator<void, R, undefined>;

/** Runs a step generator to its end; its return value. */
export function drain<R>(steps: Steps<R>): R {
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/** A page index (address >> page shift) as a number: exact, page indices stay below 2^53. */
export function pageIndexOf(addr: bigint, pageSize: number): number {
  return Number(addr / BigInt(pageSize));
}

export class PagemapReader {
  readonly pid: number;
  readonly pageSize: number;
  readonly path: string;
  private fd: number;
  private scanOk: boolean;
  private readonly chunkEntries: number;
  private readonly scanRegions: number;
  private readonly check: () => void;
  private chunk: Buffer | undefined;
  private scanArg: Buffer | undefined;
  private scanVec: Buffer | undefined;

  constructor(pid: number, opts: PagemapReaderOptions = {}) {
    this.pid = pid;
    this.pageSize = opts.pageSize ?? 4096;
    this.path = `${opts.procRoot ?? '/proc'}/${pid}/pagemap`;
    this.chunkEntries = opts.chunkEntries ?? 32768;
    this.scanRegions = opts.scanRegions ?? 4096;
    this.check = opts.check ?? (() => undefined);
    try {
      this.fd = openSync(this.path, 'r');
    } catch (e) {
      throw procError(e, pid, 'pagemap', false);
    }
    this.scanOk = opts.useScan !== false && libc() !== null;
  }

  /** PAGEMAP_SCAN is used (it may turn false after the first call on an old kernel). */
  get scanAvailable(): boolean {
    return this.scanOk;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /**
   * Visits the runs of present pages in [startPage, endPage) with their PAGE_IS_FILE/HUGE bits
   * (adjacent runs may differ only in those bits). With `swapped`, swapped pages are included
   * too (PAGE_IS_SWAPPED set on them). Uses PAGEMAP_SCAN, else positioned reads.
   */
  presentRuns(startPage: number, endPage: number, visit: RegionVisitor, swapped = false): void {
    drain(this.presentRunsSteps(startPage, endPage, visit, swapped));
  }

  /** presentRuns, yielding after each chunk. */
  *presentRunsSteps(
    startPage: number,
    endPage: number,
    visit: RegionVisitor,
    swapped = false,
  ): Steps {
    if (startPage >= endPage) return;
    if (BigInt(startPage) * BigInt(this.pageSize) >= USER_LIMIT_PAGE_BYTES) return;
    if (this.scanOk && (yield* this.scan(startPage, endPage, visit, swapped))) return;
    yield* this.runsByRead(startPage, endPage, visit, swapped);
  }

  /** Positioned reads of the entries of [startPage, endPage) in chunks. */
  readEntries(startPage: number, endPage: number, visit: ChunkVisitor): void {
    drain(this.readEntriesSteps(startPage, endPage, visit));
  }

  /** readEntries, yielding after each chunk. */
  *readEntriesSteps(startPage: number, endPage: number, visit: ChunkVisitor): Steps {
    if (startPage >= endPage) return;
    if (BigInt(startPage) * BigInt(this.pageSize) >= USER_LIMIT_PAGE_BYTES) return;
    if (!this.chunk) this.chunk = Buffer.allocUnsafe(this.chunkEntries * 8);
    const buf = this.chunk;
    const words = new Uint32Array(buf.buffer, buf.byteOffset, this.chunkEntries * 2);
    let page = startPage;
    while (page < endPage) {
      this.check();
      const n = Math.min(this.chunkEntries, endPage - page);
      let got: number;
      try {
        got = readSync(this.fd, buf, 0, n * 8, page * 8);
      } catch (e) {
        throw procError(e, this.pid, 'pagemap', true);
      }
      if (got < n * 8) {
        // pagemap answers every user address; a short read means the mm is gone.
        throw exited(this.pid);
      }
      visit(words, n, page);
      page += n;
      if (page < endPage) yield;
    }
  }

  private *runsByRead(
    startPage: number,
    endPage: number,
    visit: RegionVisitor,
    swapped: boolean,
  ): Steps {
    const want = swapped ? PM_HI_PRESENT | PM_HI_SWAPPED : PM_HI_PRESENT;
    let runStart = -1;
    let runCats = 0;
    yield* this.readEntriesSteps(startPage, endPage, (w, n, first) => {
      for (let i = 0; i < n; i++) {
        const hi = w[2 * i + 1];
        if ((hi & want) === 0) {
          if (runStart >= 0) {
            visit(runStart, first + i, runCats);
            runStart = -1;
          }
          continue;
        }
        const cats =
          (hi & PM_HI_PRESENT ? PAGE_IS_PRESENT : PAGE_IS_SWAPPED) |
          (hi & PM_HI_FILE ? PAGE_IS_FILE : 0);
        if (runStart >= 0 && cats !== runCats) {
          visit(runStart, first + i, runCats);
          runStart = -1;
        }
        if (runStart < 0) {
          runStart = first + i;
          runCats = cats;
        }
      }
    });
    if (runStart >= 0) visit(runStart, endPage, runCats);
  }

  /** PAGEMAP_SCAN; false when the kernel does not have it (then scanAvailable turns false). */
  private *scan(
    startPage: number,
    endPage: number,
    visit: RegionVisitor,
    swapped: boolean,
  ): Steps<boolean> {
    const c = libc();
    if (!c) return false;
    if (!this.scanArg) {
      this.scanArg = Buffer.alloc(PM_SCAN_ARG_SIZE);
      this.scanVec = Buffer.alloc(this.scanRegions * PAGE_REGION_SIZE);
    }
    const arg = this.scanArg;
    const vec = this.scanVec!;
    const a = new BigUint64Array(arg.buffer, arg.byteOffset, 12);
    const r = new Uint32Array(vec.buffer, vec.byteOffset, this.scanRegions * 6);
    const ps = this.pageSize;
    const end = BigInt(endPage) * BigInt(ps);
    let cur = BigInt(startPage) * BigInt(ps);
    const anyof = swapped ? PAGE_IS_PRESENT | PAGE_IS_SWAPPED : PAGE_IS_PRESENT;
    const ret = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE | PAGE_IS_HUGE;
    let first = true;
    while (cur < end) {
      this.check();
      a[0] = BigInt(PM_SCAN_ARG_SIZE);
      a[1] = 0n; // flags
      a[2] = cur;
      a[3] = end;
      a[4] = 0n; // walk_end (out)
      a[5] = bufferAddress(vec);
      a[6] = BigInt(this.scanRegions);
      a[7] = 0n; // max_pages
      a[8] = 0n; // category_inverted
      a[9] = 0n; // category_mask
      a[10] = BigInt(anyof); // category_anyof_mask
      a[11] = BigInt(ret); // return_mask
      const n = c.ioctl(this.fd, PAGEMAP_SCAN, arg);
      if (n < 0) {
        const errno = c.errno();
        if (errno === 3) throw exited(this.pid);
        if (first && (errno === 25 || errno === 22)) {
          // ENOTTY / EINVAL: no PAGEMAP_SCAN on this kernel.
          this.scanOk = false;
          return false;
        }
        throw new PmapError('UNAVAILABLE', `PAGEMAP_SCAN on ${this.path} failed: errno ${errno}`);
      }
      first = false;
      let lastEnd = 0;
      for (let i = 0; i < n; i++) {
        const s = (r[6 * i + 1] * TWO32 + r[6 * i]) / ps;
        const e = (r[6 * i + 3] * TWO32 + r[6 * i + 2]) / ps;
        visit(s, e, r[6 * i + 4]);
        lastEnd = e;
      }
      // The kernel's walk_end can lie before the end of the last region (seen on 6.18): resume
      // after both, or pages would be counted twice.
      let next = a[4];
      const le = BigInt(lastEnd) * BigInt(ps);
      if (le > next) next = le;
      if (next <= cur) break; // no progress: nothing left the kernel will report
      cur = next;
      if (cur < end) yield;
    }
    return true;
  }
}
