/**
 * Test-side oracles: tiny, independent readings of /proc/PID/maps, smaps, smaps_rollup and
 * `pmap -XX` output, written for clarity rather than speed, to check the product's parsers against.
 * Not used by the product.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface OracleVma {
  start: bigint;
  end: bigint;
  perms: string;
  offset: bigint;
  devMajor: number;
  devMinor: number;
  inode: bigint;
  name: string;
  fields: { name: string; value: bigint; kb: boolean }[];
  vmFlags: string;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) (\d+)(.*)$/;

/** Parses maps or smaps text (the header lines; smaps "Name: value" lines go to the last VMA). */
export function oracleParse(text: string): OracleVma[] {
  const out: OracleVma[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = HEADER.exec(line);
    if (m) {
      out.push({
        start: BigInt('0x' + m[1]),
        end: BigInt('0x' + m[2]),
        perms: m[3],
        offset: BigInt('0x' + m[4]),
        devMajor: parseInt(m[5], 16),
        devMinor: parseInt(m[6], 16),
        inode: BigInt(m[7]),
        name: m[8].replace(/^ +/, ''),
        fields: [],
        vmFlags: '',
      });
      continue;
    }
    const cur = out[out.length - 1];
    const colon = line.indexOf(':');
    const key = line.slice(0, colon);
    const rest = line.slice(colon + 1).trim();
    if (key === 'VmFlags') {
      cur.vmFlags = rest;
      continue;
    }
    const num = /^(\d+)( kB)?$/.exec(rest);
    if (num) cur.fields.push({ name: key, value: BigInt(num[1]), kb: num[2] !== undefined });
  }
  return out;
}

export function readProc(pid: number, file: string): string {
  return readFileSync(`/proc/${pid}/${file}`, 'utf8');
}

/** smaps_rollup as name -> bytes (kB lines only). */
export function oracleRollup(
  pid: number,
  text = readProc(pid, 'smaps_rollup'),
): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (m) out.set(m[1], BigInt(m[2]) * 1024n);
  }
  return out;
}

export interface PmapXXRow {
  address: bigint;
  perm: string;
  /** Column name -> value for every numeric smaps column. */
  values: Map<string, bigint>;
}

/** Runs `pmap -XX PID` and parses the numeric columns of each row. */
export function pmapXX(pid: number): { columns: string[]; rows: PmapXXRow[] } {
  const text = execFileSync('pmap', ['-XX', String(pid)], { encoding: 'utf8' });
  const lines = text.split('\n');
  const header = lines[1].trim().split(/\s+/);
  // Address Perm Offset Device Inode <fields...> VmFlags Mapping
  const columns = header.slice(5, header.indexOf('VmFlags'));
  const rows: PmapXXRow[] = [];
  for (const line of lines.slice(2)) {
    const t = line.trim().split(/\s+/);
    if (t.length < 5 + columns.length || !/^[0-9a-f]+$/.test(t[0])) continue;
    const values = new Map<string, bigint>();
    columns.forEach((c, i) => values.set(c, BigInt(t[5 + i])));
    rows.push({ address: BigInt('0x' + t[0]), perm: t[1], values });
  }
  return { columns, rows };
}
