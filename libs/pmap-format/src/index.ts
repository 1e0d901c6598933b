export * from './types';
export { renderPmap, renderPmapBytes } from './procps';
export { isRowMode, PmapRowRenderer, type PmapRowMode } from './procps-rows';
export { renderVePmap } from './ve';
export { renderIllumos } from './illumos';
export {
  renderHistogram,
  renderMemHist,
  type HistogramRenderOptions,
  type HistogramTextInput,
} from './histogram';
export {
  pmapDisplayName,
  pmapFirstLine,
  pmapCommandLine,
  extendedMappingName,
  type DisplayNameOptions,
} from './names';
export { parsePmapFlags, type ParsedPmapFlags } from './flags';
