import type { MemoryMap } from '@app/domain';
import type { IllumosRenderOptions } from './types';
export function renderIllumos(_map: MemoryMap, _opts: IllumosRenderOptions): string {
  return '';
}
