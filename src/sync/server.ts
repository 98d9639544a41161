/**
 * Sync server (edge): this cluster's catalog at `GET /v1/catalog` over HTTPS with mutual TLS
 * (SPEC §2 "Sync protocol").
 *
 * Owns: the HTTPS listener and its lifecycle; client-certificate identity per request (which peer
 * is asking); conditional requests (`If-None-Match` → 304) and long polls (`?wait=N`, at most 60 s:
 * answered as soon as the catalog's ETag changes, else 304 when the wait ends); deltas
 * (`A-IM: gsdns-delta` → 226 with what changed since the version the client names; the versions
 * and bodies are delta-history.ts's); request limits; per-peer fetch counters. Which connections
 * the port holds, before and after authentication, and the refusal counters are admission.ts's.
 * Never: serves anything but this cluster's exported catalog; serves a client whose certificate
 * does not chain to `sync.tls.ca` (the TLS handshake fails) or names no cluster in the trust domain
 * (403); lets the TLS server see a connection admission.ts refused.
 * Invariants: a refused connection is closed before any TLS work; a waiting long poll is answered
 * exactly once (change, timeout, or close), and its timer is cleared; TLS file rotation applies to
 * new connections without a restart.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SyncAdmission, type AdmissionOptions, type AdmissionStats } from './admission.js';
import { DeltaHistory } from './delta-history.js';
import { clusterIdentity } from './identity.js';
import { DELTA_IM, IM_USED, namesDelta, type CatalogVersion } from './delta.js';
import { CATALOG_CONTENT_TYPE, MAX_WAIT_SECONDS } from './protocol.js';
import type { TlsFiles, TlsMaterial } from './tls-files.js';

export interface CatalogSnapshot {
  readonly json: string;
  readonly etag: string;
  readonly services: number;
  /** Its parts, so later versions can be sent as deltas against it (absent: never a delta base). */
  readonly version?: CatalogVersion | undefined;
}

/** Admission's options (connection caps, handshake deadline, descriptors, refusal log) and these. */
export interface SyncServerOptions extends AdmissionOptions {
  readonly address: string;
  readonly port: number;
  readonly tls: TlsFiles;
  readonly snapshot: () => CatalogSnapshot;
}

export interface SyncServerStats extends AdmissionStats {
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
  private readonly fetches: Record<string, number> = {};
  private readonly lastFetchMs: Record<string, number> = {};
  private notModified = 0;
  private readonly admission: SyncAdmission;
  private lastEtag: string | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly history = new DeltaHistory();
  private deltasServed = 0;

  constructor(private readonly opts: SyncServerOptions) {
    this.admission = new SyncAdmission(opts);
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
        handshakeTimeout: this.admission.handshakeTimeoutMs,
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
      if (this.admission.admitTcp(socket)) startTls.call(server, socket);
    });
    // A GET has no body; headers must arrive promptly. Long polls last up to 60 s plus slack.
    server.headersTimeout = 10_000;
    server.requestTimeout = (MAX_WAIT_SECONDS + 15) * 1000;
    server.keepAliveTimeout = 75_000;
    server.on('secureConnection', (socket: TLSSocket) => this.admission.secured(socket));
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => this.admission.handshakeFailed(err, socket));
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
    if (first.version !== undefined) this.history.remember(first.version);
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.admission.closeLog();
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
    this.admission.destroyAll();
    await closed;
  }

  /** The catalog may have changed: answer every long poll that waits on an older ETag. */
  notify(): void {
    const snap = this.opts.snapshot();
    if (snap.etag === this.lastEtag) return;
    this.lastEtag = snap.etag;
    if (snap.version !== undefined) this.history.remember(snap.version);
    for (const w of [...this.waiters]) {
      if (w.etag === snap.etag) continue;
      this.finishWaiter(w);
      this.send(w.res, w.peer, snap, w.delta ? w.etag : undefined);
    }
  }

  stats(): SyncServerStats {
    const admission = this.admission.stats();
    return {
      fetches: { ...this.fetches },
      notModified: this.notModified,
      deltas: this.deltasServed,
      refusedIdentity: admission.refused.identity,
      refusedConnections: admission.refused.connections,
      refusedHandshakes: admission.refused.handshake,
      waiting: this.waiters.size,
      lastFetchMs: { ...this.lastFetchMs },
      ...admission,
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as TLSSocket;
    const id = clusterIdentity(socket.getPeerCertificate()?.subjectaltname, this.opts.trustDomain);
    if (!id.ok) {
      this.admission.refuse(
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
    if (snap.version !== undefined) this.history.remember(snap.version);
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
    const delta = deltaBase === undefined ? undefined : this.history.body(snap, deltaBase);
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
