export * from './reloading-files';
