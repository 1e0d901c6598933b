export * from './types';
export * from './address';
export * from './range';
export * from './errors';
export * from './safe-regex';
export * from './size-key';
export * from './histogram';
export * from './version';
