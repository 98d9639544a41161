/**
 * Metrics of catalog sync (docs/metrics.md, Registry and sync), read from SyncStatus at scrape
 * time. Registered only when sync runs. `peer` is bounded by sync.peers and the sync CA.
 */
import type { PeerState } from './client.js';
import { SYNC_REFUSALS } from './admission.js';
import type { SyncStatus } from './service.js';
import { single, type SnapshotFamily } from '../util/metric-family.js';

const PEER_STATES: readonly PeerState[] = ['connecting', 'synced', 'stale', 'withdrawn', 'rejected'];
const code = (values: readonly string[]): string => values.map((v) => `\`${v}\``).join(', ');

const SYNC_ERROR_REASONS =
  '`unreachable`, `tls`, `identity`, `cluster-mismatch`, `forbidden`, `http-<status>`, `invalid-catalog`, `too-large` (over `sync.maxCatalogBytes`), `too-many-services` (over `sync.maxCatalogServices`), `local-cluster` (the catalog claims this cluster), `invalid-delta` (a delta that did not fit what gsdns holds; the full catalog is fetched next), `internal`';

export const SYNC_METRICS: readonly SnapshotFamily<SyncStatus>[] = [
  {
    name: 'gsdns_sync_peer_state',
    type: 'gauge',
    help: '1 for the state each configured peer is in, 0 for the others.',
    labels: ['peer', 'state'],
    labelValues: { state: code(PEER_STATES) },
    collect: (s) => s.peers.flatMap((p) => PEER_STATES.map((state) => [{ peer: p.peer, state }, p.state === state ? 1 : 0] as const)),
  },
  {
    name: 'gsdns_sync_catalog_updates_total',
    type: 'counter',
    help: 'Peer catalogs applied that changed what gsdns holds.',
    labels: ['peer'],
    collect: (s) => s.peers.map((p) => [{ peer: p.peer }, p.updates] as const),
  },
  {
    name: 'gsdns_sync_catalog_deltas_total',
    type: 'counter',
    help: 'Peer catalogs received as deltas (226 IM Used) instead of in full.',
    labels: ['peer'],
    collect: (s) => s.peers.map((p) => [{ peer: p.peer }, p.deltas] as const),
  },
  {
    name: 'gsdns_sync_errors_total',
    type: 'counter',
    help: 'Failed fetches of a peer catalog, by reason.',
    labels: ['peer', 'reason'],
    labelValues: { reason: SYNC_ERROR_REASONS },
    collect: (s) => s.peers.flatMap((p) => Object.entries(p.errors).map(([reason, n]) => [{ peer: p.peer, reason }, n] as const)),
  },
  {
    name: 'gsdns_sync_last_change_timestamp_seconds',
    type: 'gauge',
    help: 'Unix time of the last peer catalog that changed what gsdns holds.',
    labels: ['peer'],
    collect: (s) => s.peers.filter((p) => p.lastCatalogMs !== undefined).map((p) => [{ peer: p.peer }, p.lastCatalogMs! / 1000] as const),
  },
  {
    name: 'gsdns_sync_last_contact_timestamp_seconds',
    type: 'gauge',
    help: 'Unix time of the last good contact with a peer (a catalog or 304).',
    labels: ['peer'],
    collect: (s) => s.peers.filter((p) => p.lastContactMs !== undefined).map((p) => [{ peer: p.peer }, p.lastContactMs! / 1000] as const),
  },
  {
    name: 'gsdns_sync_server_fetches_total',
    type: 'counter',
    help: 'Our catalog served to each peer (200 and 304), by the identity in its certificate.',
    labels: ['peer'],
    collect: (s) => Object.entries(s.server.fetches).map(([peer, n]) => [{ peer }, n] as const),
  },
  {
    name: 'gsdns_sync_server_deltas_total',
    type: 'counter',
    help: 'Our catalog served as a delta (226 IM Used) to peers that asked for one.',
    labels: [],
    collect: (s) => single(s.server.deltas),
  },
  {
    name: 'gsdns_sync_server_refused_total',
    type: 'counter',
    help: 'Sync connections and requests refused, by reason: before authentication evicted (oldest unauthenticated, at sync.maxConnections), max_connections, per_source, descriptors, handshake_timeout, handshake (failed); after it identity, connections (per peer).',
    labels: ['reason'],
    labelValues: { reason: code(SYNC_REFUSALS) },
    note: '`max_connections` is refused at the cap with every connection authenticated, `per_source` is `sync.maxConnectionsPerSource`, `descriptors` the descriptor budget, `handshake_timeout` no ClientHello or a slow handshake (`sync.handshakeTimeoutMs`).',
    collect: (s) => SYNC_REFUSALS.map((reason) => [{ reason }, s.server.refused[reason]] as const),
  },
  {
    name: 'gsdns_sync_server_connections',
    type: 'gauge',
    help: 'Open connections to the sync port, by state: unauthenticated (TLS handshake not finished) or authenticated.',
    labels: ['state'],
    labelValues: { state: '`unauthenticated`, `authenticated`' },
    collect: (s) => {
      const c = s.server.connections;
      return [
        [{ state: 'unauthenticated' }, c.unauthenticated],
        [{ state: 'authenticated' }, c.open - c.unauthenticated],
      ];
    },
  },
];
