/**
 * The diff of two samples of a watched map (watch.service.ts): VMAs keyed by start address, and
 * the signed change of the rollup.
 */
import type { MemoryRollup, Vma } from '@app/domain';
import type { RollupDelta } from '@app/proto';

export interface VmaDiff {
  added: Vma[];
  removed: Vma[];
  changed: { before: Vma; after: Vma }[];
}

function sameFields(a: Vma, b: Vma): boolean {
  const fa = a.fields;
  const fb = b.fields;
  if (fa === undefined || fb === undefined) return fa === fb;
  if (fa.length !== fb.length) return false;
  for (let i = 0; i < fa.length; i++) {
    if (fa[i].value !== fb[i].value || fa[i].name !== fb[i].name) return false;
  }
  return a.vmFlags === b.vmFlags;
}

/** True when two samples of the VMA starting at the same address describe the same thing. */
export function sameVma(a: Vma, b: Vma): boolean {
  return (
    a.end === b.end &&
    a.perms === b.perms &&
    a.offset === b.offset &&
    a.inode === b.inode &&
    a.devMajor === b.devMajor &&
    a.devMinor === b.devMinor &&
    a.name === b.name &&
    a.kind === b.kind &&
    sameFields(a, b)
  );
}

/**
 * Differences between two samples of a map, VMAs keyed by start address (unique within one
 * sample). One pass over each list; results in address order.
 */
export function diffVmas(before: Vma[], after: Vma[]): VmaDiff {
  const old = new Map<bigint, Vma>();
  for (const v of before) old.set(v.start, v);
  const added: Vma[] = [];
  const changed: { before: Vma; after: Vma }[] = [];
  for (const v of after) {
    const prev = old.get(v.start);
    if (prev === undefined) added.push(v);
    else {
      old.delete(v.start);
      if (!sameVma(prev, v)) changed.push({ before: prev, after: v });
    }
  }
  const removed = [...old.values()];
  return { added, removed, changed };
}

export function rollupDelta(before: MemoryRollup, after: MemoryRollup): RollupDelta {
  return {
    rss: after.rss - before.rss,
    pss: after.pss - before.pss,
    swap: after.swap - before.swap,
    anonymous: after.anonymous - before.anonymous,
    anonHugePages: after.anonHugePages - before.anonHugePages,
    locked: after.locked - before.locked,
  };
}

export function deltaIsZero(d: RollupDelta): boolean {
  return (
    d.rss === 0n &&
    d.pss === 0n &&
    d.swap === 0n &&
    d.anonymous === 0n &&
    d.anonHugePages === 0n &&
    d.locked === 0n
  );
}
