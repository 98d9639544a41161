/**
 * Admission to the sync server's port (edge: sockets): which connections it holds, before and
 * after authentication, and the refusals, counted by reason and logged consolidated.
 *
 * Owns: the count of open connections (from accept until the TCP socket closes), the unauthenticated
 * ones oldest first and by source address, connections per peer identity, the refusal counters and
 * their log (one line per reason per window), and the sockets to destroy at shutdown.
 * Never: does TLS or HTTP work (server.ts hands it the raw TCP socket before the TLS server sees it,
 * the TLS socket once its handshake completes, and handshake errors); holds more than
 * `maxConnections` connections (at the cap the oldest unauthenticated one makes room), more than
 * `maxConnectionsPerSource` unauthenticated ones from one address, one past the descriptor budget,
 * or more than `maxConnectionsPerPeer` connections from one identity; logs a line per refused
 * connection (a flood is a count).
 * Invariants: a refused connection is reset before any TLS work; every admitted connection is
 * counted open until its TCP socket closes, and unauthenticated until its handshake completes; its
 * descriptor is released exactly once, when its socket closes (even when evicted earlier).
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import { ConsolidatedLog } from '../util/consolidated-log.js';
import type { DescriptorBudget, DescriptorBudgetStatus } from '../util/descriptors.js';
import { clusterIdentity } from './identity.js';

export interface AdmissionOptions {
  readonly trustDomain: string;
  readonly logger: Logger;
  /** Default 4: a peer needs one for its long poll, plus room for a reconnect overlapping it. */
  readonly maxConnectionsPerPeer?: number | undefined;
  /** Open connections in total, authenticated or not (sync.maxConnections). Default 512. */
  readonly maxConnections?: number | undefined;
  /** Unauthenticated connections from one address (sync.maxConnectionsPerSource). Default 16. */
  readonly maxConnectionsPerSource?: number | undefined;
  /** A TLS handshake not finished this long after accept is closed (sync.handshakeTimeoutMs). Default 5000. */
  readonly handshakeTimeoutMs?: number | undefined;
  /** Refuse connections that would take the process past its descriptor budget. */
  readonly descriptors?: DescriptorBudget | undefined;
  /** Window of the consolidated refusal log. Default 30 s. */
  readonly refusalLogWindowMs?: number | undefined;
}

/**
 * Why a connection or request was refused (the `reason` label of gsdns_sync_server_refused_total):
 * before authentication `evicted` (the oldest unauthenticated connection, closed at the total cap
 * to admit a new one), `max_connections` (the newcomer, when every connection is authenticated),
 * `per_source`, `descriptors`, `handshake_timeout`
 * (no ClientHello, or a handshake too slow), `handshake` (failed: certificate not from the CA,
 * expired or missing, or not TLS at all); after it `identity` (no cluster in the certificate) and
 * `connections` (maxConnectionsPerPeer).
 */
export type SyncRefusal =
  'evicted' | 'max_connections' | 'per_source' | 'descriptors' | 'handshake_timeout' | 'handshake' | 'identity' | 'connections';

export const SYNC_REFUSALS: readonly SyncRefusal[] = [
  'evicted',
  'max_connections',
  'per_source',
  'descriptors',
  'handshake_timeout',
  'handshake',
  'identity',
  'connections',
];

export interface AdmissionStats {
  /** Every refusal by reason. */
  readonly refused: Readonly<Record<SyncRefusal, number>>;
  /** Open connections: in total, and those whose TLS handshake has not completed. */
  readonly connections: { readonly open: number; readonly unauthenticated: number; readonly max: number; readonly maxPerSource: number };
  readonly handshakeTimeoutMs: number;
  /** The descriptor budget: soft limit, reserve, estimated use; absent when not configured. */
  readonly descriptors?: DescriptorBudgetStatus | undefined;
}

interface Connection {
  /** `address|port`. */
  readonly key: string;
  readonly source: string;
  readonly socket: Socket;
  authenticated: boolean;
}

export class SyncAdmission {
  readonly handshakeTimeoutMs: number;
  private readonly sockets = new Set<Socket>();
  private readonly perPeer = new Map<string, number>();
  private readonly refused = Object.fromEntries(SYNC_REFUSALS.map((r) => [r, 0])) as Record<SyncRefusal, number>;
  /** Open connections by `address|port`, from accept until the TCP socket closes (or eviction). */
  private readonly connections = new Map<string, Connection>();
  /** The unauthenticated ones, oldest first (a Map iterates in insertion order). */
  private readonly pending = new Map<string, Connection>();
  private readonly unauthenticatedBySource = new Map<string, number>();
  /**
   * Evicted connections whose TLS socket has yet to report the reset: tls.Server reports each as a
   * handshake error (ECONNRESET), which is counted as `evicted` already, not again as `handshake`.
   */
  private evictionResets = 0;
  private readonly maxConnections: number;
  private readonly maxConnectionsPerSource: number;
  private readonly refusalLog: ConsolidatedLog;

  constructor(private readonly opts: AdmissionOptions) {
    this.maxConnections = opts.maxConnections ?? 512;
    this.maxConnectionsPerSource = opts.maxConnectionsPerSource ?? 16;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 5000;
    // A stranger can make refusals as fast as it can connect: one line per reason per window.
    this.refusalLog = new ConsolidatedLog(opts.logger, { windowMs: opts.refusalLogWindowMs ?? 30_000, rolling: true });
  }

  stats(): AdmissionStats {
    return {
      refused: { ...this.refused },
      connections: {
        open: this.connections.size,
        unauthenticated: this.pending.size,
        max: this.maxConnections,
        maxPerSource: this.maxConnectionsPerSource,
      },
      handshakeTimeoutMs: this.handshakeTimeoutMs,
      descriptors: this.opts.descriptors?.status(),
    };
  }

  /** Stop logging refusals (flushes the consolidated log). */
  closeLog(): void {
    this.refusalLog.close();
  }

  /** Destroy every socket still open (shutdown). */
  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  refuse(reason: SyncRefusal, detail: object, message: string): void {
    this.refused[reason]++;
    this.refusalLog.warn({ refusal: reason, ...detail }, message);
  }

  /**
   * A TCP connection was accepted: admit it (counted open, and unauthenticated until its handshake
   * completes) or reset it at once. Checked in order of cost: this source's unauthenticated
   * connections, the descriptor budget (a sampled count), then the total. At the total cap the
   * oldest unauthenticated connection is closed to admit the new one (it had the longest to finish
   * its handshake; a peer's connection is authenticated within a round trip or two), so strangers
   * from many addresses cannot hold the port shut against a peer reconnecting; the newcomer is
   * refused only when every connection is authenticated.
   */
  admitTcp(socket: Socket): boolean {
    const source = socket.remoteAddress ?? '';
    const key = `${source}|${socket.remotePort ?? ''}`;
    if ((this.unauthenticatedBySource.get(source) ?? 0) >= this.maxConnectionsPerSource) {
      return this.reset(
        socket,
        'per_source',
        { max: this.maxConnectionsPerSource },
        'sync: connection refused: sync.maxConnectionsPerSource unauthenticated connections from one address',
      );
    }
    const descriptors = this.opts.descriptors;
    if (descriptors && !descriptors.tryAcquire()) {
      return this.reset(
        socket,
        'descriptors',
        { ...descriptors.status() },
        'sync: connection refused: descriptors in use at the budget (soft limit minus the reserve for DNS, forwarding and HTTP)',
      );
    }
    if (this.connections.size >= this.maxConnections) {
      const oldest = this.pending.values().next();
      if (oldest.done === true) {
        descriptors?.release();
        return this.reset(
          socket,
          'max_connections',
          { max: this.maxConnections },
          'sync: connection refused: sync.maxConnections reached, every connection authenticated',
        );
      }
      this.forget(oldest.value);
      this.evictionResets++;
      oldest.value.socket.destroy();
      this.refuse(
        'evicted',
        { max: this.maxConnections },
        'sync: sync.maxConnections reached: closed the oldest unauthenticated connection to admit a new one',
      );
    }
    const conn: Connection = { key, source, socket, authenticated: false };
    this.connections.set(key, conn);
    this.pending.set(key, conn);
    this.unauthenticatedBySource.set(source, (this.unauthenticatedBySource.get(source) ?? 0) + 1);
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      // The descriptor is free only now, even for a connection evicted earlier.
      descriptors?.release();
      this.forget(conn);
    });
    return true;
  }

  /** The TLS handshake completed: authenticated, then held to the per-peer cap. */
  secured(socket: TLSSocket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.authenticated(socket);
    this.admitPeer(socket);
  }

  /** A handshake that did not complete: counted (and logged) by why. */
  handshakeFailed(err: NodeJS.ErrnoException, socket: TLSSocket): void {
    if (err.code === 'ECONNRESET' && this.evictionResets > 0) {
      this.evictionResets--;
      return;
    }
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') {
      return this.refuse(
        'handshake_timeout',
        { timeoutMs: this.handshakeTimeoutMs },
        'sync: TLS handshake not finished in time (sync.handshakeTimeoutMs); connection closed',
      );
    }
    // The verification failure is on the socket (err says only "socket hang up").
    const authError = socket.authorizationError;
    if (authError) {
      this.refuse(
        'handshake',
        { reason: String(authError), remote: socket.remoteAddress },
        'sync: TLS handshake refused: the client certificate is not from sync.tls.ca, expired, or missing',
      );
    } else {
      this.refuse(
        'handshake',
        { reason: err.message, remote: socket.remoteAddress },
        'sync: TLS handshake did not complete (not TLS, or the client refused our certificate)',
      );
    }
  }

  /** An RST, not a FIN: nothing was said on this connection, and its port is free at once. */
  private reset(socket: Socket, reason: SyncRefusal, detail: object, message: string): false {
    socket.resetAndDestroy();
    this.refuse(reason, detail, message);
    return false;
  }

  /** The handshake completed: the connection no longer counts against its source's cap. */
  private authenticated(socket: TLSSocket): void {
    const conn = this.connections.get(`${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}`);
    if (!conn || conn.authenticated) return;
    conn.authenticated = true;
    this.leavePending(conn);
  }

  /** Stop counting a connection (closed, or evicted and about to close); idempotent. */
  private forget(conn: Connection): void {
    if (this.connections.get(conn.key) !== conn) return;
    this.connections.delete(conn.key);
    if (!conn.authenticated) this.leavePending(conn);
  }

  private leavePending(conn: Connection): void {
    if (!this.pending.delete(conn.key)) return;
    const n = (this.unauthenticatedBySource.get(conn.source) ?? 1) - 1;
    if (n <= 0) this.unauthenticatedBySource.delete(conn.source);
    else this.unauthenticatedBySource.set(conn.source, n);
  }

  private admitPeer(socket: TLSSocket): void {
    const id = clusterIdentity(socket.getPeerCertificate()?.subjectaltname, this.opts.trustDomain);
    if (!id.ok) return; // answered 403 per request, with the reason
    const max = this.opts.maxConnectionsPerPeer ?? 4;
    const n = this.perPeer.get(id.cluster) ?? 0;
    if (n >= max) {
      this.refuse('connections', { peer: id.cluster, max }, 'sync: too many connections from one peer; closing the new one');
      socket.destroy();
      return;
    }
    this.perPeer.set(id.cluster, n + 1);
    socket.once('close', () => {
      const left = (this.perPeer.get(id.cluster) ?? 1) - 1;
      if (left <= 0) this.perPeer.delete(id.cluster);
      else this.perPeer.set(id.cluster, left);
    });
  }
}
