import { parseAddressRange, PmapError } from '@app/domain';
import type { PmapMode, PmapRenderOptions } from './types';

export interface ParsedPmapFlags {
  options: PmapRenderOptions;
  /** The non-option arguments (PIDs). */
  pids: string[];
}

/**
 * A small pmap argv reader for tests and tools: -x -X -XX -d -q -p -k -A RANGE (also -ARANGE,
 * --range=RANGE and bundled short flags like -xq). procps' mutually exclusive modes are rejected.
 */
export function parsePmapFlags(argv: string[]): ParsedPmapFlags {
  let x = false;
  let X = 0;
  let d = false;
  const options: PmapRenderOptions = { mode: 'default' };
  const pids: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--range=')) {
      options.range = parseAddressRange(a.slice(8), { field: 'A' });
      continue;
    }
    if (a === '--range') {
      options.range = parseAddressRange(argv[++i] ?? '', { field: 'A' });
      continue;
    }
    if (a.length < 2 || a[0] !== '-') {
      pids.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j];
      switch (c) {
        case 'x':
          x = true;
          break;
        case 'X':
          X++;
          break;
        case 'd':
          d = true;
          break;
        case 'q':
          options.quiet = true;
          break;
        case 'p':
          options.showPath = true;
          break;
        case 'k':
          options.kernelNames = true;
          break;
        case 'A': {
          const rest = a.slice(j + 1);
          const text = rest.length > 0 ? rest : argv[++i];
          if (text === undefined) throw new PmapError('INVALID_ARGUMENT', '-A needs a range', 'A');
          options.range = parseAddressRange(text, { field: 'A' });
          j = a.length;
          break;
        }
        default:
          throw new PmapError('INVALID_ARGUMENT', `unknown option -${c}`, c);
      }
    }
  }
  if (Number(x) + Number(d) + Number(X > 0) > 1) {
    throw new PmapError('INVALID_ARGUMENT', 'options -d, -x, -X are mutually exclusive', 'mode');
  }
  let mode: PmapMode = 'default';
  if (x) mode = 'x';
  else if (d) mode = 'd';
  else if (X === 1) mode = 'X';
  else if (X > 1) mode = 'XX';
  options.mode = mode;
  return { options, pids };
}
