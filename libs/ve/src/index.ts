export * from './types';
export * from './mapinfo';
export * from './pseudo';
export {
  openVeSource,
  isVeUnavailable,
  DEFAULT_LIBRARY_PATHS,
  DEFAULT_SYSFS_ROOT,
  DEFAULT_SOCKET_DIR,
  VE_PAGE_SIZE,
} from './source';
export { veErrnoCode, VE_PATH_MAX } from './veosinfo';
export { nodeState } from './sysfs';
export {
  veHistogram,
  residentBytes,
  assertVeHistogramKind,
  type VeHistogramOptions,
} from './histogram';
