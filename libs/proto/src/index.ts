export * from './gen/pmap/v1/pmap';
export * from './convert';
export * from './map-wire';
