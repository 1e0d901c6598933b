/**
 * Converters between the domain model (@app/domain) and the generated protobuf messages. The
 * agent converts domain -> proto, the gateway proto -> domain (and renders with
 * @app/pmap-format), so both sides agree on one mapping.
 */
import {
  type AddressRange as DomainRange,
  type MemoryRollup as DomainRollup,
  type ProcessHeader as DomainHeader,
  type ProcessInfo as DomainProcess,
  type ProcessTotals as DomainTotals,
  type SmapsField as DomainField,
  type Vma as DomainVma,
  type VmaKind as DomainKind,
  type HistogramBin as DomainHistogramBin,
  type HistogramKind as DomainHistogramKind,
  type HistogramRun as DomainHistogramRun,
  type HistogramTotals as DomainHistogramTotals,
  type VmaHistogram as DomainVmaHistogram,
} from '@app/domain';
import {
  AddressRange,
  HistogramBin,
  HistogramKind,
  HistogramRun,
  HistogramTotals,
  VmaHistogram,
  MemoryRollup,
  ProcessHeader,
  ProcessInfo,
  ProcessTotals,
  SmapsField,
  Vma,
  VmaKind,
} from './gen/pmap/v1/pmap';

const KIND_TO_PROTO: Record<DomainKind, VmaKind> = {
  file: VmaKind.VMA_KIND_FILE,
  deleted_file: VmaKind.VMA_KIND_DELETED_FILE,
  anon: VmaKind.VMA_KIND_ANON,
  named_anon: VmaKind.VMA_KIND_NAMED_ANON,
  heap: VmaKind.VMA_KIND_HEAP,
  stack: VmaKind.VMA_KIND_STACK,
  thread_stack: VmaKind.VMA_KIND_THREAD_STACK,
  vdso: VmaKind.VMA_KIND_VDSO,
  vvar: VmaKind.VMA_KIND_VVAR,
  vsyscall: VmaKind.VMA_KIND_VSYSCALL,
  sysv_shm: VmaKind.VMA_KIND_SYSV_SHM,
  memfd: VmaKind.VMA_KIND_MEMFD,
  named_shmem: VmaKind.VMA_KIND_NAMED_SHMEM,
  ve_memory: VmaKind.VMA_KIND_VE_MEMORY,
  other: VmaKind.VMA_KIND_OTHER,
};

/** The inverse of a domain name -> proto enum table. */
function inverse<D extends string, P>(table: Record<D, P>): Map<P, D> {
  return new Map((Object.entries(table) as [D, P][]).map(([d, p]) => [p, d]));
}

const KIND_FROM_PROTO = inverse(KIND_TO_PROTO);

export function kindFromProto(kind: VmaKind): DomainKind {
  return KIND_FROM_PROTO.get(kind) ?? 'other';
}

/**
 * A domain VMA as a proto VMA: smaps figures as `fields` ({name, value, kb} each, what
 * WatchMemoryMap sends), or — with `compact` — as packed values under a layout id (map-wire.ts).
 */
export function vmaToProto(v: DomainVma, compact?: { layout: number; values: bigint[] }): Vma {
  return {
    start: v.start,
    end: v.end,
    perms: v.perms,
    offset: v.offset,
    devMajor: v.devMajor,
    devMinor: v.devMinor,
    inode: v.inode,
    name: v.name,
    kind: KIND_TO_PROTO[v.kind],
    shmId: v.shmId,
    threadId: v.threadId,
    fields:
      v.fields && !compact ? v.fields.map((f) => ({ name: f.name, value: f.value, kb: f.kb })) : [],
    vmFlags: v.vmFlags ?? '',
    hasSmaps: v.fields !== undefined,
    notProvided: v.notProvided ?? [],
    veNode: v.veNode,
    smapsLayout: compact?.layout ?? 0,
    smapsValues: compact?.values ?? [],
  };
}

export function vmaFromProto(v: Vma): DomainVma {
  const out: DomainVma = {
    start: v.start,
    end: v.end,
    perms: v.perms,
    offset: v.offset,
    devMajor: v.devMajor,
    devMinor: v.devMinor,
    inode: v.inode,
    name: v.name,
    kind: kindFromProto(v.kind),
  };
  if (v.shmId !== undefined) out.shmId = v.shmId;
  if (v.threadId !== undefined) out.threadId = v.threadId;
  if (v.hasSmaps) {
    out.fields = v.fields.map((f: SmapsField): DomainField => ({
      name: f.name,
      value: f.value,
      kb: f.kb,
    }));
    out.vmFlags = v.vmFlags;
  }
  if (v.notProvided.length > 0) out.notProvided = [...v.notProvided];
  if (v.veNode !== undefined) out.veNode = v.veNode;
  return out;
}

export function headerToProto(h: DomainHeader): ProcessHeader {
  return {
    pid: h.pid,
    cmdline: h.cmdline,
    comm: h.comm,
    startStack: h.startStack,
    veNode: h.veNode,
    kernelThread: h.kernelThread,
    readAtMs: BigInt(h.readAtMs ?? Date.now()),
    pageSize: h.pageSize ?? 4096n,
    vePseudoOf: h.vePseudoOf,
    uid: h.uid,
  };
}

export function headerFromProto(h: ProcessHeader): DomainHeader {
  const out: DomainHeader = {
    pid: h.pid,
    cmdline: h.cmdline,
    comm: h.comm,
    startStack: h.startStack,
    kernelThread: h.kernelThread,
    uid: h.uid,
    readAtMs: Number(h.readAtMs),
    pageSize: h.pageSize,
  };
  if (h.veNode !== undefined) out.veNode = h.veNode;
  if (h.vePseudoOf !== undefined) out.vePseudoOf = h.vePseudoOf;
  return out;
}

export function rollupToProto(r: DomainRollup): MemoryRollup {
  return { ...r };
}

export function rollupFromProto(r: MemoryRollup): DomainRollup {
  return { ...r };
}

export function totalsToProto(t: DomainTotals): ProcessTotals {
  return { ...t };
}

export function totalsFromProto(t: ProcessTotals): DomainTotals {
  return { ...t };
}

export function processToProto(p: DomainProcess): ProcessInfo {
  return {
    pid: p.pid,
    ppid: p.ppid,
    comm: p.comm,
    cmdline: p.cmdline,
    uid: p.uid,
    user: p.user,
    state: p.state,
    threads: p.threads,
    startTimeMs: BigInt(Math.round(p.startTimeMs)),
    vsize: p.vsize,
    rollup: p.rollup ? rollupToProto(p.rollup) : undefined,
    rollupError: p.rollupError ?? '',
    cgroup: p.cgroup,
    veNode: p.veNode,
    kernelThread: p.kernelThread,
    rss: p.rss,
    vePseudoOf: p.vePseudoOf,
    cmdlineTruncated: p.cmdlineTruncated ?? false,
  };
}

export function processFromProto(p: ProcessInfo): DomainProcess {
  const out: DomainProcess = {
    pid: p.pid,
    ppid: p.ppid,
    comm: p.comm,
    cmdline: p.cmdline,
    uid: p.uid,
    user: p.user,
    state: p.state,
    threads: p.threads,
    startTimeMs: Number(p.startTimeMs),
    vsize: p.vsize,
    rss: p.rss,
    cgroup: p.cgroup,
    kernelThread: p.kernelThread,
  };
  if (p.rollup) out.rollup = rollupFromProto(p.rollup);
  if (p.rollupError) out.rollupError = p.rollupError;
  if (p.cmdlineTruncated) out.cmdlineTruncated = true;
  if (p.veNode !== undefined) out.veNode = p.veNode;
  if (p.vePseudoOf !== undefined) out.vePseudoOf = p.vePseudoOf;
  return out;
}

export function rangeToProto(r: DomainRange | undefined): AddressRange | undefined {
  if (!r) return undefined;
  return { low: r.low, high: r.high, clip: r.clip ?? false };
}

export function rangeFromProto(r: AddressRange | undefined): DomainRange | undefined {
  if (!r) return undefined;
  const out: DomainRange = {};
  if (r.low !== undefined) out.low = r.low;
  if (r.high !== undefined) out.high = r.high;
  if (r.clip) out.clip = true;
  return out;
}

// ---- histograms (domain types of @app/procfs' pagemap module; type-only import, no I/O)

const HISTOGRAM_KIND_TO_PROTO: Record<DomainHistogramKind, HistogramKind> = {
  order: HistogramKind.HISTOGRAM_KIND_ORDER,
  physical: HistogramKind.HISTOGRAM_KIND_PHYSICAL,
  pagesize: HistogramKind.HISTOGRAM_KIND_PAGESIZE,
  numa: HistogramKind.HISTOGRAM_KIND_NUMA,
};

const HISTOGRAM_KIND_FROM_PROTO = inverse(HISTOGRAM_KIND_TO_PROTO);

export function histogramKindToProto(kind: DomainHistogramKind): HistogramKind {
  return HISTOGRAM_KIND_TO_PROTO[kind];
}

/** undefined for HISTOGRAM_KIND_UNSPECIFIED or an unknown number. */
export function histogramKindFromProto(kind: HistogramKind): DomainHistogramKind | undefined {
  return HISTOGRAM_KIND_FROM_PROTO.get(kind);
}

export function histogramBinToProto(b: DomainHistogramBin): HistogramBin {
  return {
    key: b.key,
    pageSize: b.pageSize,
    numaNode: b.numaNode,
    category: b.category,
    count: b.count,
    bytes: b.bytes,
  };
}

export function histogramBinFromProto(b: HistogramBin): DomainHistogramBin {
  const out: DomainHistogramBin = {
    key: b.key,
    pageSize: b.pageSize,
    category: b.category === 'anon' || b.category === 'file' ? b.category : '',
    count: b.count,
    bytes: b.bytes,
  };
  if (b.numaNode !== undefined) out.numaNode = b.numaNode;
  return out;
}

export function histogramRunToProto(r: DomainHistogramRun): HistogramRun {
  return {
    start: r.start,
    end: r.end,
    pageSize: r.pageSize,
    numaNode: r.numaNode,
    present: r.present,
  };
}

export function histogramRunFromProto(r: HistogramRun): DomainHistogramRun {
  const out: DomainHistogramRun = {
    start: r.start,
    end: r.end,
    pageSize: r.pageSize,
    present: r.present,
  };
  if (r.numaNode !== undefined) out.numaNode = r.numaNode;
  return out;
}

export function vmaHistogramToProto(h: DomainVmaHistogram): VmaHistogram {
  return {
    start: h.start,
    end: h.end,
    perms: h.perms,
    name: h.name,
    kind: KIND_TO_PROTO[h.kind],
    orders: [...h.orders],
    bins: h.bins.map(histogramBinToProto),
    runs: h.runs.map(histogramRunToProto),
    presentPages: h.presentPages,
    fileBacked: h.fileBacked,
  };
}

export function vmaHistogramFromProto(h: VmaHistogram): DomainVmaHistogram {
  return {
    start: h.start,
    end: h.end,
    perms: h.perms,
    name: h.name,
    kind: kindFromProto(h.kind),
    orders: [...h.orders],
    bins: h.bins.map(histogramBinFromProto),
    runs: h.runs.map(histogramRunFromProto),
    presentPages: h.presentPages,
    fileBacked: h.fileBacked,
  };
}

export function histogramTotalsToProto(t: DomainHistogramTotals): HistogramTotals {
  return {
    orders: [...t.orders],
    bins: t.bins.map(histogramBinToProto),
    presentPages: t.presentPages,
    vmas: t.vmas,
  };
}

export function histogramTotalsFromProto(t: HistogramTotals): DomainHistogramTotals {
  return {
    orders: [...t.orders],
    bins: t.bins.map(histogramBinFromProto),
    presentPages: t.presentPages,
    vmas: t.vmas,
  };
}
