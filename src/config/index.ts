/**
 * The config module: schema, loading, reference rendering, and the Config type.
 * Modules receive the typed, frozen `Config` (or a slice of it); only main.ts calls loadConfig.
 */
export { loadConfig, embeddedConfigPath, formatIssues, CONFIG_FILE_ENV, ENV_PREFIX, ENV_SEPARATOR, RESERVED_ENV } from './load.js';
export type { LoadConfigOptions, LoadConfigResult } from './load.js';
export { formatPath } from '../util/yaml-schema.js';
export { configSchema, schemaAt } from './schema.js';
export type { JsonSchema, JsonType } from './schema.js';
export { formats, isCidr, isDnsLabel, isDomainName, parseHostPort, parseUpstream, RESOLV_CONF } from '../util/formats.js';
export type { FormatName, HostPort } from '../util/formats.js';
export { renderConfigReference } from './reference.js';
export type * from './types.js';
