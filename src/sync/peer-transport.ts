/**
 * The HTTPS requests of a sync client to one peer (edge: node:https): `GET /v1/catalog` with our
 * certificate as client certificate, and the peer's checked against `sync.tls.ca` and its name.
 *
 * Owns: the keep-alive agent (rebuilt when the TLS files rotate, so new connections use them), the
 * request in flight, its timeout, the body size limit, and what a failed request means (the peer's
 * identity, TLS, or the network).
 * Never: decodes or judges a body (client.ts does, after the apply budget), accepts a server whose
 * certificate names another cluster, or buffers a body larger than `maxBody` (refused from its
 * Content-Length, or aborted once the streamed octets pass it).
 * Invariants: at most one request in flight; each request settles exactly once.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { DELTA_IM } from './delta.js';
import { checkPeerIdentity } from './identity.js';
import type { TlsFiles } from './tls-files.js';

/** A request that got no catalog: `refused` by what the peer is or says, or `failed` to reach it. */
export interface PeerFailure {
  readonly kind: 'refused' | 'failed';
  readonly reason: string;
  readonly message: string;
}

export type PeerResponse =
  | { readonly kind: 'not-modified' }
  /** A whole body (any status but 304), read within maxBody. */
  | { readonly kind: 'body'; readonly res: IncomingMessage; readonly status: number; readonly chunks: Buffer[] }
  | PeerFailure;

export interface PeerTransportOptions {
  /** The peer's cluster name: what its certificate must name. */
  readonly name: string;
  readonly url: string;
  readonly trustDomain: string;
  readonly tls: TlsFiles;
}

export interface CatalogRequest {
  /** The ETag of the catalog held, sent as If-None-Match. */
  readonly etag: string | undefined;
  /** The long poll asked of the server (`?wait=`). */
  readonly waitSeconds: number;
  /** Ask for a delta (A-IM) against `etag`. */
  readonly delta: boolean;
  readonly maxBody: number;
  readonly timeoutMs: number;
}

export class PeerTransport {
  private agent: Agent | undefined;
  private agentVersion = -1;
  private inflight: { destroy(): void } | undefined;

  constructor(private readonly opts: PeerTransportOptions) {}

  /** Abort the request in flight and close the agent's connections. */
  destroy(): void {
    this.inflight?.destroy();
    this.agent?.destroy();
  }

  get(r: CatalogRequest): Promise<PeerResponse> {
    const url = new URL('/v1/catalog', this.opts.url);
    url.searchParams.set('wait', String(r.waitSeconds));
    return new Promise<PeerResponse>((resolve) => {
      let settled = false;
      const done = (result: PeerResponse): void => {
        if (settled) return;
        settled = true;
        this.inflight = undefined;
        resolve(result);
      };
      const req = request(url, {
        method: 'GET',
        agent: this.currentAgent(),
        headers: {
          accept: 'application/json',
          ...(r.etag ? { 'if-none-match': r.etag } : {}),
          ...(r.delta ? { 'a-im': DELTA_IM } : {}),
        },
        timeout: r.timeoutMs,
      });
      this.inflight = req;
      req.on('timeout', () => req.destroy(new Error(`no answer within ${r.timeoutMs / 1000} s`)));
      req.on('error', (err: NodeJS.ErrnoException) => done(requestFailure(err)));
      req.on('response', (res) => readResponse(req, res, r.maxBody, done));
      req.end();
    });
  }

  /** One request; the agent is rebuilt when the TLS files rotate, so new connections use them. */
  private currentAgent(): Agent {
    const m = this.opts.tls.current();
    if (!this.agent || this.agentVersion !== m.version) {
      this.agent?.destroy();
      const expected = this.opts.name;
      const td = this.opts.trustDomain;
      this.agent = new Agent({
        keepAlive: true,
        maxSockets: 1,
        ca: m.ca,
        cert: m.cert,
        key: m.key,
        minVersion: 'TLSv1.2',
        // The URL's host is usually an IP; what must match is the cluster the certificate names.
        checkServerIdentity: (_host: string, cert: PeerCertificate) => {
          const problem = checkPeerIdentity(cert.subjectaltname, expected, td);
          return problem ? Object.assign(new Error(problem), { code: 'GSDNS_PEER_IDENTITY' }) : undefined;
        },
      });
      this.agentVersion = m.version;
    }
    return this.agent;
  }
}

/** A response to the catalog request: 304, or a body read within maxBody. */
function readResponse(req: ClientRequest, res: IncomingMessage, maxBody: number, done: (r: PeerResponse) => void): void {
  const tooLarge = (what: string): PeerFailure => ({
    kind: 'refused',
    reason: 'too-large',
    message: `catalog ${what} sync.maxCatalogBytes (${maxBody} octets); refused without reading it, the last good catalog is kept`,
  });
  const status = res.statusCode ?? 0;
  if (status === 304) {
    res.resume();
    return done({ kind: 'not-modified' });
  }
  // Refuse an oversize body from its Content-Length before reading any of it, and count the
  // octets as they stream (a body may be chunked, or lie about its length).
  const declared = res.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBody) {
    req.destroy();
    return done(tooLarge(`of ${declared} octets (Content-Length) is larger than`));
  }
  const chunks: Buffer[] = [];
  let size = 0;
  res.on('data', (c: Buffer) => {
    size += c.length;
    if (size > maxBody) {
      chunks.length = 0;
      req.destroy();
      done(tooLarge(`passed ${size} octets while streaming, more than`));
      return;
    }
    chunks.push(c);
  });
  res.on('error', (err) => done({ kind: 'failed', reason: 'unreachable', message: err.message }));
  res.on('end', () => done({ kind: 'body', res, status, chunks }));
}

/** Why a catalog request failed: the peer's identity, TLS, or the network. */
function requestFailure(err: NodeJS.ErrnoException): PeerFailure {
  const code = err.code ?? '';
  if (code === 'GSDNS_PEER_IDENTITY') return { kind: 'refused', reason: 'identity', message: err.message };
  if (/CERT|SELF_SIGNED|UNABLE_TO|SSL|TLS|ERR_SSL/.test(code) || /certificate|handshake|alert/i.test(err.message)) {
    return { kind: 'refused', reason: 'tls', message: `TLS: ${err.message}${code ? ` (${code})` : ''}` };
  }
  return { kind: 'failed', reason: 'unreachable', message: `${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}` };
}
