/**
 * pmap text rendered at the agent (GetMemoryMapRequest.text_view): the same renderers the gateway
 * used (@app/pmap-format), so the text stays byte-identical to pmap; the gateway pipes the bytes.
 * docs/wire.md has the measurements behind rendering here.
 */
import type { AddressRange, MemoryMap, ProcessHeader } from '@app/domain';
import {
  isRowMode,
  PmapRowRenderer,
  renderIllumos,
  renderPmapBytes,
  renderVePmap,
  type PmapMode,
} from '@app/pmap-format';
import { PmapView } from '@app/proto';
import { invalidArgument } from './errors';

/** What a text request asks the agent to render. */
export interface TextQuery {
  view: PmapView;
  quiet: boolean;
  showPath: boolean;
  kernelNames: boolean;
}

const PROCPS_MODES: Partial<Record<PmapView, PmapMode>> = {
  [PmapView.PMAP_VIEW_DEFAULT]: 'default',
  [PmapView.PMAP_VIEW_EXTENDED]: 'x',
  [PmapView.PMAP_VIEW_SMAPS]: 'X',
  [PmapView.PMAP_VIEW_SMAPS_ALL]: 'XX',
  [PmapView.PMAP_VIEW_DEVICE]: 'd',
};

/** The views that read /proc/PID/smaps (the others read maps). */
const SMAPS_VIEWS = new Set<PmapView>([
  PmapView.PMAP_VIEW_EXTENDED,
  PmapView.PMAP_VIEW_SMAPS,
  PmapView.PMAP_VIEW_SMAPS_ALL,
  PmapView.PMAP_VIEW_ILLUMOS,
]);

/**
 * Validates a request's text view (INVALID_ARGUMENT naming `text_view`); undefined when the
 * request wants VMAs. A VE process has the VE pmap's two views only.
 */
export function textQuery(
  req: {
    textView?: PmapView;
    quiet?: boolean;
    showPath?: boolean;
    kernelNames?: boolean;
  },
  ve: boolean,
): TextQuery | undefined {
  const view = req.textView ?? PmapView.PMAP_VIEW_UNSPECIFIED;
  if (view === PmapView.PMAP_VIEW_UNSPECIFIED) return undefined;
  if (PROCPS_MODES[view] === undefined && view !== PmapView.PMAP_VIEW_ILLUMOS) {
    throw invalidArgument('text_view', `text_view: unknown view ${view}`);
  }
  if (ve && view !== PmapView.PMAP_VIEW_DEFAULT && view !== PmapView.PMAP_VIEW_SMAPS_ALL) {
    throw invalidArgument(
      'text_view',
      `text_view: a VE process has the views DEFAULT and SMAPS_ALL only, got ${PmapView[view]}`,
    );
  }
  return {
    view,
    quiet: req.quiet ?? false,
    showPath: req.showPath ?? false,
    kernelNames: req.kernelNames ?? false,
  };
}

/** Whether the view needs smaps detail. */
export function viewNeedsSmaps(view: PmapView): boolean {
  return SMAPS_VIEWS.has(view);
}

/**
 * A renderer of the view one row at a time while the map is read (procps plain, -x, -d: their
 * rows have fixed widths) for a host process; undefined for the other views and VE processes.
 */
export function rowRenderer(
  header: ProcessHeader,
  q: TextQuery,
  range: AddressRange | undefined,
): PmapRowRenderer | undefined {
  const mode = PROCPS_MODES[q.view];
  if (header.veNode !== undefined || mode === undefined || !isRowMode(mode)) return undefined;
  const opts = { quiet: q.quiet, showPath: q.showPath, kernelNames: q.kernelNames, range };
  return new PmapRowRenderer(header, { ...opts, mode }, 16_384);
}

/** Whether the view has a row renderer (rowRenderer) for host processes. */
export function isRowView(view: PmapView): boolean {
  const mode = PROCPS_MODES[view];
  return mode !== undefined && isRowMode(mode);
}

/** The text of a (range-filtered) map as pmap prints it for the view, as UTF-8 bytes. */
export function renderText(map: MemoryMap, q: TextQuery, range: AddressRange | undefined): Buffer {
  if (map.header.veNode !== undefined) {
    const mode = q.view === PmapView.PMAP_VIEW_SMAPS_ALL ? 'XX' : 'default';
    return Buffer.from(renderVePmap(map, { mode, quiet: q.quiet }), 'utf8');
  }
  if (q.view === PmapView.PMAP_VIEW_ILLUMOS) {
    const text = renderIllumos(map, {
      mode: 'x',
      quiet: q.quiet,
      range,
      pageSize: map.header.pageSize,
    });
    return Buffer.from(text, 'utf8');
  }
  return renderPmapBytes(map, {
    mode: PROCPS_MODES[q.view]!,
    quiet: q.quiet,
    showPath: q.showPath,
    kernelNames: q.kernelNames,
    range,
  });
}
