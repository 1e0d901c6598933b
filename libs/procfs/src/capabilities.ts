/**
 * What this node's kernel and privileges let the agent see, probed once at start, plus the basic
 * node facts. Also the reusable PAGEMAP_SCAN handle (Linux 6.7+) through koffi on libc's ioctl.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import koffi from 'koffi';
import { PmapError } from '@app/domain';
import type { Capabilities, NodeBasics } from './types';

/** PAGEMAP_SCAN page categories (include/uapi/linux/fs.h). */
export const PAGE_IS_WPALLOWED = 1 << 0;
export const PAGE_IS_WRITTEN = 1 << 1;
export const PAGE_IS_FILE = 1 << 2;
export const PAGE_IS_PRESENT = 1 << 3;
export const PAGE_IS_SWAPPED = 1 << 4;
export const PAGE_IS_PFNZERO = 1 << 5;
export const PAGE_IS_HUGE = 1 << 6;
export const PAGE_IS_SOFT_DIRTY = 1 << 7;
const ALL_CATEGORIES = 0xff;

/** _IOWR('f', 16, struct pm_scan_arg) with sizeof(pm_scan_arg) = 96. */
const PAGEMAP_SCAN = 0xc0606610;
const PM_SCAN_ARG_SIZE = 96;
const PAGE_REGION_SIZE = 24;

/** CAP_SYS_PTRACE. */
const CAP_SYS_PTRACE = 19n;

export interface PageRegion {
  start: bigint;
  end: bigint;
  /** PAGE_IS_* bits (restricted to the return mask). */
  categories: number;
}

export interface PagemapScanOptions {
  /** Pages must have all of these categories (after inversion). */
  categoryMask?: number;
  /** Categories whose sense is inverted before matching. */
  categoryInverted?: number;
  /** Pages must have at least one of these (0: no condition). */
  categoryAnyofMask?: number;
  /** Categories reported per region (default all). */
  returnMask?: number;
  /** Regions fetched per ioctl (default 4096). */
  batch?: number;
}

export interface PagemapScanner {
  /**
   * Runs of pages in [start, end) with their categories, merged across ioctl batches, in address
   * order. Resumes at max(walk_end, last region end) (on 6.18 walk_end can lie before the last
   * region's end).
   */
  scan(start: bigint, end: bigint, opts?: PagemapScanOptions): PageRegion[];
  close(): void;
}

type IoctlFn = (fd: number, req: number, arg: Buffer) => number;
let ioctlFn: IoctlFn | null | undefined;

function loadIoctl(): IoctlFn | null {
  if (ioctlFn !== undefined) return ioctlFn;
  try {
    const libc = koffi.load('libc.so.6');
    ioctlFn = libc.func('int ioctl(int fd, unsigned long req, void *arg)') as IoctlFn;
  } catch {
    ioctlFn = null;
  }
  return ioctlFn;
}

/**
 * Opens PID's pagemap for PAGEMAP_SCAN (pid "self" for this process). Throws PmapError:
 * UNSUPPORTED when libc/koffi is unavailable, NOT_FOUND / PERMISSION_DENIED from the open.
 * The ioctl itself fails with EINVAL/ENOTTY on kernels before 6.7 (scan() throws UNSUPPORTED).
 */
export function openPagemapScan(pid: number | 'self', procRoot = '/proc'): PagemapScanner {
  const ioctl = loadIoctl();
  if (!ioctl) throw new PmapError('UNSUPPORTED', 'PAGEMAP_SCAN needs libc ioctl through koffi');
  let fd: number;
  try {
    fd = fs.openSync(path.join(procRoot, String(pid), 'pagemap'), 'r');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new PmapError(
        'PERMISSION_DENIED',
        `permission denied opening pagemap of process ${pid}; running the agent as root or with CAP_SYS_PTRACE allows it`,
      );
    }
    if (code === 'ENOENT' || code === 'ESRCH') {
      throw new PmapError('NOT_FOUND', `no such process ${pid}`);
    }
    throw new PmapError('UNAVAILABLE', `opening pagemap of process ${pid}: ${String(e)}`);
  }
  const arg = Buffer.alloc(PM_SCAN_ARG_SIZE);
  let vec = Buffer.alloc(0);
  let closed = false;
  return {
    scan(start: bigint, end: bigint, opts: PagemapScanOptions = {}): PageRegion[] {
      if (closed) throw new PmapError('FAILED_PRECONDITION', 'pagemap scanner is closed');
      const batch = opts.batch ?? 4096;
      if (vec.length < batch * PAGE_REGION_SIZE) vec = Buffer.alloc(batch * PAGE_REGION_SIZE);
      const vecAddr = koffi.address(vec);
      const out: PageRegion[] = [];
      let at = start;
      while (at < end) {
        arg.fill(0);
        arg.writeBigUInt64LE(BigInt(PM_SCAN_ARG_SIZE), 0);
        arg.writeBigUInt64LE(at, 16);
        arg.writeBigUInt64LE(end, 24);
        arg.writeBigUInt64LE(vecAddr, 40);
        arg.writeBigUInt64LE(BigInt(batch), 48);
        arg.writeBigUInt64LE(BigInt(opts.categoryInverted ?? 0), 64);
        arg.writeBigUInt64LE(BigInt(opts.categoryMask ?? 0), 72);
        arg.writeBigUInt64LE(BigInt(opts.categoryAnyofMask ?? 0), 80);
        arg.writeBigUInt64LE(BigInt(opts.returnMask ?? ALL_CATEGORIES), 88);
        const n = ioctl(fd, PAGEMAP_SCAN, arg);
        if (n < 0) {
          const errno = koffi.errno();
          if (errno === 3) throw new PmapError('EXITED', `process ${pid} exited during the read`);
          throw new PmapError('UNSUPPORTED', `PAGEMAP_SCAN failed (errno ${errno})`);
        }
        let lastEnd = at;
        for (let i = 0; i < n; i++) {
          const o = i * PAGE_REGION_SIZE;
          const rs = vec.readBigUInt64LE(o);
          const re = vec.readBigUInt64LE(o + 8);
          const cat = Number(vec.readBigUInt64LE(o + 16));
          const prev = out.length > 0 ? out[out.length - 1] : undefined;
          if (prev !== undefined && prev.end >= rs && prev.categories === cat) {
            if (re > prev.end) prev.end = re;
          } else if (prev !== undefined && rs < prev.end) {
            // overlap from a resumed walk: keep only the new part
            if (re > prev.end) out.push({ start: prev.end, end: re, categories: cat });
          } else {
            out.push({ start: rs, end: re, categories: cat });
          }
          if (re > lastEnd) lastEnd = re;
        }
        const walkEnd = arg.readBigUInt64LE(32);
        const next = walkEnd > lastEnd ? walkEnd : lastEnd;
        if (next <= at) break; // no progress: stop rather than loop
        at = next;
      }
      return out;
    },
    close(): void {
      if (!closed) {
        closed = true;
        fs.closeSync(fd);
      }
    },
  };
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
}

/** Page size from the aux vector (AT_PAGESZ = 6), else 4096. */
function pageSizeFrom(procRoot: string): bigint {
  try {
    const buf = fs.readFileSync(path.join(procRoot, 'self', 'auxv'));
    for (let o = 0; o + 16 <= buf.length; o += 16) {
      const type = buf.readBigUInt64LE(o);
      if (type === 0n) break;
      if (type === 6n) return buf.readBigUInt64LE(o + 8);
    }
  } catch {
    // fall through
  }
  return 4096n;
}

/** [start, end) of this process's [stack] from maps, or undefined. */
function selfStack(procRoot: string): [bigint, bigint] | undefined {
  const maps = readText(path.join(procRoot, 'self', 'maps'));
  if (maps === undefined) return undefined;
  for (const line of maps.split('\n')) {
    if (!line.endsWith('[stack]')) continue;
    const dash = line.indexOf('-');
    const sp = line.indexOf(' ');
    if (dash < 0 || sp < dash) continue;
    return [BigInt('0x' + line.slice(0, dash)), BigInt('0x' + line.slice(dash + 1, sp))];
  }
  return undefined;
}

/** Reads pagemap entries of our own top stack pages: present pages with non-zero PFN bits? */
function probePfns(procRoot: string, pageSize: bigint): boolean {
  const stack = selfStack(procRoot);
  if (!stack) return false;
  const [start, end] = stack;
  const pages = 16n;
  const first = end - pages * pageSize > start ? end - pages * pageSize : start;
  let fd: number | undefined;
  try {
    fd = fs.openSync(path.join(procRoot, 'self', 'pagemap'), 'r');
    const count = Number((end - first) / pageSize);
    const buf = Buffer.alloc(count * 8);
    const n = fs.readSync(fd, buf, 0, buf.length, Number((first / pageSize) * 8n));
    const pfnMask = (1n << 55n) - 1n;
    for (let o = 0; o + 8 <= n; o += 8) {
      const e = buf.readBigUInt64LE(o);
      if (e >> 63n === 1n && (e & pfnMask) !== 0n) return true;
    }
    return false;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function probeKpageflags(procRoot: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(path.join(procRoot, 'kpageflags'), 'r');
    const buf = Buffer.alloc(8);
    return fs.readSync(fd, buf, 0, 8, 0) === 8;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function probePagemapScan(procRoot: string): boolean {
  const stack = selfStack(procRoot);
  if (!stack) return false;
  try {
    const s = openPagemapScan('self', procRoot);
    try {
      const regions = s.scan(stack[0], stack[1], { categoryMask: PAGE_IS_PRESENT });
      return regions.length > 0;
    } finally {
      s.close();
    }
  } catch {
    return false;
  }
}

/** "6.18.0-foo" >= major.minor */
export function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > major || (a === major && b >= minor);
}

/**
 * Probes what pmapd can read here. `procRoot` and `sysRoot` are configurable for tests.
 */
export function probeCapabilities(procRoot = '/proc', sysRoot = '/sys'): Capabilities {
  const notes: string[] = [];
  const pageSize = pageSizeFrom(procRoot);

  const pfnsReadable = probePfns(procRoot, pageSize);
  if (!pfnsReadable) {
    notes.push(
      'pagemap shows no physical frame numbers (needs CAP_SYS_ADMIN): physical contiguity and ' +
        'kpageflags-based page sizes are unavailable',
    );
  }
  const kpageflagsReadable = probeKpageflags(procRoot);
  if (!kpageflagsReadable) {
    notes.push(
      '/proc/kpageflags is not readable (root only): huge/THP detection per page uses PAGEMAP_SCAN if available',
    );
  }
  const pagemapScan = probePagemapScan(procRoot);
  if (!pagemapScan) {
    notes.push(
      `the PAGEMAP_SCAN ioctl is unavailable (Linux 6.7+, this kernel is ${os.release()}): ` +
        'page scans fall back to reading pagemap entries',
    );
  }

  const numaNodes: number[] = [];
  try {
    for (const n of fs.readdirSync(path.join(sysRoot, 'devices', 'system', 'node'))) {
      const m = /^node(\d+)$/.exec(n);
      if (m) numaNodes.push(Number(m[1]));
    }
  } catch {
    // no NUMA sysfs
  }
  numaNodes.sort((a, b) => a - b);
  if (numaNodes.length === 0) {
    notes.push(
      'no NUMA nodes listed under sysfs devices/system/node: per-node breakdowns unavailable',
    );
  }

  let readOtherUsers = typeof process.geteuid === 'function' && process.geteuid() === 0;
  if (!readOtherUsers) {
    const status = readText(path.join(procRoot, 'self', 'status'));
    const m = status ? /\nCapEff:\s*([0-9a-fA-F]+)/.exec(status) : null;
    if (m && ((BigInt('0x' + m[1]) >> CAP_SYS_PTRACE) & 1n) === 1n) readOtherUsers = true;
  }
  if (!readOtherUsers) {
    notes.push(
      "other users' processes cannot be read: run the agent as root or with CAP_SYS_PTRACE",
    );
  }

  const hugePageSizes: bigint[] = [];
  try {
    for (const n of fs.readdirSync(path.join(sysRoot, 'kernel', 'mm', 'hugepages'))) {
      const m = /^hugepages-(\d+)kB$/.exec(n);
      if (m) hugePageSizes.push(BigInt(m[1]) * 1024n);
    }
  } catch {
    // no hugetlbfs support
  }
  hugePageSizes.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (hugePageSizes.length === 0) notes.push('the kernel lists no huge page sizes');

  return {
    pfnsReadable,
    kpageflagsReadable,
    pagemapScan,
    numaNodes,
    readOtherUsers,
    hugePageSizes,
    pageSize,
    notes,
  };
}

/** Host facts for the node description. */
export function readNodeBasics(procRoot = '/proc'): NodeBasics {
  let memTotal = BigInt(os.totalmem());
  const meminfo = readText(path.join(procRoot, 'meminfo'));
  const mm = meminfo ? /^MemTotal:\s+(\d+) kB/m.exec(meminfo) : null;
  if (mm) memTotal = BigInt(mm[1]) * 1024n;
  let bootTimeMs = Date.now() - Math.round(os.uptime() * 1000);
  const stat = readText(path.join(procRoot, 'stat'));
  const bm = stat ? /^btime (\d+)$/m.exec(stat) : null;
  if (bm) bootTimeMs = Number(bm[1]) * 1000;
  return {
    hostname: os.hostname(),
    kernelRelease: os.release(),
    arch: typeof os.machine === 'function' ? os.machine() : os.arch(),
    cpuCount:
      typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
    memTotal,
    bootTimeMs,
  };
}
