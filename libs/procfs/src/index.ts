export * from './types';
export * from './parse';
export * from './classify';
export * from './errors';
export * from './reader';
export * from './cgroup-match';
export * from './capabilities';
export * from './pagemap';
