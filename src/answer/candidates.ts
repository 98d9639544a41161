/**
 * What the registry knows of one service name (PURE), as the selection sees it (SPEC §3 health).
 *
 * Owns: the lookup of a name (local service and remote exports, without our own catalog), the
 * health of the local service against dns.localMinReady / dns.localFailover, and each exporting
 * remote cluster as a ranking candidate with its health.
 * Must never: choose between them; select.ts decides, explain-selection.ts explains.
 * Invariants: a headless service is read through its precomputed ready addresses (O(1), never a
 * walk of its endpoints); a gateway of unknown health counts as up (GatewayHealth); a remote is
 * healthy iff its catalog says ready, the catalog is fresh, and ≥1 gateway is up.
 */
import type { RankInput } from '../locality/rank.js';
import { localHealthy, readyAddressesOf } from '../registry/records.js';
import type { Gateway, LocalService, ReadyAddresses, RemoteExport } from '../registry/types.js';
import type { Query } from './query.js';

export interface Known {
  readonly local: LocalService | undefined;
  /** Remote exports of the name, without the local cluster's own catalog, in cluster-name order. */
  readonly exports: readonly RemoteExport[];
}

export function lookup(st: Query, namespace: string, service: string): Known {
  const reg = st.ctx.registry;
  const local = reg.localService(namespace, service);
  const all = reg.remoteExports(namespace, service);
  const me = st.o.localCluster;
  let exports = all;
  for (const ex of all) {
    // Our own catalog can come back through sync; local services are the truth for this cluster.
    if (ex.catalog.cluster === me) {
      exports = all.filter((e) => e.catalog.cluster !== me);
      break;
    }
  }
  return { local, exports };
}

/** The local service measured against dns.localMinReady and dns.localFailover. */
export interface LocalStanding {
  readonly service: LocalService;
  /** A headless service's ready addresses, precomputed on write; undefined for other kinds. */
  readonly ready: ReadyAddresses | undefined;
  /** dns.localMinReady (default 1). */
  readonly minReady: number;
  /** ≥ minReady ready endpoints: SPEC §1 row 1, with the dns.localMinReady bar. */
  readonly healthy: boolean;
  /** Not healthy, but kept local however unready (dns.localFailover: false). */
  readonly pinned: boolean;
  /** Healthy, or pinned: the local service answers without looking at remote clusters. */
  readonly answersHere: boolean;
  /** Not healthy, yet ≥1 ready endpoint: it spills over to healthy remotes, but beats failing open. */
  readonly belowMin: boolean;
}

export function localStandingOf(st: Query, namespace: string, service: string, local: LocalService): LocalStanding {
  const minReady = st.o.localMinReady ?? 1;
  // A headless service is read through its ready addresses, precomputed on write: O(1) here.
  const ready = local.kind === 'headless' ? (st.ctx.registry.readyAddresses?.(namespace, service) ?? readyAddressesOf(local)) : undefined;
  const healthy = localHealthy(local, minReady, ready);
  const pinned = !healthy && st.o.localFailover === false;
  return {
    service: local,
    ready,
    minReady,
    healthy,
    pinned,
    answersHere: healthy || pinned,
    belowMin: !healthy && localHealthy(local, 1, ready),
  };
}

/** A remote cluster exporting the name, as the ranking sees it. */
export interface Candidate extends RankInput {
  readonly ex: RemoteExport;
  /** Gateways that are not known to be down (unknown health counts as up, GatewayHealth). */
  readonly up: readonly Gateway[];
  /** Best RTT over every gateway, for the fail-open order. */
  readonly rttAllMs: number | undefined;
  /** SPEC §3: ready in its catalog, fresh, and ≥1 healthy gateway. */
  readonly healthy: boolean;
}

export function candidateOf(st: Query, ex: RemoteExport): Candidate {
  const health = st.ctx.health;
  const c = ex.catalog;
  const up: Gateway[] = [];
  let rttMs: number | undefined;
  let rttAllMs: number | undefined;
  for (const g of c.gateways) {
    const ok = health.isHealthy(c.cluster, g.address, g.port) !== false;
    const r = health.rttMs(c.cluster, g.address, g.port);
    if (r !== undefined && (rttAllMs === undefined || r < rttAllMs)) rttAllMs = r;
    if (!ok) continue;
    up.push(g);
    if (r !== undefined && (rttMs === undefined || r < rttMs)) rttMs = r;
  }
  return {
    cluster: c.cluster,
    region: c.region,
    zone: c.zone,
    location: c.location ?? st.ctx.locateCluster?.(c),
    rttMs,
    ex,
    up,
    rttAllMs,
    healthy: ex.service.ready && ex.fresh && up.length > 0,
  };
}

/** Every exporting remote cluster as a candidate (in export order), and the healthy ones. */
export interface Remotes {
  readonly all: readonly Candidate[];
  readonly healthy: readonly Candidate[];
}

export function remotesOf(st: Query, exports: readonly RemoteExport[]): Remotes {
  const all = new Array<Candidate>(exports.length);
  const healthy: Candidate[] = [];
  for (let i = 0; i < exports.length; i++) {
    const c = candidateOf(st, exports[i]!);
    all[i] = c;
    if (c.healthy) healthy.push(c);
  }
  return { all, healthy };
}
