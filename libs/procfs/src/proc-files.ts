/**
 * ProcReader's small helpers over /proc files that cannot block (read synchronously): the
 * stat flags it tests, the threads' stack pointers, boot time, passwd names.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PmapError } from '@app/domain';
import { parseStat } from './parse';
import type { ProcStat } from './types';

/** PF_KTHREAD in /proc/PID/stat flags. */
export const PF_KTHREAD = 0x00200000;
/** Set at the start of do_exit, before the address space is torn down. */
const PF_EXITING = 0x00000004;

/** A zombie, dead, or exiting (its address space being torn down) process. */
export function isGone(st: ProcStat): boolean {
  const s = st.state;
  return s === '' || s === 'Z' || s === 'X' || s === 'x' || (st.flags & PF_EXITING) !== 0;
}

export function checkPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new PmapError('INVALID_ARGUMENT', `pid must be a positive integer, got ${pid}`, 'pid');
  }
}

export function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** What a cancelled read fails with: the signal's reason, else UNAVAILABLE. */
export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new PmapError('UNAVAILABLE', 'the read was cancelled');
}

/**
 * tid -> stack pointer for each thread of `pid` under `procRoot`: task/TID/syscall
 * (second-to-last field; "running" or an unreadable file is skipped) with task/TID/stat kstkesp
 * as the fallback. Best effort.
 */
export function threadStackPointers(procRoot: string, pid: number): Map<number, bigint> {
  const out = new Map<number, bigint>();
  let tids: string[];
  try {
    tids = fs.readdirSync(path.join(procRoot, String(pid), 'task'));
  } catch {
    return out;
  }
  for (const t of tids) {
    if (!isDigits(t)) continue;
    const tid = Number(t);
    const dir = path.join(procRoot, String(pid), 'task', t);
    let sp = 0n;
    try {
      const sc = fs.readFileSync(path.join(dir, 'syscall'), 'latin1').trim();
      const parts = sc.split(' ');
      if (parts.length >= 3) {
        const tok = parts[parts.length - 2];
        const hex = tok.startsWith('0x') ? tok.slice(2) : tok;
        if (/^[0-9a-fA-F]{1,16}$/.test(hex)) sp = BigInt('0x' + hex);
      }
    } catch {
      // unreadable: fall back to stat
    }
    if (sp === 0n) {
      try {
        sp = parseStat(fs.readFileSync(path.join(dir, 'stat'), 'latin1')).kstkesp;
      } catch {
        // thread gone
      }
    }
    if (sp !== 0n) out.set(tid, sp);
  }
  return out;
}

/** Boot time from `procRoot`/stat's "btime" line (ms since the epoch; 0 when unknown). */
export function readBootTime(procRoot: string): number {
  let ms = 0;
  try {
    const text = fs.readFileSync(path.join(procRoot, 'stat'), 'latin1');
    const i = text.indexOf('\nbtime ');
    const at = i >= 0 ? i + 7 : text.startsWith('btime ') ? 6 : -1;
    if (at >= 0) ms = Number.parseInt(text.slice(at, at + 20), 10) * 1000;
    if (!Number.isFinite(ms)) ms = 0;
  } catch {
    ms = 0;
  }
  return ms;
}

/** uid -> user name from `etcRoot`/passwd (the first entry of a uid; empty without the file). */
export function readPasswd(etcRoot: string): Map<number, string> {
  const users = new Map<number, string>();
  try {
    const text = fs.readFileSync(path.join(etcRoot, 'passwd'), 'utf8');
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f.length < 3 || !isDigits(f[2])) continue;
      const id = Number(f[2]);
      if (!users.has(id)) users.set(id, f[0]);
    }
  } catch {
    // no passwd: numeric names
  }
  return users;
}
