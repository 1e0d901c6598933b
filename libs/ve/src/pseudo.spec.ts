import type { Vma } from '@app/domain';
import {
  isVePseudoProcess,
  markVePseudoRegions,
  veProgramCmdline,
  vePseudoNode,
  VEMMR_END,
  VEMMR_START,
} from './pseudo';
import { readFixture } from '../../../test/fixtures/paths';

/** The host `pmap -X` rows of the seed's pseudo process as domain Vmas (end = start + Size). */
function pseudoVmas(): { cmdline: string; vmas: Vma[] } {
  const lines = readFixture('ve', 'pmap', 'x86-pseudo-process-pmap-X.txt').split('\n');
  const cmdline = lines[0].slice(lines[0].indexOf(':') + 4);
  const vmas: Vma[] = [];
  for (const line of lines.slice(2)) {
    const t = line.trim().split(/\s+/);
    if (t.length < 11) continue;
    const start = BigInt('0x' + t[0]);
    const [maj, min] = t[3].split(':').map((x) => parseInt(x, 16));
    vmas.push({
      start,
      end: start + BigInt(t[5]) * 1024n,
      perms: t[1],
      offset: BigInt('0x' + t[2]),
      devMajor: maj,
      devMinor: min,
      inode: BigInt(t[4]),
      name: t[12] ?? '',
      kind: t[12] ? 'file' : 'anon',
    });
  }
  return { cmdline, vmas };
}

describe('VE pseudo process helpers', () => {
  it('recognises the ve_exec pseudo process of the seed', () => {
    const { cmdline } = pseudoVmas();
    expect(cmdline).toMatch(/^\/opt\/nec\/ve\/libexec\/ve_exec /);
    expect(isVePseudoProcess(cmdline)).toBe(true);
    expect(isVePseudoProcess(cmdline.split(' '))).toBe(true);
    expect(isVePseudoProcess('sleep 100')).toBe(false);
    expect(isVePseudoProcess('perl -e 1', '/opt/nec/ve/libexec/ve_exec')).toBe(true);
    expect(isVePseudoProcess('x', '/opt/nec/ve/libexec/ve_exec (deleted)')).toBe(true);
    expect(isVePseudoProcess('/usr/bin/not_ve_exec')).toBe(false);
    expect(veProgramCmdline(cmdline)).toBe('./p');
    expect(veProgramCmdline('sleep 100 -- x')).toBe('sleep 100 -- x');
    expect(vePseudoNode(cmdline)).toBe(0);
    expect(vePseudoNode(['ve_exec', '-s', '/var/opt/nec/ve/veos/veos3.sock', '--', 'a'])).toBe(3);
    expect(vePseudoNode('ve_exec -- ./p -d /dev/veslot5')).toBeUndefined();
  });

  it('marks exactly the VMAs inside VEMMR of the seed pseudo process', () => {
    const { vmas } = pseudoVmas();
    expect(vmas.length).toBeGreaterThan(20);
    const n = markVePseudoRegions(vmas, 0);
    const marked = vmas.filter((v) => v.kind === 've_memory');
    expect(n).toBe(6);
    expect(marked.map((v) => v.start.toString(16))).toEqual([
      '600000000000',
      '600000115000',
      '600004000000',
      '600004115000',
      '600008000000',
      '60fc80000000',
    ]);
    expect(
      marked.every((v) => v.veNode === 0 && v.start >= VEMMR_START && v.end <= VEMMR_END),
    ).toBe(true);
    // the 14 GiB stack reservation ends at 0x610000000000
    expect(marked[marked.length - 1].end).toBe(0x610000000000n);
    // untouched: host program, heap, the 5f0000000000 page below VEMMR, host-side libraries
    const host = vmas.filter((v) => v.kind !== 've_memory');
    expect(host.find((v) => v.start === 0x5f0000000000n)?.veNode).toBeUndefined();
    expect(host.filter((v) => v.name === 've_exec')).toHaveLength(3);
    expect(host.every((v) => v.veNode === undefined)).toBe(true);
    expect(marked.find((v) => v.name === 'p')?.inode).toBe(1618700754n);
  });

  it('also marks host VMAs overlapping the VE map when it is given', () => {
    const { vmas } = pseudoVmas();
    // VE-side anon + libc at the addresses this pseudo process mirrors them
    const ve = [
      { start: 0x7ff400000000n, end: 0x7ff40c000000n },
      { start: 0x7ffa20000000n, end: 0x7ffa20400000n },
    ].map((r) => ({ ...r }) as Vma);
    const n = markVePseudoRegions(vmas, 1, ve);
    const starts = vmas.filter((v) => v.kind === 've_memory').map((v) => v.start.toString(16));
    expect(starts).toContain('7ff400000000');
    expect(starts).toContain('7ffa20000000');
    expect(starts).toContain('7ffa20305000'); // the rest of the 4 MiB libc text mirror
    expect(starts).not.toContain('7ff40c000000');
    expect(starts).not.toContain('7ffa20400000');
    expect(n).toBe(6 + 3);
  });
});
