import type { MemoryMap } from '@app/domain';
import type { VePmapRenderOptions } from './types';
export function renderVePmap(_map: MemoryMap, _opts: VePmapRenderOptions): string {
  return '';
}
