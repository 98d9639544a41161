/**
 * Metrics of locality: whether geoip-lite (about 150 MB) is in memory (docs/metrics.md, DNS).
 */
import { single, type SnapshotFamily } from '../util/metric-family.js';

/** Read from GeoIp.loaded (src/locality/geoip.ts). */
export const GEOIP_LOADED: SnapshotFamily<boolean> = {
  name: 'gsdns_geoip_loaded',
  type: 'gauge',
  help: '1 once geoip-lite (about 150 MB) is loaded: locality.geoipPreload, or the first remote ranking for an ECS client or an unlocated cluster; 0 before.',
  labels: [],
  note: 'See [geoip-lite and memory](health-and-locality.md#geoip-lite-and-memory).',
  collect: (loaded) => single(loaded ? 1 : 0),
};

export const LOCALITY_METRICS: readonly SnapshotFamily<boolean>[] = [GEOIP_LOADED];
