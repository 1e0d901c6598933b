export * from './types';
export { PagemapReader, pageIndexOf } from './reader';
export type { PagemapReaderOptions, RegionVisitor, ChunkVisitor } from './reader';
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
export { PAGEMAP_SCAN } from './native';
