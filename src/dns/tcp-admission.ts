/**
 * Admission policy of the DNS-over-TCP listener: which connection to let in, and which to drop to
 * make room, under the total cap and the per-client cap (KNOWN-DEFECTS D6, issue 12).
 *
 * Owns: the table of open connections, their count per client address, and which of them are
 * evictable, in least-recently-active order.
 * Never: touches a socket, reads a clock or sets a timer (PURE: the edge in server.ts does the I/O
 * and tells this table what happened).
 *
 * Policy. A connection is *evictable* while no query of it is in flight (it is idle, mid-message,
 * or holding replies its peer does not read); it is *busy* while at least one query awaits its
 * answer. When a new connection arrives:
 * - its client is at `maxPerClient`: the oldest evictable connection OF THAT CLIENT makes room; if
 *   every one of them is busy, the new one is refused. A client that opens too many connections
 *   only ever displaces its own; CoreDNS, which keeps a few pooled connections per upstream and
 *   lets unused ones expire, is never refused for reopening one.
 * - otherwise, the listener is at `maxConnections`: the oldest evictable connection of ANY client
 *   makes room; if every connection is busy, the new one is refused.
 * "Oldest" is least recently active: a connection moves to the back of the line when it is
 * accepted, when a complete message of it is taken, and when it stops being busy. A slow client
 * that never completes a message therefore stays at the front, behind no active one.
 *
 * Invariants:
 * - `size` equals the connections added and not yet removed; the per-client counts sum to it.
 * - Every connection is in exactly one of {evictable, busy}; the evictable ones are in both the
 *   listener-wide and their client's insertion-ordered Set, in the same relative order.
 * - Every operation is O(1) (Set/Map insertion order gives the LRU; no scan of the table).
 */

export interface TcpAdmissionLimits {
  /** Most open connections in total (`dns.tcp.maxConnections`). */
  readonly maxConnections: number;
  /** Most open connections from one client address (`dns.tcp.maxConnectionsPerClient`). */
  readonly maxPerClient: number;
}

/** The cap a decision was made at. */
export type AdmissionCap = 'total' | 'perClient';

export type AdmissionDecision<C> =
  | { readonly kind: 'admit' }
  /** Admit after closing `victim` (its `remove` is the caller's job, before `add`). */
  | { readonly kind: 'evict'; readonly victim: C; readonly cap: AdmissionCap }
  /** Every connection that could make room is busy. */
  | { readonly kind: 'refuse'; readonly cap: AdmissionCap };

interface ClientEntry<C> {
  open: number;
  /** This client's evictable connections, least recently active first. */
  readonly evictable: Set<C>;
}

interface ConnectionEntry<C> {
  readonly client: ClientEntry<C>;
  readonly clientKey: string;
  busy: boolean;
}

export class TcpAdmission<C> {
  private readonly connections = new Map<C, ConnectionEntry<C>>();
  private readonly clients = new Map<string, ClientEntry<C>>();
  /** Every evictable connection, least recently active first. */
  private readonly evictable = new Set<C>();

  constructor(private readonly limits: TcpAdmissionLimits) {}

  /** Open connections. */
  get size(): number {
    return this.connections.size;
  }

  /** What to do with a new connection from `clientKey`. Changes nothing. */
  decide(clientKey: string): AdmissionDecision<C> {
    const client = this.clients.get(clientKey);
    if (client && client.open >= this.limits.maxPerClient) {
      const victim = first(client.evictable);
      return victim === undefined ? { kind: 'refuse', cap: 'perClient' } : { kind: 'evict', victim, cap: 'perClient' };
    }
    if (this.connections.size >= this.limits.maxConnections) {
      const victim = first(this.evictable);
      return victim === undefined ? { kind: 'refuse', cap: 'total' } : { kind: 'evict', victim, cap: 'total' };
    }
    return { kind: 'admit' };
  }

  /** Record an admitted connection; it starts evictable, as the most recently active. */
  add(connection: C, clientKey: string): void {
    if (this.connections.has(connection)) return;
    let client = this.clients.get(clientKey);
    if (!client) {
      client = { open: 0, evictable: new Set() };
      this.clients.set(clientKey, client);
    }
    client.open++;
    this.connections.set(connection, { client, clientKey, busy: false });
    this.evictable.add(connection);
    client.evictable.add(connection);
  }

  /** Forget a closed connection. Idempotent. */
  remove(connection: C): void {
    const entry = this.connections.get(connection);
    if (!entry) return;
    this.connections.delete(connection);
    this.evictable.delete(connection);
    entry.client.evictable.delete(connection);
    if (--entry.client.open === 0) this.clients.delete(entry.clientKey);
  }

  /** A query of it is in flight: it may not be evicted. */
  markBusy(connection: C): void {
    const entry = this.connections.get(connection);
    if (!entry || entry.busy) return;
    entry.busy = true;
    this.evictable.delete(connection);
    entry.client.evictable.delete(connection);
  }

  /** Nothing of it is in flight any more: evictable again, as the most recently active. */
  markIdle(connection: C): void {
    const entry = this.connections.get(connection);
    if (!entry) return;
    entry.busy = false;
    this.moveToBack(connection, entry);
  }

  /** It made progress (a complete message arrived): an evictable one moves to the back of the line. */
  touch(connection: C): void {
    const entry = this.connections.get(connection);
    if (!entry || entry.busy) return;
    this.moveToBack(connection, entry);
  }

  /** Every open connection (to close them all at shutdown). */
  all(): IterableIterator<C> {
    return this.connections.keys();
  }

  /** Whether it may be evicted (tests and assertions). */
  isEvictable(connection: C): boolean {
    return this.evictable.has(connection);
  }

  private moveToBack(connection: C, entry: ConnectionEntry<C>): void {
    // Set keeps insertion order; delete + add re-inserts at the end.
    this.evictable.delete(connection);
    this.evictable.add(connection);
    entry.client.evictable.delete(connection);
    entry.client.evictable.add(connection);
  }
}

function first<C>(set: Set<C>): C | undefined {
  for (const item of set) return item;
  return undefined;
}
