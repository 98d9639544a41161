/**
 * Ops HTTP server (edge): /healthz, /readyz, /metrics (as an extra route), /debug/* (SPEC §5 "Ops HTTP").
 *
 * Owns: the HTTP listener and the JSON shapes of the ops endpoints.
 * Never: mutates the registry or answers DNS; every handler is a read through injected functions.
 * Invariants: /healthz is 200 while the process runs; /readyz is 200 only when the readiness report
 * says ready, else 503 with the reasons; unknown paths are 404; handler errors are 500 with a
 * message, never a crash; only GET/HEAD are served.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { ReadinessReport } from '../health/readiness.js';

export interface DebugEndpoints {
  services(): unknown;
  clusters(): unknown;
  /** Forwarding: upstreams with their health, cache and counters. */
  forward(): unknown;
  /** The local source: file status, or Kubernetes informers with their phases, errors and counts. */
  source(): unknown;
  /** The stub-wiring self-test's last verdict; `run` runs one now and returns its verdict. */
  selfTest(params: { run: boolean }): unknown;
  /** Returns the decision and explanation, or a `{error}` value with an HTTP status for bad input. */
  resolve(params: {
    name: string;
    type: string;
    subnet?: string | undefined;
    /** The HTTP client's address: forwarding from /debug obeys forward.allowFrom like DNS does. */
    client: string;
  }): { status: number; body: unknown } | Promise<{ status: number; body: unknown }>;
}

export interface OpsServerOptions {
  readonly address: string;
  readonly port: number;
  readonly readiness: () => ReadinessReport;
  readonly debug: DebugEndpoints;
  readonly logger: Logger;
  /** Extra routes (e.g. /metrics from a later module): path → handler. */
  readonly routes?: Readonly<Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>>>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

export class OpsServer {
  private server: Server | undefined;

  constructor(private readonly opts: OpsServerOptions) {}

  async start(): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        this.opts.logger.error({ err, url: req.url }, 'ops handler failed');
        if (!res.headersSent) sendJson(res, 500, { error: (err as Error).message });
        else res.destroy();
      });
    });
    // Bound slow clients: ops endpoints are tiny.
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 5_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
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

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const extra = this.opts.routes?.[url.pathname];
    if (extra) {
      await extra(req, res);
      return;
    }
    switch (url.pathname) {
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz': {
        const report = this.opts.readiness();
        sendJson(res, report.ready ? 200 : 503, report);
        return;
      }
      case '/debug/services':
        sendJson(res, 200, this.opts.debug.services());
        return;
      case '/debug/clusters':
        sendJson(res, 200, this.opts.debug.clusters());
        return;
      case '/debug/forward':
        sendJson(res, 200, this.opts.debug.forward());
        return;
      case '/debug/source':
        sendJson(res, 200, this.opts.debug.source());
        return;
      case '/debug/selftest':
        sendJson(res, 200, await this.opts.debug.selfTest({ run: url.searchParams.has('run') }));
        return;
      case '/debug/resolve': {
        const name = url.searchParams.get('name');
        if (!name) {
          sendJson(res, 400, { error: 'query parameter "name" is required, e.g. /debug/resolve?name=reviews.bookinfo.global&type=A' });
          return;
        }
        const { status, body } = await this.opts.debug.resolve({
          name,
          type: url.searchParams.get('type') ?? 'A',
          subnet: url.searchParams.get('subnet') ?? undefined,
          client: req.socket.remoteAddress ?? '',
        });
        sendJson(res, status, body);
        return;
      }
      default:
        sendJson(res, 404, {
          error: `no such endpoint ${url.pathname}`,
          endpoints: ['/healthz', '/readyz', '/metrics', '/debug/services', '/debug/clusters', '/debug/forward', '/debug/source', '/debug/selftest[?run]', '/debug/resolve?name=&type='],
        });
    }
  }
}
