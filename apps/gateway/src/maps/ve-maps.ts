/**
 * Vector Engine parts of the maps endpoint: which views a VE process has (the VE pmap's plain and
 * -XX output; the agent renders their text), and the links between a VE process and its host pseudo process
 * (same pid: `ve_exec … -- ./prog`).
 */
import type { MemoryMap } from '@app/domain';
import type { VePmapMode } from '@app/pmap-format';
import { ApiError } from '../common/api-error';
import type { MapView } from './dto/maps-query.dto';

/** The views of a VE process: the VE pmap (psmisc-ve) without flags and with -XX. */
export const VE_MAP_VIEWS: readonly VePmapMode[] = ['default', 'XX'];

/** 400 unless `view` is a view the VE pmap has. */
export function checkVeView(view: MapView): VePmapMode {
  const v = VE_MAP_VIEWS.find((x) => x === view);
  if (v === undefined) {
    throw new ApiError(
      400,
      `view must be one of ${VE_MAP_VIEWS.join(', ')} for a VE process (ve=N), got '${view}'`,
      { parameter: 'view', allowed: [...VE_MAP_VIEWS] },
    );
  }
  return v;
}

export interface MapLinks {
  /** On a host pseudo process: its VE process's map. */
  veProcess?: string;
  /** On a VE process: its host pseudo process's map. */
  hostProcess?: string;
  /** Both maps in one answer (side=both). */
  both?: string;
}

function mapsPath(node: string, pid: number): string {
  return `/v1/nodes/${encodeURIComponent(node)}/processes/${pid}/maps`;
}

/** Links between the two sides of a VE program; undefined for an ordinary host process. */
export function mapLinks(node: string, map: MemoryMap): MapLinks | undefined {
  const h = map.header;
  const base = mapsPath(node, h.pid);
  if (h.veNode !== undefined) {
    return { hostProcess: base, both: `${base}?side=both&ve=${h.veNode}` };
  }
  if (h.vePseudoOf !== undefined) {
    return { veProcess: `${base}?ve=${h.vePseudoOf}`, both: `${base}?side=both` };
  }
  return undefined;
}

/** side=both needs a VE side: 404 naming the process when it has none. */
export function noVeSide(node: string, pid: number): ApiError {
  return new ApiError(
    404,
    `process ${pid} on node '${node}' is not a VE pseudo process (ve_exec): it has no VE side; pass ve=N to name the VE node`,
    { parameter: 'side', node },
  );
}

/** side=both answers JSON only. */
export function bothIsJsonOnly(): ApiError {
  return new ApiError(400, 'side=both answers JSON only (format=json, Accept: application/json)', {
    parameter: 'format',
    allowed: ['json'],
  });
}
