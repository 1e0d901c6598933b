import { vmaOverlaps, type MemoryMap, type SmapsField, type Vma } from '@app/domain';
import { pmapCommandLine } from './names';
import { dec, equalsRun, padLeft, spaces, zeroPad } from './text';
import type { VePmapRenderOptions } from './types';

/**
 * The VE pmap (psmisc-ve `/opt/nec/ve/bin/pmap`, data from libveosinfo's ve_map_info), as its
 * output in the VE seed shows it (test/fixtures/ve/pmap):
 *
 *  - first line `VE Node: N`, then `PID:   cmdline`;
 *  - plain mode: the procps layout with full paths and VEOS's names (`[anon]`, `[stack]`,
 *    `[heap]`) as they are;
 *  - -XX: a fixed column set (the struct's fields) with fixed widths taken from the header
 *    (Size/Rss/Pss are 5 wide), values overflow them; Device is `%x:%x` (`fd:2`); the VmFlags
 *    column is right-justified to the longest flags string seen SO FAR (rows before a longer one
 *    stay narrower) and its header runs into `Mapping` (`VmFlagsMapping`); totals under a row of
 *    `=` runs, ending in ` KB `.
 */
export function renderVePmap(map: MemoryMap, opts: VePmapRenderOptions): string {
  const node = map.header.veNode ?? firstVeNode(map.vmas) ?? 0;
  const head = `VE Node: ${node}\n${map.header.pid}:   ${pmapCommandLine(map.header)}\n`;
  const r = opts.range;
  const vmas =
    r && (r.low !== undefined || r.high !== undefined)
      ? map.vmas.filter((v) => vmaOverlaps(v, r))
      : map.vmas;
  return opts.mode === 'XX' ? head + renderXX(vmas, !!opts.quiet) : head + renderPlain(vmas, opts);
}

function firstVeNode(vmas: Vma[]): number | undefined {
  for (const v of vmas) if (v.veNode !== undefined) return v.veNode;
  return undefined;
}

function mode5(perms: string): string {
  const p3 = perms.length > 3 ? perms[3] : '-';
  return perms.slice(0, 3) + (p3 === 'p' ? '-' : p3) + '-';
}

function renderPlain(vmas: Vma[], opts: VePmapRenderOptions): string {
  const parts: string[] = [];
  let total = 0n;
  for (const v of vmas) {
    const size = v.end - v.start;
    total += size;
    parts.push(
      zeroPad(v.start.toString(16), 16),
      ' ',
      padLeft(dec(size >> 10n), 6),
      'K ',
      mode5(v.perms),
      ' ',
      v.name === '' ? '[anon]' : v.name,
      '\n',
    );
  }
  if (!opts.quiet) parts.push(' total ', padLeft(dec(total >> 10n), 16), 'K\n');
  return parts.join('');
}

/** The VE -XX columns: smaps-style names in the order the VE pmap prints them. */
export const VE_XX_COLUMNS = [
  'Size',
  'Rss',
  'Pss',
  'Shared_Clean',
  'Shared_Dirty',
  'Private_Clean',
  'Private_Dirty',
  'Referenced',
  'Anonymous',
  'AnonHugePages',
  'Swap',
  'KernelPageSize',
  'MMUPageSize',
  'Locked',
];
const VE_XX_WIDTHS = [5, 5, 5, 12, 12, 13, 13, 10, 9, 13, 4, 14, 11, 6];
/** Address, Perm, Offset, Device, Inode. */
const LEAD_WIDTHS = [12, 4, 8, 6, 10];
const LEAD_GAP = LEAD_WIDTHS.reduce((a, b) => a + b + 1, 0) - 1; // 44

const XX_HEADER =
  padLeft('Address', 12) +
  ' ' +
  padLeft('Perm', 4) +
  ' ' +
  padLeft('Offset', 8) +
  ' ' +
  padLeft('Device', 6) +
  ' ' +
  padLeft('Inode', 10) +
  VE_XX_COLUMNS.map((c, i) => ' ' + padLeft(c, VE_XX_WIDTHS[i])).join('') +
  ' ' +
  padLeft('VmFlags', 19) +
  'Mapping\n';

function value(fields: SmapsField[] | undefined, name: string, hint: number): bigint {
  if (!fields) return 0n;
  if (hint < fields.length && fields[hint].name === name) return fields[hint].value;
  for (const f of fields) if (f.name === name) return f.value;
  return 0n;
}

function renderXX(vmas: Vma[], quiet: boolean): string {
  const parts: string[] = [];
  if (!quiet) parts.push(XX_HEADER);
  const totals = VE_XX_COLUMNS.map(() => 0n);
  let flagsWidth = 0;
  for (const v of vmas) {
    let line =
      padLeft(v.start.toString(16), 12) +
      ' ' +
      padLeft(v.perms, 4) +
      ' ' +
      zeroPad(v.offset.toString(16), 8) +
      ' ' +
      padLeft(v.devMajor.toString(16) + ':' + v.devMinor.toString(16), 6) +
      ' ' +
      padLeft(dec(v.inode), 10);
    for (let c = 0; c < VE_XX_COLUMNS.length; c++) {
      const val = value(v.fields, VE_XX_COLUMNS[c], c);
      totals[c] += val;
      line += ' ' + padLeft(dec(val), VE_XX_WIDTHS[c]);
    }
    const flags = v.vmFlags ?? '';
    if (flags.length > flagsWidth) flagsWidth = flags.length;
    const slash = v.name.lastIndexOf('/');
    line += ' ' + padLeft(flags, flagsWidth) + ' ' + (slash < 0 ? v.name : v.name.slice(slash + 1));
    parts.push(line, '\n');
  }
  if (!quiet) {
    let under = spaces(LEAD_GAP);
    let sums = spaces(LEAD_GAP);
    for (let c = 0; c < VE_XX_COLUMNS.length; c++) {
      under += ' ' + equalsRun(VE_XX_WIDTHS[c]);
      sums += ' ' + padLeft(dec(totals[c]), VE_XX_WIDTHS[c]);
    }
    parts.push(under, ' \n', sums, ' KB \n');
  }
  return parts.join('');
}
