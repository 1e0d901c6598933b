import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VeNodeState } from './types';

/** VE node numbers present under the sysfs root (directories ve0, ve1, …), sorted. */
export function sysfsNodes(sysfsRoot: string): number[] {
  let names: string[];
  try {
    names = readdirSync(sysfsRoot);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const n of names) {
    if (n.length > 2 && n.startsWith('ve') && /^\d+$/.test(n.slice(2)))
      out.push(Number(n.slice(2)));
  }
  return out.sort((a, b) => a - b);
}

function readSmallInt(file: string): number {
  try {
    const t = readFileSync(file, 'latin1').trim();
    return /^-?\d+$/.test(t) ? Number(t) : -1;
  } catch {
    return -1;
  }
}

/** sysfs os_state of a node: 0 online, 1 offline, 2 initializing, 3 terminating; -1 unreadable. */
export function readOsState(sysfsRoot: string, node: number): number {
  return readSmallInt(join(sysfsRoot, `ve${node}`, 'os_state'));
}

/** sysfs ve_state (the card): 0 uninitialized, 1 online, 2 offline, 3 maintenance, 4 unavailable. */
export function readVeState(sysfsRoot: string, node: number): number {
  return readSmallInt(join(sysfsRoot, `ve${node}`, 've_state'));
}

/** os_state (+ ve_state for maintenance) -> VeNodeState. */
export function nodeState(osState: number, veState: number): VeNodeState {
  if (veState === 3) return 'maintenance';
  switch (osState) {
    case 0:
      return 'online';
    case 1:
    case 3: // terminating: on its way offline
      return 'offline';
    case 2:
      return 'initializing';
    default:
      return 'unknown';
  }
}

/** The host task ids in task_id_all (whitespace separated); [] when the file is unreadable. */
export function readTaskIds(sysfsRoot: string, node: number): number[] {
  let text: string;
  try {
    text = readFileSync(join(sysfsRoot, `ve${node}`, 'task_id_all'), 'latin1');
  } catch {
    return [];
  }
  const out: number[] = [];
  let v = -1;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32;
    if (c >= 48 && c <= 57) v = (v < 0 ? 0 : v * 10) + (c - 48);
    else if (v >= 0) {
      if (v > 0) out.push(v);
      v = -1;
    }
  }
  return out;
}

export function socketPath(socketDir: string, node: number): string {
  return join(socketDir, `veos${node}.sock`);
}

export function socketPresent(socketDir: string, node: number): boolean {
  return existsSync(socketPath(socketDir, node));
}
