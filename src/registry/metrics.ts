/**
 * Metrics of the registry (docs/metrics.md, Registry and sync). PURE, like the registry: a
 * declaration and a function of counts the composition root reads from RegistryReader.
 */
import { type SnapshotFamily } from '../util/metric-family.js';

/** Services held: local (this cluster) and remote (summed over peer catalogs). */
export interface RegistryCounts {
  readonly local: number;
  readonly remote: number;
}

export const REGISTRY_METRICS: readonly SnapshotFamily<RegistryCounts>[] = [
  {
    name: 'gsdns_registry_services',
    type: 'gauge',
    help: 'Services in the registry: local (this cluster) and remote (summed over peer catalogs).',
    labels: ['origin'],
    labelValues: { origin: 'local, remote' },
    collect: (counts) => [
      [{ origin: 'local' }, counts.local],
      [{ origin: 'remote' }, counts.remote],
    ],
  },
];
