export * from './types';
export { PagemapReader, pageIndexOf, drain } from './reader';
export type { PagemapReaderOptions, RegionVisitor, ChunkVisitor, Steps } from './reader';
export { OrderAccumulator, compareReversedOrders, sortByReversedOrders } from './order';
export {
  HistogramScanner,
  PhysicalBins,
  computeHistogram,
  iterateHistogram,
  isFileBackedName,
  isHugetlbVma,
  sizeKey,
} from './histogram';
export {
  PAGEMAP_SCAN,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PAGE_IS_FILE,
  PAGE_IS_PRESENT,
  PAGE_IS_SWAPPED,
  PAGE_IS_PFNZERO,
  PAGE_IS_HUGE,
  PAGE_IS_SOFT_DIRTY,
} from './native';
