/**
 * The DNS edge: UDP and TCP listeners on the same port (TCP on dns2's server class, UDP on
 * node:dgram: src/dns/udp.ts says why). It frames, decodes and sends; what to send is the route's
 * (src/route/route.ts).
 *
 * Layout: this file binds and closes listeners; src/dns/message.ts turns one message into at most
 * one reply; src/dns/udp.ts and src/dns/tcp.ts carry messages over each transport
 * (src/dns/tcp-admission.ts decides which TCP connections stay; src/dns/udp-bindings.ts binds a
 * wildcard's UDP per local address).
 *
 * Owns: listener lifecycle (TCP first, then UDP on the port TCP got; EADDRINUSE retries for port
 * 0), the interface rescans of wildcard listens, and the edge's counters.
 * Never: lets dns2 parse a message before our own decoder has vetted it (KNOWN-DEFECTS D1, D2,
 * D8); answers a response (D3); lets a handler throw/reject, or a failed send, reach the event
 * loop (D4, D5); leaves a listener or connection open after close().
 */
import type { AddressInfo } from 'node:net';
import { isIPv6 } from '../util/ip.js';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { MessageHandler, errorFields } from './message.js';
import { TcpAdmission } from './tcp-admission.js';
import { EdgeTcpServer, connectionHandler, type ConnectionContext, type TcpConnection } from './tcp.js';
import { createEdgeUdpSocket, datagramHandler, type EdgeUdpSocket } from './udp.js';
import { UdpBindingSet, isWildcard } from './udp-bindings.js';
import type { DnsEdgeStats, DnsHandler, EdgeCounters, EdgeLogger, QueryObserver } from './types.js';

export type { DnsEdgeStats, EdgeLogger, QueryEvent, QueryObserver } from './types.js';
export { isUnanswerableSource } from './udp.js';

export interface ListenAddress {
  readonly address: string;
  readonly port: number;
}

export interface DnsServerLimits {
  /**
   * RFC 7766 §6.2.3: close idle connections; ours destroy() (D6). Idle: nothing in flight, and no
   * complete message or finished answer for this long. Default 10000.
   */
  readonly tcpIdleTimeoutMs: number;
  /** From the first octet of a message (its length prefix) to its last. Default 1000. */
  readonly tcpMessageTimeoutMs: number;
  /**
   * At this many, the least recently active connection with nothing in flight is destroyed to
   * admit a new one; the new one is refused only when all are busy. Default 1000.
   */
  readonly maxTcpConnections: number;
  /** Per client IP address; at the cap, the same policy over this client's connections. Default 50. */
  readonly maxTcpConnectionsPerClient: number;
  /** Pipelined queries answered concurrently per connection (D7). Default 32. */
  readonly maxInFlightPerConnection: number;
  /**
   * A wildcard listen binds UDP per local address (udp-bindings.ts); rescan the interfaces this
   * often to follow address changes. 0: only at start. Default 5000.
   */
  readonly interfaceRescanMs: number;
}

export const DEFAULT_LIMITS: DnsServerLimits = Object.freeze({
  tcpIdleTimeoutMs: 10_000,
  tcpMessageTimeoutMs: 1000,
  maxTcpConnections: 1000,
  maxTcpConnectionsPerClient: 50,
  maxInFlightPerConnection: 32,
  interfaceRescanMs: 5000,
});

export interface DnsServerOptions {
  readonly listen: readonly ListenAddress[];
  readonly handler: DnsHandler;
  readonly logger?: EdgeLogger | undefined;
  readonly limits?: Partial<DnsServerLimits> | undefined;
  /**
   * Decode EDNS Client Subnet and echo it with the handler's scope (RFC 7871). When false the
   * option is ignored entirely, never validated nor echoed. Default false.
   */
  readonly ecsEnabled?: boolean | undefined;
  /**
   * Told of every message once its fate is known (answered or dropped), for metrics and the query
   * log. Called synchronously on the hot path: it must be cheap and must not throw (a throw is
   * caught and logged, never reaches the socket).
   */
  readonly observer?: QueryObserver | undefined;
  /** The host's interfaces for wildcard UDP binds; `os.networkInterfaces` by default (tests inject). */
  readonly interfaces?: (() => NodeJS.Dict<NetworkInterfaceInfo[]>) | undefined;
}

export interface BoundAddress {
  readonly address: string;
  /** UDP and TCP share it. */
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

export interface DnsServer {
  /** Bind every listen address (TCP first, then UDP on the port TCP got). */
  start(): Promise<BoundAddress[]>;
  /** Stop listening and destroy open connections. */
  close(): Promise<void>;
  addresses(): BoundAddress[];
  /** The UDP sockets actually bound: one per listen address, or one per local address under a wildcard. */
  udpAddresses(): { readonly listen: string; readonly port: number; readonly addresses: readonly string[] }[];
  stats(): DnsEdgeStats;
}

/** EADDRINUSE retries when port 0 gave TCP a port whose UDP twin is taken. */
const BIND_ATTEMPTS = 5;

const silentLogger: EdgeLogger = { debug() {}, warn() {}, error() {} };

/** Zeroed edge counters (exported for tests that drive a MessageHandler without sockets). */
export function newCounters(): EdgeCounters {
  return {
    queries: { udp: 0, tcp: 0 },
    dropped: 0,
    formerr: 0,
    notimp: 0,
    badvers: 0,
    servfailOnException: 0,
    truncated: 0,
    sendErrors: 0,
    udpBindFailures: 0,
    tcpConnectionsAccepted: 0,
    tcpConnectionsRejected: 0,
    tcpConnectionsOpen: 0,
    tcpIdleTimeouts: 0,
    tcpMessageTimeouts: 0,
    tcpEvictedIdle: 0,
    tcpEvictedIncomplete: 0,
    tcpClosedMalformed: 0,
    tcpReadPauses: 0,
    tcpInFlightHighWater: 0,
    tcpWriteBacklogHighWater: 0,
    tcpReadBacklogHighWater: 0,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const listenTcp = (server: EdgeTcpServer, port: number, address: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ port, host: address }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });

const bindUdp = (socket: EdgeUdpSocket, port: number, address: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      resolve();
    });
  });

const closeTcp = (server: EdgeTcpServer): Promise<void> => new Promise((resolve) => server.close(() => resolve()));
const closeUdp = (socket: EdgeUdpSocket): Promise<void> =>
  new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });

/** port 0 gave TCP a port whose UDP twin is taken: try another. */
function retryable(listen: ListenAddress, err: unknown, attempt: number): boolean {
  return listen.port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < BIND_ATTEMPTS;
}

/** The listeners of one server, and what they share. */
class DnsEdge implements DnsServer {
  private readonly limits: DnsServerLimits;
  private readonly log: EdgeLogger;
  private readonly counters = newCounters();
  private readonly onDatagram: ReturnType<typeof datagramHandler>;
  private readonly onConnection: ReturnType<typeof connectionHandler>;
  private readonly admission: TcpAdmission<TcpConnection>;
  private readonly udpSockets: EdgeUdpSocket[] = [];
  /** Per wildcard listen entry: its per-address UDP sockets (not in udpSockets). */
  private readonly udpSets: { listen: string; port: number; set: UdpBindingSet }[] = [];
  private readonly tcpServers: EdgeTcpServer[] = [];
  private rescanTimer: NodeJS.Timeout | undefined;
  private bound: BoundAddress[] = [];
  private closing = false;

  constructor(private readonly options: DnsServerOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...stripUndefined(options.limits ?? {}) };
    this.log = options.logger ?? silentLogger;
    this.admission = new TcpAdmission<TcpConnection>({
      maxConnections: this.limits.maxTcpConnections,
      maxPerClient: this.limits.maxTcpConnectionsPerClient,
    });
    const messages = new MessageHandler({
      handler: options.handler,
      ecsEnabled: options.ecsEnabled === true,
      observer: options.observer,
      counters: this.counters,
      log: this.log,
    });
    this.onDatagram = datagramHandler(messages.handle, this.counters, this.log);
    const tcp: ConnectionContext = {
      maxInFlight: this.limits.maxInFlightPerConnection,
      idleTimeoutMs: this.limits.tcpIdleTimeoutMs,
      messageTimeoutMs: this.limits.tcpMessageTimeoutMs,
      handleMessage: messages.handle,
      admission: this.admission,
      counters: this.counters,
      log: this.log,
    };
    this.onConnection = connectionHandler(tcp, () => this.closing);
  }

  async start(): Promise<BoundAddress[]> {
    this.closing = false;
    try {
      const result: BoundAddress[] = [];
      for (const listen of this.options.listen) result.push(await this.bindPair(listen));
      this.bound = result;
      if (this.udpSets.length > 0 && this.limits.interfaceRescanMs > 0) {
        this.rescanTimer = setInterval(() => {
          for (const { set } of this.udpSets) void set.rescan();
        }, this.limits.interfaceRescanMs);
        this.rescanTimer.unref();
      }
      return [...this.bound];
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    this.rescanTimer = undefined;
    for (const connection of [...this.admission.all()]) connection.destroy();
    const tcp = this.tcpServers.splice(0);
    const udp = this.udpSockets.splice(0);
    const sets = this.udpSets.splice(0);
    await Promise.all([...tcp.map(closeTcp), ...udp.map(closeUdp), ...sets.map((s) => s.set.close())]);
    this.bound = [];
  }

  addresses(): BoundAddress[] {
    return [...this.bound];
  }

  udpAddresses(): { listen: string; port: number; addresses: string[] }[] {
    return this.bound.map((b) => {
      const set = this.udpSets.find((s) => s.listen === b.address && s.port === b.port);
      return { listen: b.address, port: b.port, addresses: set ? set.set.addresses() : [b.address] };
    });
  }

  stats(): DnsEdgeStats {
    return { ...this.counters, queries: { ...this.counters.queries } };
  }

  private newUdpSocket(family: 'IPv4' | 'IPv6'): EdgeUdpSocket {
    return createEdgeUdpSocket(family === 'IPv6' ? 'udp6' : 'udp4', this.onDatagram);
  }

  private bindPair(listen: ListenAddress): Promise<BoundAddress> {
    if (isWildcard(listen.address)) return this.bindWildcard(listen, listen.address);
    return this.bindAddress(listen);
  }

  /** One address: TCP, then UDP on the port TCP got. */
  private async bindAddress(listen: ListenAddress): Promise<BoundAddress> {
    const family = isIPv6(listen.address) ? 'IPv6' : 'IPv4';
    for (let attempt = 1; ; attempt++) {
      const tcp = new EdgeTcpServer(this.onConnection);
      const port = await listenTcp(tcp, listen.port, listen.address);
      const udp = this.newUdpSocket(family);
      try {
        await bindUdp(udp, port, listen.address);
      } catch (err) {
        await closeTcp(tcp);
        await closeUdp(udp);
        if (retryable(listen, err, attempt)) continue;
        throw err;
      }
      tcp.on('error', (err) => this.log.error(errorFields(err), 'TCP listener error'));
      udp.on('error', (err) => this.log.error(errorFields(err), 'UDP socket error'));
      this.tcpServers.push(tcp);
      this.udpSockets.push(udp);
      return { address: listen.address, port, family };
    }
  }

  /** A wildcard: TCP on the wildcard, UDP on each local address (udp-bindings.ts says why). */
  private async bindWildcard(listen: ListenAddress, wildcard: '0.0.0.0' | '::'): Promise<BoundAddress> {
    const family = wildcard === '::' ? 'IPv6' : 'IPv4';
    for (let attempt = 1; ; attempt++) {
      const tcp = new EdgeTcpServer(this.onConnection);
      const port = await listenTcp(tcp, listen.port, listen.address);
      const set = this.udpBindingSet(wildcard, port);
      try {
        await set.start(true);
      } catch (err) {
        await closeTcp(tcp);
        await set.close();
        if (retryable(listen, err, attempt)) continue;
        throw err;
      }
      tcp.on('error', (err) => this.log.error(errorFields(err), 'TCP listener error'));
      this.tcpServers.push(tcp);
      this.udpSets.push({ listen: listen.address, port, set });
      return { address: listen.address, port, family };
    }
  }

  private udpBindingSet(wildcard: '0.0.0.0' | '::', port: number): UdpBindingSet {
    const log = this.log;
    return new UdpBindingSet({
      wildcard,
      port,
      interfaces: this.options.interfaces ?? networkInterfaces,
      bind: async (address, p) => {
        const socket = this.newUdpSocket(address.includes(':') ? 'IPv6' : 'IPv4');
        try {
          await bindUdp(socket, p, address);
        } catch (err) {
          await closeUdp(socket);
          throw err;
        }
        socket.on('error', (err) => log.error(errorFields(err), 'UDP socket error'));
        return { close: () => closeUdp(socket) };
      },
      onAdded: (address) => log.debug({ listen: wildcard, address, port }, 'DNS UDP bound to a local address'),
      onRemoved: (address) => log.warn({ listen: wildcard, address, port }, 'DNS UDP socket closed: the address is no longer local'),
      onBindFailed: (address, err) => {
        this.counters.udpBindFailures++;
        log.warn(
          { ...errorFields(err), listen: wildcard, address, port },
          'DNS UDP bind of a local address failed; retried at the next interface rescan',
        );
      },
    });
  }
}

export function createDnsServer(options: DnsServerOptions): DnsServer {
  return new DnsEdge(options);
}
