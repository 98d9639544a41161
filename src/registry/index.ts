/** Registry module (PURE): the domain records and the in-memory registry. */
export * from './types.js';
export { Registry } from './registry.js';
export { localHealthy, readyAddressesOf, recordsEqual } from './records.js';
export type { RegistryOptions, RegistryIndexSnapshot } from './registry.js';
export { DEFAULT_WEIGHT, effectivePolicy, localWeightOf, statedPolicy, weightOf } from './traffic.js';
export type { EffectivePolicy } from './traffic.js';
