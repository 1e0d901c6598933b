/**
 * What this node's kernel and privileges let the agent see, probed once at start, plus the basic
 * node facts. PAGEMAP_SCAN is probed through the pagemap module's PagemapReader.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pageIndexOf, PagemapReader } from './pagemap';
import { PM_HI_PFN_MASK, PM_HI_PRESENT } from './pagemap/reader';
import type { Capabilities, NodeBasics } from './types';

/** CAP_SYS_PTRACE. */
const CAP_SYS_PTRACE = 19n;

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

/**
 * Runs `probe` over this process's [stack] pages [first, end) with a PagemapReader on its pagemap
 * (`useScan`: PAGEMAP_SCAN allowed). False when there is no stack or anything throws.
 */
function probeOwnStack(
  procRoot: string,
  pageSize: bigint,
  useScan: boolean,
  probe: (reader: PagemapReader, first: number, end: number) => boolean,
): boolean {
  const stack = selfStack(procRoot);
  if (!stack) return false;
  const ps = Number(pageSize);
  let reader: PagemapReader | undefined;
  try {
    reader = new PagemapReader(process.pid, { procRoot, pageSize: ps, useScan });
    return probe(reader, pageIndexOf(stack[0], ps), pageIndexOf(stack[1], ps));
  } catch {
    return false;
  } finally {
    reader?.close();
  }
}

/** The pagemap entries of our own top 16 stack pages: a present one with non-zero PFN bits? */
function probePfns(procRoot: string, pageSize: bigint): boolean {
  return probeOwnStack(procRoot, pageSize, false, (reader, first, end) => {
    let pfns = false;
    reader.readEntries(Math.max(first, end - 16), end, (w, n) => {
      for (let i = 0; i < n; i++) {
        const hi = w[2 * i + 1];
        if ((hi & PM_HI_PRESENT) !== 0 && ((hi & PM_HI_PFN_MASK) !== 0 || w[2 * i] !== 0)) {
          pfns = true;
        }
      }
    });
    return pfns;
  });
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

/**
 * PAGEMAP_SCAN (Linux 6.7+) works: PagemapReader finds present pages on our own stack and still
 * uses the ioctl afterwards (it falls back to positioned reads when the kernel answers
 * ENOTTY/EINVAL).
 */
function probePagemapScan(procRoot: string, pageSize: bigint): boolean {
  return probeOwnStack(procRoot, pageSize, true, (reader, first, end) => {
    if (!reader.scanAvailable) return false;
    let runs = 0;
    reader.presentRuns(first, end, () => runs++);
    return reader.scanAvailable && runs > 0;
  });
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
  const pagemapScan = probePagemapScan(procRoot, pageSize);
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
