export * from './pipeline';
export { loadConfig, configSchema, ConfigError, type Config } from './config';
export { GiraffeError, errorCatalogue, isGiraffeError, type ErrorCode } from './errors';
export * from './client';
