/**
 * Ops HTTP server (edge): /healthz, /readyz, /metrics (as an extra route) on the ops listener, and
 * /debug/* on the ops listener or on a listener of its own (`http.debug`) (SPEC §5 "Ops HTTP", §6).
 *
 * Owns: the HTTP listeners, their connection limits, routing and the JSON shapes of the ops
 * endpoints.
 * Never: mutates the registry or answers DNS; every handler is a read through injected functions,
 * except POST /debug/selftest/run. No GET or HEAD has side effects (SPEC §6). Never lets a client
 * hold a connection it does not use.
 * Invariants:
 * - /healthz is 200 while the process runs; /readyz is 200 only when the readiness report says
 *   ready, else 503 with the reasons; an unknown path is 404 and a known path with another method
 *   is 405 with Allow; handler errors are 500 with a message, never a crash.
 * - /debug/* is served on exactly one listener (ops, or its own) or on none; /healthz, /readyz and
 *   /metrics only on the ops listener.
 * - Every connection on every listener is bounded in number (`maxConnections`) and in time: with no
 *   request in progress (silent since it opened, or idle after a response) for `idleTimeoutMs`,
 *   and `headersTimeoutMs` to deliver a request. At the cap the connection idle longest is closed
 *   to make room, so a flood of silent connections cannot lock a kubelet probe out; a new one is
 *   refused only when every connection has a request in progress. Every close the server decides
 *   is counted by reason.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { ReadinessReport } from '../registry/readiness.js';

export interface DebugEndpoints {
  services(): unknown;
  clusters(): unknown;
  /** Forwarding: upstreams with their health, cache and counters. */
  forward(): unknown;
  /** The local source: file status, or Kubernetes informers with their phases, errors and counts. */
  source(): unknown;
  /** The stub-wiring self-test's last verdict (a read: never runs one). */
  selfTest(): unknown;
  /** Runs one self-test now (POST /debug/selftest/run) and returns its verdict. */
  runSelfTest(): Promise<{ status: number; body: unknown }>;
  /** Returns the decision and explanation, or a `{error}` value with an HTTP status for bad input. */
  resolve(params: {
    name: string;
    type: string;
    subnet?: string | undefined;
    /** The HTTP client's address: forwarding from /debug obeys forward.allowFrom like DNS does. */
    client: string;
  }): { status: number; body: unknown } | Promise<{ status: number; body: unknown }>;
}

/** Limits of every HTTP listener (`http.maxConnections`, `http.idleTimeoutMs`, `http.headersTimeoutMs`). */
export interface HttpLimits {
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly headersTimeoutMs: number;
}

/**
 * Why the server closed a connection (the `reason` of gsdns_http_connections_closed_total):
 * - silent: no byte received within idleTimeoutMs (or headersTimeoutMs) of opening;
 * - idle: a keep-alive connection with no new request within idleTimeoutMs of its last response;
 * - headers: a request started but not fully received within headersTimeoutMs (408);
 * - malformed: a request that does not parse (400, or 431 for oversized headers);
 * - evicted: the connection idle longest, closed to make room for a new one at maxConnections;
 * - refused: a new connection closed at once because every connection had a request in progress.
 */
export type HttpCloseReason = 'silent' | 'idle' | 'headers' | 'malformed' | 'evicted' | 'refused';
export const HTTP_CLOSE_REASONS: readonly HttpCloseReason[] = ['silent', 'idle', 'headers', 'malformed', 'evicted', 'refused'];

/** Which listener: `ops` (http.listen) or `debug` (http.debug.listen). */
export type HttpListenerName = 'ops' | 'debug';

export interface HttpListenerStats {
  readonly listener: HttpListenerName;
  readonly open: number;
  readonly closed: Readonly<Record<HttpCloseReason, number>>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export interface OpsServerOptions {
  readonly address: string;
  readonly port: number;
  readonly readiness: () => ReadinessReport;
  /**
   * The /debug/* endpoints and where they are served: `listen` null on the ops listener, else on
   * a listener of their own. Undefined: /debug/* is served nowhere (`http.debug.enabled: false`).
   */
  readonly debug?:
    { readonly endpoints: DebugEndpoints; readonly listen: { readonly address: string; readonly port: number } | null } | undefined;
  readonly limits: HttpLimits;
  readonly logger: Logger;
  /** Extra GET routes on the ops listener (e.g. /metrics from a later module): path → handler. */
  readonly routes?: Readonly<Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>>>;
}

interface Route {
  readonly methods: readonly string[];
  readonly handler: Handler;
  /** How the 404 lists it. */
  readonly display: string;
}

const READ = ['GET', 'HEAD'] as const;

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** What Node writes itself for these client errors (lib/_http_server.js socketOnError). */
const REQUEST_TIMEOUT_RESPONSE = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';
const HEADERS_TOO_LARGE_RESPONSE = 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n';
const BAD_REQUEST_RESPONSE = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';

interface Connection {
  readonly socket: Socket;
  /** Requests received and not yet answered (HTTP/1.1 pipelining can make it more than 1). */
  inProgress: number;
  /** socket.bytesRead when its last response finished; undefined before the first one. */
  bytesAtLastResponse: number | undefined;
}

/**
 * One node:http listener with the connection guard. `idle` holds the connections with no request
 * in progress in the order they became idle, so the first entry is the one to evict.
 */
class GuardedListener {
  private server: Server | undefined;
  private readonly all = new Map<Socket, Connection>();
  private readonly idle = new Map<Socket, Connection>();
  private readonly closed: Record<HttpCloseReason, number> = { silent: 0, idle: 0, headers: 0, malformed: 0, evicted: 0, refused: 0 };

  constructor(
    readonly name: HttpListenerName,
    private readonly limits: HttpLimits,
    private readonly handle: (req: IncomingMessage, res: ServerResponse) => void,
    private readonly logger: Logger,
  ) {}

  async start(address: string, port: number): Promise<AddressInfo> {
    const { headersTimeoutMs, idleTimeoutMs } = this.limits;
    const server = createServer(
      {
        // Node's clock for headersTimeout starts when the connection opens (for the first request)
        // or at the request's first byte, and covers silent connections too. requestTimeout equal
        // to it: no endpoint takes a body, so the whole request is due by then.
        headersTimeout: headersTimeoutMs,
        requestTimeout: headersTimeoutMs,
        // Node only looks for expired requests this often (default 30 s, which would make a 5 s
        // headers timeout a 35 s one).
        connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(headersTimeoutMs / 4))),
        keepAliveTimeout: idleTimeoutMs,
      },
      (req, res) => this.onRequest(req, res),
    );
    // Node sets the socket timeout to keepAliveTimeout after each response; with a 'timeout'
    // listener on the server, it leaves the decision here (onTimeout) instead of destroying.
    server.keepAliveTimeout = idleTimeoutMs;
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    server.on('timeout', (socket: Socket) => this.onTimeout(socket));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  stats(): HttpListenerStats {
    return { listener: this.name, open: this.all.size, closed: { ...this.closed } };
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private onConnection(socket: Socket): void {
    if (this.all.size >= this.limits.maxConnections) {
      const oldest = this.idle.values().next();
      if (oldest.done) {
        // Every connection has a request in progress: those finish; the new one cannot wait.
        this.count('refused');
        socket.destroy();
        return;
      }
      this.shut(oldest.value, 'evicted');
    }
    const conn: Connection = { socket, inProgress: 0, bytesAtLastResponse: undefined };
    this.all.set(socket, conn);
    this.idle.set(socket, conn);
    // A connection that never sends a byte: inactivity timer until its first request.
    socket.setTimeout(this.limits.idleTimeoutMs);
    socket.once('close', () => {
      this.all.delete(socket);
      this.idle.delete(socket);
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const conn = this.all.get(req.socket);
    if (conn) {
      conn.inProgress++;
      this.idle.delete(conn.socket);
      // The request is in; a slow handler (/debug/selftest/run) is not idleness.
      conn.socket.setTimeout(0);
      res.once('close', () => {
        conn.inProgress--;
        conn.bytesAtLastResponse = conn.socket.bytesRead;
        // Re-inserted at the end: the order of `idle` is the order connections became idle.
        if (conn.inProgress === 0 && !conn.socket.destroyed) this.idle.set(conn.socket, conn);
      });
    }
    this.handle(req, res);
  }

  /** The socket's inactivity timer fired (set on connect, and by Node after each response). */
  private onTimeout(socket: Socket): void {
    const conn = this.all.get(socket);
    if (!conn) {
      socket.destroy();
      return;
    }
    // A request in progress is bounded by headersTimeout/requestTimeout, not by idleness.
    if (conn.inProgress > 0) return;
    this.shut(conn, this.idleReason(conn));
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const conn = this.all.get(socket);
    const code = err.code ?? '';
    let reason: HttpCloseReason | undefined;
    let response: string | undefined;
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      reason = conn ? this.idleReason(conn) : 'headers';
      if (reason === 'headers') response = REQUEST_TIMEOUT_RESPONSE;
    } else if (code.startsWith('HPE_')) {
      reason = 'malformed';
      response = code === 'HPE_HEADER_OVERFLOW' ? HEADERS_TOO_LARGE_RESPONSE : BAD_REQUEST_RESPONSE;
    }
    // Anything else (ECONNRESET, EPIPE) is the client's doing: closed, not counted.
    if (response !== undefined && socket.writable && !(socket as Socket & { _httpMessage?: ServerResponse })._httpMessage?.headersSent) {
      socket.write(response);
    }
    if (reason !== undefined) this.count(reason);
    else this.logger.debug({ err: code, listener: this.name }, 'http client connection error');
    socket.destroy();
  }

  /** Why a connection with no request in progress is being closed. */
  private idleReason(conn: Connection): HttpCloseReason {
    const read = conn.socket.bytesRead;
    if (read === 0) return 'silent';
    if (read === conn.bytesAtLastResponse) return 'idle';
    return 'headers';
  }

  private shut(conn: Connection, reason: HttpCloseReason): void {
    this.all.delete(conn.socket);
    this.idle.delete(conn.socket);
    this.count(reason);
    conn.socket.destroy();
  }

  private count(reason: HttpCloseReason): void {
    this.closed[reason]++;
  }
}

export class OpsServer {
  private readonly ops: GuardedListener;
  private readonly debugListener: GuardedListener | undefined;
  private readonly opsRoutes = new Map<string, Route>();
  private readonly debugRoutes = new Map<string, Route>();

  constructor(private readonly opts: OpsServerOptions) {
    const log = opts.logger;
    this.opsRoutes.set('/healthz', {
      methods: READ,
      display: '/healthz',
      handler: (_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'),
    });
    this.opsRoutes.set('/readyz', {
      methods: READ,
      display: '/readyz',
      handler: (_req, res) => {
        const report = opts.readiness();
        sendJson(res, report.ready ? 200 : 503, report);
      },
    });
    for (const [path, handler] of Object.entries(opts.routes ?? {})) this.opsRoutes.set(path, { methods: READ, display: path, handler });
    if (opts.debug) this.addDebugRoutes(opts.debug.endpoints, opts.debug.listen === null ? this.opsRoutes : this.debugRoutes);
    this.ops = new GuardedListener('ops', opts.limits, (req, res) => this.serve(this.opsRoutes, req, res), log);
    this.debugListener =
      opts.debug && opts.debug.listen !== null
        ? new GuardedListener('debug', opts.limits, (req, res) => this.serve(this.debugRoutes, req, res), log)
        : undefined;
  }

  /** Starts the ops listener (and the debug listener, when /debug has its own); returns the ops address. */
  async start(): Promise<AddressInfo> {
    const address = await this.ops.start(this.opts.address, this.opts.port);
    const debugListen = this.opts.debug?.listen;
    if (this.debugListener && debugListen) {
      try {
        await this.debugListener.start(debugListen.address, debugListen.port);
      } catch (err) {
        await this.ops.close();
        throw err;
      }
    }
    return address;
  }

  address(): AddressInfo | undefined {
    return this.ops.address();
  }

  /** The debug listener's address; undefined when /debug is on the ops listener or off. */
  debugAddress(): AddressInfo | undefined {
    return this.debugListener?.address();
  }

  /** Connection counts of every listener (gsdns_http_connections*). */
  stats(): HttpListenerStats[] {
    return this.debugListener ? [this.ops.stats(), this.debugListener.stats()] : [this.ops.stats()];
  }

  async close(): Promise<void> {
    await Promise.all([this.ops.close(), this.debugListener?.close()]);
  }

  private serve(routes: ReadonlyMap<string, Route>, req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = routes.get(url.pathname);
    const done = (): void => undefined;
    const failed = (err: unknown): void => {
      this.opts.logger.error({ err, path: url.pathname }, 'ops handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: (err as Error).message });
      else res.destroy();
    };
    if (!route) {
      sendJson(res, 404, { error: `no such endpoint ${url.pathname}`, endpoints: [...routes.values()].map((r) => r.display) });
      return;
    }
    if (!route.methods.includes(req.method ?? '')) {
      const allow = route.methods.join(', ');
      sendJson(res, 405, { error: `${req.method ?? ''} is not allowed on ${url.pathname}; allowed: ${allow}` }, { allow });
      return;
    }
    try {
      const result = route.handler(req, res, url);
      if (result) result.then(done, failed);
    } catch (err) {
      failed(err);
    }
  }

  private addDebugRoutes(debug: DebugEndpoints, routes: Map<string, Route>): void {
    const read = (path: string, body: () => unknown): void =>
      void routes.set(path, { methods: READ, display: path, handler: (_req, res) => sendJson(res, 200, body()) });
    read('/debug/services', () => debug.services());
    read('/debug/clusters', () => debug.clusters());
    read('/debug/forward', () => debug.forward());
    read('/debug/source', () => debug.source());
    routes.set('/debug/selftest', {
      methods: READ,
      display: '/debug/selftest',
      handler: (_req, res, url) => {
        // It used to run one; a GET never has side effects now (SPEC §6), and a script still
        // asking for a run gets told how instead of a stale verdict.
        if (url.searchParams.has('run')) {
          sendJson(res, 400, {
            error: 'GET never runs the self-test; run one with POST /debug/selftest/run (GET /debug/selftest reads the last verdict)',
          });
          return;
        }
        sendJson(res, 200, debug.selfTest());
      },
    });
    routes.set('/debug/selftest/run', {
      methods: ['POST'],
      display: 'POST /debug/selftest/run',
      handler: async (_req, res) => {
        const { status, body } = await debug.runSelfTest();
        sendJson(res, status, body);
      },
    });
    routes.set('/debug/resolve', {
      methods: READ,
      display: '/debug/resolve?name=&type=&subnet=',
      handler: async (req, res, url) => {
        const name = url.searchParams.get('name');
        if (!name) {
          sendJson(res, 400, { error: 'query parameter "name" is required, e.g. /debug/resolve?name=reviews.bookinfo.global&type=A' });
          return;
        }
        const { status, body } = await debug.resolve({
          name,
          type: url.searchParams.get('type') ?? 'A',
          subnet: url.searchParams.get('subnet') ?? undefined,
          client: req.socket.remoteAddress ?? '',
        });
        sendJson(res, status, body);
      },
    });
  }
}
