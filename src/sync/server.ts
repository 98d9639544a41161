/**
 * Sync server (edge): this cluster's catalog at `GET /v1/catalog` over HTTPS with mutual TLS
 * (SPEC §2 "Sync protocol").
 *
 * Owns: the HTTPS listener; admission before authentication (a total connection cap, a cap on
 * unauthenticated connections per source address, the descriptor budget, and a handshake
 * deadline); client-certificate identity (which peer is asking); conditional requests
 * (`If-None-Match` → 304) and long polls (`?wait=N`, at most 60 s: answered as soon as the
 * catalog's ETag changes, else 304 when the wait ends); deltas (`A-IM: gsdns-delta` → 226 with
 * what changed since the version the client names, from the last DELTA_HISTORY versions, one
 * encoding per base shared by every peer; delta.ts); request limits; per-peer fetch counters;
 * refusal counters by reason, logged consolidated (one line per reason per window).
 * Never: serves anything but this cluster's exported catalog; serves a client whose certificate
 * does not chain to `sync.tls.ca` (the TLS handshake fails) or names no cluster in the trust domain
 * (403); holds more than `maxConnections` connections (at the cap the oldest unauthenticated one
 * makes room), more than `maxConnectionsPerSource` unauthenticated ones from one address, one past the descriptor budget, an unfinished handshake
 * longer than `handshakeTimeoutMs`, or more than `maxConnectionsPerPeer` connections from one
 * identity; logs a line per refused connection (a flood is a count).
 * Invariants: a refused connection is closed before any TLS work; every accepted connection is
 * counted open until its TCP socket closes, and unauthenticated until its handshake completes; a
 * waiting long poll is answered exactly once (change, timeout, or close), and its timer is
 * cleared; TLS file rotation applies to new connections without a restart.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import { ConsolidatedLog } from '../util/consolidated-log.js';
import type { DescriptorBudget, DescriptorBudgetStatus } from '../util/descriptors.js';
import { clusterIdentity } from './identity.js';
import { DELTA_IM, encodeDelta, IM_USED, namesDelta, versionSize, type CatalogVersion } from './delta.js';
import { CATALOG_CONTENT_TYPE, MAX_WAIT_SECONDS } from './protocol.js';
import type { TlsFiles, TlsMaterial } from './tls-files.js';

export interface CatalogSnapshot {
  readonly json: string;
  readonly etag: string;
  readonly services: number;
  /** Its parts, so later versions can be sent as deltas against it (absent: never a delta base). */
  readonly version?: CatalogVersion | undefined;
}

/** Versions kept as delta bases (delta.ts): a peer at most this many changes behind gets a delta. */
export const DELTA_HISTORY = 8;
/** …and at most this many octets of them (a 10,000-service catalog's version is about 3 MB). */
export const DELTA_HISTORY_BYTES = 32 * 1024 * 1024;

export interface SyncServerOptions {
  readonly address: string;
  readonly port: number;
  readonly trustDomain: string;
  readonly tls: TlsFiles;
  readonly snapshot: () => CatalogSnapshot;
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

export interface SyncServerStats {
  /** Catalog responses (200 and 304) by requesting cluster. */
  readonly fetches: Readonly<Record<string, number>>;
  readonly notModified: number;
  /** Catalogs sent as deltas (226 IM Used). */
  readonly deltas: number;
  /** Requests refused for a certificate without a cluster identity. */
  readonly refusedIdentity: number;
  /** Connections closed at once because the identity had too many. */
  readonly refusedConnections: number;
  /** TLS handshakes refused (client certificate not from the CA, expired, or missing). */
  readonly refusedHandshakes: number;
  readonly waiting: number;
  readonly lastFetchMs: Readonly<Record<string, number>>;
  /** Every refusal by reason (the three fields above are among them). */
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

interface Waiter {
  readonly res: ServerResponse;
  readonly etag: string;
  readonly peer: string;
  /** It asked for a delta (A-IM) against `etag`. */
  readonly delta: boolean;
  readonly timer: NodeJS.Timeout;
}

const MAX_HEADER_BYTES = 8 * 1024;

function tlsOptions(m: TlsMaterial) {
  return { ca: m.ca, cert: m.cert, key: m.key };
}

export class SyncServer {
  private server: Server | undefined;
  private readonly waiters = new Set<Waiter>();
  private readonly sockets = new Set<Socket>();
  private readonly perPeer = new Map<string, number>();
  private readonly fetches: Record<string, number> = {};
  private readonly lastFetchMs: Record<string, number> = {};
  private notModified = 0;
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
  private readonly handshakeTimeoutMs: number;
  private readonly refusalLog: ConsolidatedLog;
  private lastEtag: string | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Recent versions, oldest first, the current one last; bounded by DELTA_HISTORY(_BYTES). */
  private readonly history: (CatalogVersion & { readonly size: number })[] = [];
  /** Delta bodies to the current version, by base ETag (one encoding serves every peer). */
  private readonly deltaBodies = new Map<string, string | undefined>();
  private deltasServed = 0;

  constructor(private readonly opts: SyncServerOptions) {
    this.maxConnections = opts.maxConnections ?? 512;
    this.maxConnectionsPerSource = opts.maxConnectionsPerSource ?? 16;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 5000;
    // A stranger can make refusals as fast as it can connect: one line per reason per window.
    this.refusalLog = new ConsolidatedLog(opts.logger, { windowMs: opts.refusalLogWindowMs ?? 30_000, rolling: true });
  }

  async start(): Promise<AddressInfo> {
    const server = createServer(
      {
        ...tlsOptions(this.opts.tls.current()),
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        maxHeaderSize: MAX_HEADER_BYTES,
        // Node's default is 120 s: two minutes of a descriptor and a TLS state per silent socket.
        handshakeTimeout: this.handshakeTimeoutMs,
      },
      (req, res) => this.handle(req, res),
    );
    // Admission runs on the raw TCP socket, before the TLS server wraps it: tls.Server starts the
    // handshake from its own 'connection' listener, so that listener is called only for admitted
    // sockets (a refused one costs an accept and a close, no TLS state).
    const tlsListeners = server.listeners('connection') as ((socket: Socket) => void)[];
    if (tlsListeners.length !== 1) throw new Error(`sync: expected the TLS server's one connection listener, found ${tlsListeners.length}`);
    const startTls = tlsListeners[0]!;
    server.removeListener('connection', startTls);
    server.on('connection', (socket: Socket) => {
      if (this.admitTcp(socket)) startTls.call(server, socket);
    });
    // A GET has no body; headers must arrive promptly. Long polls last up to 60 s plus slack.
    server.headersTimeout = 10_000;
    server.requestTimeout = (MAX_WAIT_SECONDS + 15) * 1000;
    server.keepAliveTimeout = 75_000;
    server.on('secureConnection', (socket: TLSSocket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.authenticated(socket);
      this.admit(socket);
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
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
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    this.unsubscribe = this.opts.tls.onChange((m) => server.setSecureContext(tlsOptions(m)));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const first = this.opts.snapshot();
    this.lastEtag = first.etag;
    if (first.version !== undefined) this.remember(first.version);
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.refusalLog.close();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.res.destroy();
    }
    this.waiters.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    // Stop accepting first, then drop every connection (idle keep-alives and held long polls):
    // peers reconnect elsewhere or see us gone, which is the point.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** The catalog may have changed: answer every long poll that waits on an older ETag. */
  notify(): void {
    const snap = this.opts.snapshot();
    if (snap.etag === this.lastEtag) return;
    this.lastEtag = snap.etag;
    if (snap.version !== undefined) this.remember(snap.version);
    for (const w of [...this.waiters]) {
      if (w.etag === snap.etag) continue;
      this.finishWaiter(w);
      this.send(w.res, w.peer, snap, w.delta ? w.etag : undefined);
    }
  }

  stats(): SyncServerStats {
    return {
      fetches: { ...this.fetches },
      notModified: this.notModified,
      deltas: this.deltasServed,
      refusedIdentity: this.refused.identity,
      refusedConnections: this.refused.connections,
      refusedHandshakes: this.refused.handshake,
      waiting: this.waiters.size,
      lastFetchMs: { ...this.lastFetchMs },
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

  /**
   * A TCP connection was accepted: admit it (counted open, and unauthenticated until its handshake
   * completes) or reset it at once. Checked in order of cost: this source's unauthenticated
   * connections, the descriptor budget (a sampled count), then the total. At the total cap the
   * oldest unauthenticated connection is closed to admit the new one (it had the longest to finish
   * its handshake; a peer's connection is authenticated within a round trip or two), so strangers
   * from many addresses cannot hold the port shut against a peer reconnecting; the newcomer is
   * refused only when every connection is authenticated.
   */
  private admitTcp(socket: Socket): boolean {
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

  private refuse(reason: SyncRefusal, detail: object, message: string): void {
    this.refused[reason]++;
    this.refusalLog.warn({ refusal: reason, ...detail }, message);
  }

  private admit(socket: TLSSocket): void {
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

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as TLSSocket;
    const id = clusterIdentity(socket.getPeerCertificate()?.subjectaltname, this.opts.trustDomain);
    if (!id.ok) {
      this.refuse(
        'identity',
        { remote: socket.remoteAddress, reason: id.reason },
        'sync: refused a client certificate without a cluster identity',
      );
      return this.error(res, 403, id.reason);
    }
    const url = new URL(req.url ?? '/', 'https://sync.invalid');
    if (url.pathname !== '/v1/catalog') return this.error(res, 404, `no such endpoint ${url.pathname}; the catalog is at /v1/catalog`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return this.error(res, 405, 'only GET');
    }
    const waitText = url.searchParams.get('wait');
    let waitSeconds = 0;
    if (waitText !== null) {
      if (!/^\d{1,5}$/.test(waitText)) return this.error(res, 400, 'wait must be a whole number of seconds');
      waitSeconds = Math.min(MAX_WAIT_SECONDS, Number(waitText));
    }
    const snap = this.opts.snapshot();
    if (snap.version !== undefined) this.remember(snap.version);
    const known = parseIfNoneMatch(req.headers['if-none-match']);
    // A delta is made against one version the client names as the one it holds.
    const wantsDelta = known.size === 1 && !known.has('*') && namesDelta(req.headers['a-im']);
    if (!known.has(snap.etag) && !known.has('*')) return this.send(res, id.cluster, snap, wantsDelta ? [...known][0] : undefined);
    if (waitSeconds === 0) return this.notModifiedReply(res, id.cluster, snap.etag);
    const waiter: Waiter = {
      res,
      etag: snap.etag,
      peer: id.cluster,
      delta: wantsDelta,
      timer: setTimeout(() => {
        this.finishWaiter(waiter);
        this.notModifiedReply(res, id.cluster, snap.etag);
      }, waitSeconds * 1000),
    };
    this.waiters.add(waiter);
    res.once('close', () => this.finishWaiter(waiter));
  }

  private finishWaiter(w: Waiter): void {
    clearTimeout(w.timer);
    this.waiters.delete(w);
  }

  private count(peer: string): void {
    if (this.fetches[peer] === undefined) this.opts.logger.info({ peer }, 'sync: a peer fetched our catalog for the first time');
    this.fetches[peer] = (this.fetches[peer] ?? 0) + 1;
    this.lastFetchMs[peer] = Date.now();
  }

  /**
   * The current catalog, as a delta against `deltaBase` when that version is still kept and the
   * delta is smaller than the catalog, else in full.
   */
  private send(res: ServerResponse, peer: string, snap: CatalogSnapshot, deltaBase?: string): void {
    if (res.writableEnded || res.destroyed) return;
    this.count(peer);
    const delta = deltaBase === undefined ? undefined : this.deltaBody(snap, deltaBase);
    if (delta !== undefined) {
      this.deltasServed++;
      res.writeHead(IM_USED, {
        'content-type': CATALOG_CONTENT_TYPE,
        etag: snap.etag,
        im: DELTA_IM,
        'cache-control': 'no-store',
        'content-length': Buffer.byteLength(delta),
      });
      res.end(res.req.method === 'HEAD' ? undefined : delta);
      return;
    }
    res.writeHead(200, {
      'content-type': CATALOG_CONTENT_TYPE,
      etag: snap.etag,
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(snap.json),
    });
    res.end(res.req.method === 'HEAD' ? undefined : snap.json);
  }

  /** The delta body from `base` to the current version (cached per base), or undefined. */
  private deltaBody(snap: CatalogSnapshot, base: string): string | undefined {
    const current = snap.version;
    if (current === undefined || current.etag !== snap.etag) return undefined;
    if (this.deltaBodies.has(base)) return this.deltaBodies.get(base);
    const from = this.history.find((v) => v.etag === base);
    let body: string | undefined = from === undefined ? undefined : encodeDelta(from, current);
    // Not worth it when it is not smaller than the catalog itself (a small catalog, or most changed).
    if (body !== undefined && body.length >= snap.json.length) body = undefined;
    this.deltaBodies.set(base, body);
    return body;
  }

  /** Keep `v` as the current version (and a base for later deltas); the oldest leave first. */
  private remember(v: CatalogVersion): void {
    const last = this.history[this.history.length - 1];
    if (last?.etag === v.etag) return;
    this.deltaBodies.clear();
    this.history.push({ ...v, size: versionSize(v) });
    let total = 0;
    for (const h of this.history) total += h.size;
    while (this.history.length > DELTA_HISTORY || (this.history.length > 1 && total > DELTA_HISTORY_BYTES))
      total -= this.history.shift()!.size;
  }

  private notModifiedReply(res: ServerResponse, peer: string, etag: string): void {
    if (res.writableEnded || res.destroyed) return;
    this.count(peer);
    this.notModified++;
    res.writeHead(304, { etag, 'cache-control': 'no-store' });
    res.end();
  }

  private error(res: ServerResponse, status: number, message: string): void {
    const body = JSON.stringify({ error: message });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}

/** RFC 9110 §13.1.2: a list of entity tags, or `*`; weak tags compare weakly (W/ stripped). */
function parseIfNoneMatch(header: string | string[] | undefined): Set<string> {
  const out = new Set<string>();
  const text = Array.isArray(header) ? header.join(',') : header;
  if (!text) return out;
  for (const part of text.split(',')) {
    const tag = part.trim().replace(/^W\//, '');
    if (tag) out.add(tag);
  }
  return out;
}
