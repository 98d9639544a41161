/**
 * The config module: schema, loading, reference rendering, and the Config type.
 * Modules receive the typed, frozen `Config` (or a slice of it); only main.ts calls loadConfig.
 */
export { loadConfig, embeddedConfigPath, formatIssues, formatPath, CONFIG_FILE_ENV, ENV_PREFIX, ENV_SEPARATOR, RESERVED_ENV } from './load.js';
export type { LoadConfigOptions, LoadConfigResult } from './load.js';
export {
  configSchema,
  formats,
  isCidr,
  isDnsLabel,
  isDomainName,
  parseHostPort,
  parseUpstream,
  RESOLV_CONF,
  schemaAt,
} from './schema.js';
export type { FormatName, HostPort, JsonSchema, JsonType } from './schema.js';
export { renderConfigReference } from './reference.js';
export type * from './types.js';
