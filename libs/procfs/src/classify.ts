import type { Vma } from '@app/domain';

const DELETED = ' (deleted)';

/**
 * Sets `kind` (and `shmId` for SysV shm) from the name and device alone. Called by the parsers;
 * classifyVmas adds what needs the process's stack pointers.
 */
export function classifyName(vma: Vma): void {
  const name = vma.name;
  if (name.length === 0) {
    vma.kind = 'anon';
    return;
  }
  const c0 = name.charCodeAt(0);
  if (c0 === 47 /* / */) {
    if (vma.devMajor === 0 && name.startsWith('/SYSV')) {
      vma.kind = 'sysv_shm';
      vma.shmId = vma.inode;
    } else if (name.startsWith('/memfd:')) {
      vma.kind = 'memfd';
    } else if (vma.devMajor === 0 && name.startsWith('/anon_hugepage')) {
      // MAP_ANONYMOUS | MAP_HUGETLB: anonymous memory backed by the kernel's internal hugetlbfs
      // file, not a deleted file (audits of deleted libraries must not list it).
      vma.kind = 'anon';
    } else if (name.endsWith(DELETED)) {
      vma.kind = 'deleted_file';
    } else {
      vma.kind = 'file';
    }
    return;
  }
  if (c0 === 91 /* [ */) {
    switch (name) {
      case '[heap]':
        vma.kind = 'heap';
        return;
      case '[stack]':
        vma.kind = 'stack';
        return;
      case '[vdso]':
        vma.kind = 'vdso';
        return;
      case '[vvar]':
      case '[vvar_vclock]':
        vma.kind = 'vvar';
        return;
      case '[vsyscall]':
        vma.kind = 'vsyscall';
        return;
    }
    if (name.startsWith('[anon:')) vma.kind = 'named_anon';
    else if (name.startsWith('[anon_shmem:')) vma.kind = 'named_shmem';
    else vma.kind = 'other';
    return;
  }
  vma.kind = 'other';
}

/**
 * `stack` for an anonymous VMA that contains `startStack` (/proc/PID/stat field 28; inclusive
 * end, as pmap tests it; 0 is no stack).
 */
export function classifyStack(v: Vma, startStack: bigint): void {
  if (startStack !== 0n && v.kind === 'anon' && v.start <= startStack && startStack <= v.end) {
    v.kind = 'stack';
  }
}

/** Index of the VMA containing addr (start <= addr < end) in address-sorted vmas, or -1. */
function findVma(vmas: Vma[], addr: bigint): number {
  let lo = 0;
  let hi = vmas.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = vmas[mid];
    if (addr < v.start) hi = mid - 1;
    else if (addr >= v.end) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/**
 * Classifies VMAs in place (they must be in address order, as the parsers return them):
 * the kind from the name and device (see classifyName); `stack` also for an anonymous VMA that
 * contains `startStack` (/proc/PID/stat field 28, inclusive end as pmap tests it); `thread_stack`
 * with `threadId` for an anonymous (or named anonymous) VMA containing a thread's stack pointer
 * (`threadStackPointers`: tid -> sp; the lowest tid wins when several share one VMA).
 */
export function classifyVmas(
  vmas: Vma[],
  startStack: bigint,
  threadStackPointers?: Map<number, bigint>,
): void {
  for (const v of vmas) {
    classifyName(v);
    delete v.threadId;
    classifyStack(v, startStack);
  }
  if (!threadStackPointers || threadStackPointers.size === 0) return;
  const tids = [...threadStackPointers.keys()].sort((a, b) => a - b);
  for (const tid of tids) {
    const sp = threadStackPointers.get(tid);
    if (sp === undefined || sp === 0n) continue;
    const idx = findVma(vmas, sp);
    if (idx < 0) continue;
    const v = vmas[idx];
    if (v.kind === 'anon' || v.kind === 'named_anon') {
      v.kind = 'thread_stack';
      v.threadId = tid;
    }
  }
}
