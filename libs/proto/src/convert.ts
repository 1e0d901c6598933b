/**
 * Converters between the domain model (@app/domain) and the generated protobuf messages. The
 * agent converts domain -> proto, the gateway proto -> domain (and renders with
 * @app/pmap-format), so both sides agree on one mapping.
 */
import type {
  AddressRange as DomainRange,
  MemoryRollup as DomainRollup,
  ProcessHeader as DomainHeader,
  ProcessInfo as DomainProcess,
  SmapsField as DomainField,
  Vma as DomainVma,
  VmaKind as DomainKind,
} from '@app/domain';
import {
  AddressRange,
  MemoryRollup,
  ProcessHeader,
  ProcessInfo,
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

const KIND_FROM_PROTO = new Map<VmaKind, DomainKind>(
  (Object.entries(KIND_TO_PROTO) as [DomainKind, VmaKind][]).map(([d, p]) => [p, d]),
);

export function kindToProto(kind: DomainKind): VmaKind {
  return KIND_TO_PROTO[kind];
}

export function kindFromProto(kind: VmaKind): DomainKind {
  return KIND_FROM_PROTO.get(kind) ?? 'other';
}

export function vmaToProto(v: DomainVma): Vma {
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
    fields: v.fields ? v.fields.map((f) => ({ name: f.name, value: f.value, kb: f.kb })) : [],
    vmFlags: v.vmFlags ?? '',
    hasSmaps: v.fields !== undefined,
    notProvided: v.notProvided ?? [],
    veNode: v.veNode,
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
