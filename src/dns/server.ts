/**
 * The DNS edge: UDP and TCP listeners on the same port, built on dns2's server classes.
 *
 * Owns: sockets, TCP framing (RFC 1035 §4.2.2, RFC 7766), connection limits, back-pressure,
 * turning raw messages into DnsRequests and handler results into replies, and edge counters.
 * Never: lets dns2 parse a message before our own decoder has vetted it (KNOWN-DEFECTS D1, D2,
 * D8); answers a response (D3); lets a handler throw/reject, or a failed send, reach the event
 * loop (D4, D5); half-closes an idle connection and waits (D6); reads more than it can answer (D7);
 * lets a client that sends slowly hold a connection slot (issue 12).
 *
 * Invariants:
 * - Every received message is decoded by src/dns/wire.ts first. Only the uncommon shapes (records
 *   in answer/authority, or additional records other than one OPT) also go through dns2's
 *   Packet.parse, the "general path", and get FORMERR when it reports any error (D9).
 * - Every reply is sized by wire.ts: ≤ 512 octets without EDNS, ≤ min(client, 1232) with it over
 *   UDP, with OPT kept and TC set when answers were dropped (D10, D11). A relayed reply arrives
 *   already fitted to that same limit by the forwarder's codec (src/forward/message.ts).
 * - A TCP connection never has more than `maxInFlightPerConnection` unanswered queries, and stops
 *   reading while it has that many or while its socket refuses writes.
 * - A TCP message must arrive whole within `tcpMessageTimeoutMs` of its first octet (the length
 *   prefix), counted only while we are reading; otherwise the connection is destroyed.
 * - A TCP connection is idle while nothing of it is in flight; only a complete message or a
 *   finished answer restarts its idle clock, never a stray octet. Idle connections are destroyed.
 * - At a connection cap, the least recently active connection with nothing in flight is destroyed
 *   to admit the new one (src/dns/tcp-admission.ts); a new connection is refused only when every
 *   connection that could make room is busy.
 * - Every send and write has its failure handled; handler exceptions become SERVFAIL + one log line.
 */
import type { RemoteInfo } from 'node:dgram';
import { isIPv6, type AddressInfo, type Socket } from 'node:net';
import { Packet, TCPServer, UDPServer } from 'dns2';
import { Rcode } from '../answer/types.js';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { TcpAdmission } from './tcp-admission.js';
import { UdpBindingSet, isWildcard } from './udp-bindings.js';
import type { ClientAddress, DnsHandler, DnsRequest, EdnsInfo, HandlerResult, Transport } from './types.js';
import {
  HEADER_SIZE,
  decodeQuery,
  encodeErrorResponse,
  encodeResponse,
  replyContextOf,
  responseSizeLimit,
  type DecodedQuery,
} from './wire.js';

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

/** The slice of a pino logger the edge uses, so a test can pass a hand-written one. */
export interface EdgeLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

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

/** What happened to one received message (src/ops/metrics.ts, src/ops/query-log.ts). */
export interface QueryEvent {
  readonly transport: Transport;
  readonly client: ClientAddress;
  /** Octets received. */
  readonly size: number;
  /** Present when the message was decoded far enough to echo; absent for unreadable drops. */
  readonly id?: number | undefined;
  readonly question?: { readonly name: string; readonly type: number; readonly class: number } | undefined;
  readonly edns?: EdnsInfo | undefined;
  /**
   * `answered`: the handler's result was sent; `formerr`/`notimp`/`badvers`: rejected by the edge;
   * `servfail`: the handler threw or its result could not be encoded; `dropped`: nothing was sent.
   */
  readonly outcome: 'answered' | 'formerr' | 'notimp' | 'badvers' | 'servfail' | 'dropped';
  /** The handler's result (outcome `answered`). */
  readonly result?: HandlerResult | undefined;
  /** The reply sent, or null when dropped. */
  readonly reply: Buffer | null;
  /** From receipt to reply ready, in seconds. */
  readonly durationSeconds: number;
}

export interface QueryObserver {
  observe(event: QueryEvent): void;
}

export interface BoundAddress {
  readonly address: string;
  /** UDP and TCP share it. */
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/** Edge counters, for a metrics module to expose. Snapshots; never reset. */
export interface DnsEdgeStats {
  readonly queries: { readonly udp: number; readonly tcp: number };
  readonly dropped: number;
  readonly formerr: number;
  readonly notimp: number;
  readonly badvers: number;
  readonly servfailOnException: number;
  readonly truncated: number;
  readonly sendErrors: number;
  /** Binds of a local address under a wildcard listen that failed (retried at each rescan). */
  readonly udpBindFailures: number;
  readonly tcpConnectionsAccepted: number;
  /** New connections refused because every connection that could make room was busy. */
  readonly tcpConnectionsRejected: number;
  readonly tcpConnectionsOpen: number;
  /** Connections destroyed after `tcpIdleTimeoutMs` with nothing in flight. */
  readonly tcpIdleTimeouts: number;
  /** Connections destroyed because a message did not arrive whole within `tcpMessageTimeoutMs`. */
  readonly tcpMessageTimeouts: number;
  /** Connections destroyed at a cap to admit a new one, while idle (between messages). */
  readonly tcpEvictedIdle: number;
  /** Connections destroyed at a cap to admit a new one, while part of a message had arrived. */
  readonly tcpEvictedIncomplete: number;
  /** Connections destroyed because the peer sent what no DNS client sends (a frame shorter than a header, a response). */
  readonly tcpClosedMalformed: number;
  /** Times a connection stopped reading (write back-pressure or in-flight cap). */
  readonly tcpReadPauses: number;
  /** Highest number of unanswered queries seen on any one connection. */
  readonly tcpInFlightHighWater: number;
  /** Highest socket write backlog (octets) seen on any one connection. */
  readonly tcpWriteBacklogHighWater: number;
  /** Highest count of received-but-unprocessed octets held for any one connection. */
  readonly tcpReadBacklogHighWater: number;
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

/**
 * The general path (dns2's Packet.parse) is bounded because dns2 reads bit by bit: about 0.5 µs
 * per octet on a 2-core machine (37 ms for a 64 KB message). No legitimate query of an uncommon
 * shape comes near this size.
 */
const GENERAL_PATH_MAX_OCTETS = 1232;
/** Per-connection socket buffer (octets) before write() reports back-pressure (D7). */
const TCP_SOCKET_HIGH_WATER_MARK = 16 * 1024;
/** EADDRINUSE retries when port 0 gave TCP a port whose UDP twin is taken. */
const BIND_ATTEMPTS = 5;

const silentLogger: EdgeLogger = { debug() {}, warn() {}, error() {} };

/**
 * D4: a datagram from source port 0 cannot be answered (send() to port 0 fails) and is never a
 * real client. Exported for unit tests.
 */
export function isUnanswerableSource(rinfo: Pick<RemoteInfo, 'port'>): boolean {
  return rinfo.port === 0;
}

type Counters = { -readonly [K in keyof DnsEdgeStats]: DnsEdgeStats[K] extends object ? { udp: number; tcp: number } : number };

/** dns2's UDP socket, with its parser bypassed: raw datagrams come straight to us. */
class EdgeUdpSocket extends UDPServer {
  constructor(
    type: 'udp4' | 'udp6',
    private readonly onDatagram: (socket: EdgeUdpSocket, data: Buffer, rinfo: RemoteInfo) => void,
  ) {
    super({ type });
  }
  override handle(data: Buffer, rinfo: RemoteInfo): void {
    this.onDatagram(this, data, rinfo);
  }
}

/** dns2's TCP server (allowHalfOpen), with its connection handler replaced by our framing loop. */
class EdgeTcpServer extends TCPServer {
  constructor(private readonly onConnection: (socket: Socket) => void) {
    super();
    // D7: a connection stops reading once write() reports the socket's buffer full. Node 22 raised
    // the default buffer from 16 KiB to 64 KiB; pin it, so a client that never reads holds at most
    // 16 KiB of replies on any Node (net.Server passes this to every accepted socket).
    (this as unknown as { highWaterMark: number }).highWaterMark = TCP_SOCKET_HIGH_WATER_MARK;
  }
  handle(socket: Socket): void {
    this.onConnection(socket);
  }
}

function isPromiseLike<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** `{ err }` is the key pino's standard serializer expects for errors. */
function errorFields(err: unknown): object {
  return { err };
}

export function createDnsServer(options: DnsServerOptions): DnsServer {
  const limits: DnsServerLimits = { ...DEFAULT_LIMITS, ...stripUndefined(options.limits ?? {}) };
  const log = options.logger ?? silentLogger;
  const handler = options.handler;
  const ecsEnabled = options.ecsEnabled === true;
  const observer = options.observer;

  const counters: Counters = {
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

  const udpSockets: EdgeUdpSocket[] = [];
  /** Per wildcard listen entry: its per-address UDP sockets (not in udpSockets). */
  const udpSets: { listen: string; port: number; set: UdpBindingSet }[] = [];
  let rescanTimer: NodeJS.Timeout | undefined;
  const tcpServers: EdgeTcpServer[] = [];
  const admission = new TcpAdmission<TcpConnection>({
    maxConnections: limits.maxTcpConnections,
    maxPerClient: limits.maxTcpConnectionsPerClient,
  });
  let bound: BoundAddress[] = [];
  let closing = false;

  // -------------------------------------------------------------------------------------------
  // One message in, at most one reply out (shared by both transports)
  // -------------------------------------------------------------------------------------------

  const servfail = (query: DecodedQuery, transport: Transport, err: unknown): Buffer => {
    counters.servfailOnException++;
    log.error(
      { ...errorFields(err), qname: query.question.name, qtype: query.question.type, transport },
      'query handling failed; answered SERVFAIL',
    );
    return encodeResponse(replyContextOf(query), {
      rcode: Rcode.SERVFAIL,
      maxSize: responseSizeLimit(transport, query.edns),
    }).message;
  };

  /** Map a handler result to the reply: encode a Decision, pass a relayed message through. */
  const buildReply = (query: DecodedQuery, transport: Transport, result: HandlerResult): Buffer => {
    if (result.kind === 'relay') {
      if (result.truncated) counters.truncated++;
      return result.message;
    }
    const encoded = encodeResponse(replyContextOf(query), {
      rcode: result.rcode,
      authoritative: result.authoritative,
      answers: result.answers,
      authority: result.authority,
      additional: result.additional,
      // RFC 7871 §7.2.1: echo ECS, with the scope the answer depended on, when the query had it.
      ecsScopePrefix: ecsEnabled && query.edns?.ecs ? result.ecsScopePrefix : undefined,
      maxSize: responseSizeLimit(transport, query.edns),
    });
    if (encoded.truncated) counters.truncated++;
    return encoded.message;
  };

  const safeReply = (query: DecodedQuery, transport: Transport, result: HandlerResult): Buffer => {
    try {
      return buildReply(query, transport, result);
    } catch (err) {
      // A record the encoder refuses (bad address text, over-long name) is a bug upstream of us.
      return servfail(query, transport, err);
    }
  };

  /** dns2's parser for shapes our fast path does not interpret (D9: FORMERR on packet.errors). */
  const generalPathError = (message: Buffer): string | undefined => {
    if (message.length > GENERAL_PATH_MAX_OCTETS) {
      return `uncommon query shape of ${message.length} octets exceeds ${GENERAL_PATH_MAX_OCTETS}`;
    }
    try {
      const packet = Packet.parse(message);
      return packet.errors.length > 0 ? packet.errors.map((e) => e.message).join('; ') : undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  };

  /** Tell the observer; a throwing observer is a bug, logged, never allowed to reach a socket. */
  const report = (event: QueryEvent): void => {
    try {
      observer!.observe(event);
    } catch (err) {
      log.error(errorFields(err), 'query observer failed');
    }
  };

  /** Returns the reply, null for "send nothing", or a promise of either that never rejects. */
  const handleMessage = (
    message: Buffer,
    transport: Transport,
    client: ClientAddress,
  ): Buffer | null | Promise<Buffer | null> => {
    counters.queries[transport]++;
    const started = observer ? performance.now() : 0;
    const decoded = decodeQuery(message, transport, { ecs: ecsEnabled });
    if (!decoded.ok) {
      if (decoded.action === 'drop') {
        counters.dropped++;
        log.debug({ transport, client: client.address, reason: decoded.reason }, 'query dropped');
        if (observer) report({ transport, client, size: message.length, id: decoded.id, outcome: 'dropped', reply: null, durationSeconds: (performance.now() - started) / 1000 });
        return null;
      }
      counters[decoded.action]++;
      log.debug({ transport, client: client.address, rcode: decoded.action, reason: decoded.reason }, 'query rejected');
      const reply = encodeErrorResponse(decoded, responseSizeLimit(transport, decoded.edns));
      if (observer) {
        report({
          transport,
          client,
          size: message.length,
          id: decoded.id,
          edns: decoded.edns,
          outcome: decoded.action,
          reply,
          durationSeconds: (performance.now() - started) / 1000,
        });
      }
      return reply;
    }
    const query = decoded.query;
    const done = observer
      ? (outcome: QueryEvent['outcome'], reply: Buffer, result?: HandlerResult): Buffer => {
          report({
            transport,
            client,
            size: message.length,
            id: query.header.id,
            question: query.question,
            edns: query.edns,
            outcome,
            result,
            reply,
            durationSeconds: (performance.now() - started) / 1000,
          });
          return reply;
        }
      : undefined;
    if (!query.simple) {
      const reason = generalPathError(message);
      if (reason !== undefined) {
        counters.formerr++;
        log.debug({ transport, client: client.address, rcode: 'formerr', reason }, 'query rejected');
        const reply = encodeResponse(replyContextOf(query), {
          rcode: Rcode.FORMERR,
          maxSize: responseSizeLimit(transport, query.edns),
        }).message;
        return done ? done('formerr', reply) : reply;
      }
    }
    const request: DnsRequest = {
      id: query.header.id,
      question: query.question,
      rawQuestion: query.rawQuestion,
      flags: { rd: query.header.rd, ad: query.header.ad, cd: query.header.cd },
      edns: query.edns,
      transport,
      client,
    };
    const answered = (r: HandlerResult): Buffer => {
      if (!done) return safeReply(query, transport, r);
      // safeReply is synchronous: a SERVFAIL it fell back to shows as one more servfailOnException.
      const before = counters.servfailOnException;
      const reply = safeReply(query, transport, r);
      return counters.servfailOnException === before ? done('answered', reply, r) : done('servfail', reply);
    };
    const failed = (err: unknown): Buffer => {
      const reply = servfail(query, transport, err); // D5
      return done ? done('servfail', reply) : reply;
    };
    let result: HandlerResult | PromiseLike<HandlerResult>;
    try {
      result = handler(request);
    } catch (err) {
      return failed(err);
    }
    if (!isPromiseLike(result)) return answered(result);
    // D5: a rejection never escapes.
    return Promise.resolve(result).then(answered, failed);
  };

  // -------------------------------------------------------------------------------------------
  // UDP
  // -------------------------------------------------------------------------------------------

  const udpSend = (socket: EdgeUdpSocket, reply: Buffer, rinfo: RemoteInfo): void => {
    const failed = (err: unknown): void => {
      counters.sendErrors++;
      log.debug({ ...errorFields(err), client: rinfo.address, port: rinfo.port }, 'UDP send failed');
    };
    try {
      // dgram throws synchronously for a bad port or a closed socket, and reports the rest here.
      socket.send(reply, rinfo.port, rinfo.address, (err) => {
        if (err) failed(err);
      });
    } catch (err) {
      failed(err); // D4
    }
  };

  const onDatagram = (socket: EdgeUdpSocket, data: Buffer, rinfo: RemoteInfo): void => {
    if (isUnanswerableSource(rinfo)) {
      counters.queries.udp++;
      counters.dropped++;
      return;
    }
    const client: ClientAddress = { address: rinfo.address, port: rinfo.port, family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4' };
    let out: Buffer | null | Promise<Buffer | null>;
    try {
      out = handleMessage(data, 'udp', client);
    } catch (err) {
      // Only a bug in this module gets here; never let it reach the socket's 'message' emitter.
      log.error(errorFields(err), 'UDP message handling failed');
      return;
    }
    if (out === null) return;
    if (out instanceof Promise) {
      out.then(
        (reply) => {
          if (reply !== null) udpSend(socket, reply, rinfo);
        },
        (err: unknown) => log.error(errorFields(err), 'UDP message handling failed'),
      );
      return;
    }
    udpSend(socket, out, rinfo);
  };

  // -------------------------------------------------------------------------------------------
  // TCP (RFC 7766): framing, pipelining, limits, back-pressure
  // -------------------------------------------------------------------------------------------

  /** What every connection shares. */
  const tcpContext: ConnectionContext = {
    maxInFlight: limits.maxInFlightPerConnection,
    idleTimeoutMs: limits.tcpIdleTimeoutMs,
    messageTimeoutMs: limits.tcpMessageTimeoutMs,
    handleMessage: (m, c) => handleMessage(m, 'tcp', c),
    admission,
    counters,
    log,
  };

  /** Admit, make room (destroying the least recently active evictable connection), or refuse. */
  const onConnection = (socket: Socket): void => {
    // An error on a socket with no listener would crash the process.
    socket.on('error', (err) => log.debug(errorFields(err), 'TCP connection error'));
    if (closing) {
      socket.destroy();
      return;
    }
    const clientKey = socket.remoteAddress ?? '';
    const decision = admission.decide(clientKey);
    if (decision.kind === 'refuse') {
      counters.tcpConnectionsRejected++;
      socket.destroy();
      return;
    }
    if (decision.kind === 'evict') decision.victim.evict();
    const client: ClientAddress = { address: clientKey, port: socket.remotePort ?? 0, family: socket.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4' };
    const connection = new TcpConnection(socket, client, tcpContext);
    admission.add(connection, clientKey);
    counters.tcpConnectionsAccepted++;
    counters.tcpConnectionsOpen = admission.size;
  };

  // -------------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------------

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

  const udpBindingSet = (wildcard: '0.0.0.0' | '::', port: number): UdpBindingSet =>
    new UdpBindingSet({
      wildcard,
      port,
      interfaces: options.interfaces ?? networkInterfaces,
      bind: async (address, p) => {
        const socket = new EdgeUdpSocket(address.includes(':') ? 'udp6' : 'udp4', onDatagram);
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
        counters.udpBindFailures++;
        log.warn({ ...errorFields(err), listen: wildcard, address, port }, 'DNS UDP bind of a local address failed; retried at the next interface rescan');
      },
    });

  /** A wildcard: TCP on the wildcard, UDP on each local address (udp-bindings.ts says why). */
  const bindWildcard = async (listen: ListenAddress, wildcard: '0.0.0.0' | '::'): Promise<BoundAddress> => {
    const family = wildcard === '::' ? 'IPv6' : 'IPv4';
    for (let attempt = 1; ; attempt++) {
      const tcp = new EdgeTcpServer(onConnection);
      const port = await listenTcp(tcp, listen.port, listen.address);
      const set = udpBindingSet(wildcard, port);
      try {
        await set.start(true);
      } catch (err) {
        await closeTcp(tcp);
        await set.close();
        const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (listen.port === 0 && inUse && attempt < BIND_ATTEMPTS) continue;
        throw err;
      }
      tcp.on('error', (err) => log.error(errorFields(err), 'TCP listener error'));
      tcpServers.push(tcp);
      udpSets.push({ listen: listen.address, port, set });
      return { address: listen.address, port, family };
    }
  };

  const bindPair = async (listen: ListenAddress): Promise<BoundAddress> => {
    if (isWildcard(listen.address)) return bindWildcard(listen, listen.address);
    const family = isIPv6(listen.address) ? 'IPv6' : 'IPv4';
    for (let attempt = 1; ; attempt++) {
      const tcp = new EdgeTcpServer(onConnection);
      const port = await listenTcp(tcp, listen.port, listen.address);
      const udp = new EdgeUdpSocket(family === 'IPv6' ? 'udp6' : 'udp4', onDatagram);
      try {
        await bindUdp(udp, port, listen.address);
      } catch (err) {
        await closeTcp(tcp);
        await closeUdp(udp);
        const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (listen.port === 0 && inUse && attempt < BIND_ATTEMPTS) continue;
        throw err;
      }
      tcp.on('error', (err) => log.error(errorFields(err), 'TCP listener error'));
      udp.on('error', (err) => log.error(errorFields(err), 'UDP socket error'));
      tcpServers.push(tcp);
      udpSockets.push(udp);
      return { address: listen.address, port, family };
    }
  };

  const close = async (): Promise<void> => {
    closing = true;
    if (rescanTimer) clearInterval(rescanTimer);
    rescanTimer = undefined;
    for (const connection of [...admission.all()]) connection.destroy();
    const tcp = tcpServers.splice(0);
    const udp = udpSockets.splice(0);
    const sets = udpSets.splice(0);
    await Promise.all([...tcp.map(closeTcp), ...udp.map(closeUdp), ...sets.map((s) => s.set.close())]);
    bound = [];
  };

  return {
    async start() {
      closing = false;
      try {
        const result: BoundAddress[] = [];
        for (const listen of options.listen) result.push(await bindPair(listen));
        bound = result;
        if (udpSets.length > 0 && limits.interfaceRescanMs > 0) {
          rescanTimer = setInterval(() => {
            for (const { set } of udpSets) void set.rescan();
          }, limits.interfaceRescanMs);
          rescanTimer.unref();
        }
        return [...bound];
      } catch (err) {
        await close();
        throw err;
      }
    },
    close,
    addresses: () => [...bound],
    udpAddresses: () => {
      const out: { listen: string; port: number; addresses: string[] }[] = [];
      for (const b of bound) {
        const set = udpSets.find((s) => s.listen === b.address && s.port === b.port);
        out.push({ listen: b.address, port: b.port, addresses: set ? set.set.addresses() : [b.address] });
      }
      return out;
    },
    stats: () => ({ ...counters, queries: { ...counters.queries } }),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** What every TCP connection shares: limits, the message handler, the admission table, counters. */
interface ConnectionContext {
  readonly maxInFlight: number;
  readonly idleTimeoutMs: number;
  readonly messageTimeoutMs: number;
  readonly handleMessage: (message: Buffer, client: ClientAddress) => Buffer | null | Promise<Buffer | null>;
  /** Told when the connection turns busy or evictable, makes progress, and closes. */
  readonly admission: TcpAdmission<TcpConnection>;
  readonly counters: Pick<
    Counters,
    | 'tcpConnectionsOpen'
    | 'tcpIdleTimeouts'
    | 'tcpMessageTimeouts'
    | 'tcpEvictedIdle'
    | 'tcpEvictedIncomplete'
    | 'tcpClosedMalformed'
    | 'tcpReadPauses'
    | 'tcpInFlightHighWater'
    | 'tcpWriteBacklogHighWater'
    | 'tcpReadBacklogHighWater'
  >;
  readonly log: EdgeLogger;
}

/** Why the server destroyed a connection; each has its counter (gsdns_dns_tcp_connections_closed_total). */
type CloseReason = 'idle' | 'messageTimeout' | 'evictedIdle' | 'evictedIncomplete' | 'malformed';

const CLOSE_COUNTER: Readonly<Record<CloseReason, keyof ConnectionContext['counters']>> = {
  idle: 'tcpIdleTimeouts',
  messageTimeout: 'tcpMessageTimeouts',
  evictedIdle: 'tcpEvictedIdle',
  evictedIncomplete: 'tcpEvictedIncomplete',
  malformed: 'tcpClosedMalformed',
};

/**
 * One TCP connection: length-prefixed messages (RFC 1035 §4.2.2), pipelined and answered possibly
 * out of order (RFC 7766 §6.2.1.1), with reading paused while the peer is not reading our replies
 * or while `maxInFlight` queries are unanswered (D7).
 *
 * Two clocks bound what a peer can hold (issue 12; RFC 7766 §6.2.3 lets a server close idle or
 * slow connections):
 * - the message clock starts at the first octet of a message and stops when the message is
 *   complete; it runs only while we are reading (a pause is our doing, not the peer's). Missing
 *   it destroys the connection: Knot closes an incomplete message after 0.5 s the same way.
 * - the idle clock restarts only when a complete message is taken or the last in-flight answer is
 *   written. Octets of an incomplete message never restart it, so a trickle cannot keep a slot.
 */
class TcpConnection {
  /** Received octets not yet framed; concatenated lazily so a trickle of tiny segments stays linear. */
  private chunks: Buffer[] = [];
  private buffered = 0;
  private inFlight = 0;
  private writeBlocked = false;
  private paused = false;
  private peerEnded = false;
  private readonly idleTimer: NodeJS.Timeout;
  /** Running while the head of the buffer is an incomplete message and we are reading. */
  private messageTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly client: ClientAddress,
    private readonly ctx: ConnectionContext,
  ) {
    socket.setNoDelay(true);
    this.idleTimer = setTimeout(() => this.onIdleTimeout(), ctx.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('end', () => this.onPeerEnd());
    socket.on('close', () => this.onClose());
  }

  /** Destroy it to make room for a new connection (an admission decision). Octets still held mean a message was under way. */
  evict(): void {
    this.close(this.buffered > 0 ? 'evictedIncomplete' : 'evictedIdle');
  }

  /** Destroy it without counting a reason (server shutdown). */
  destroy(): void {
    this.socket.destroy();
  }

  private get closed(): boolean {
    return this.socket.destroyed;
  }

  // --- socket events ---------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered > this.ctx.counters.tcpReadBacklogHighWater) this.ctx.counters.tcpReadBacklogHighWater = this.buffered;
    this.pump();
  }

  private onDrain(): void {
    this.writeBlocked = false;
    this.pump();
  }

  private onPeerEnd(): void {
    this.peerEnded = true;
    this.pump();
  }

  private onClose(): void {
    clearTimeout(this.idleTimer);
    this.stopMessageClock();
    this.ctx.admission.remove(this);
    this.ctx.counters.tcpConnectionsOpen = this.ctx.admission.size;
  }

  /** D6: destroy, since end() leaves a FIN-ignoring peer holding the descriptor forever. */
  private close(reason: CloseReason): void {
    if (this.closed) return;
    this.ctx.counters[CLOSE_COUNTER[reason]]++;
    this.socket.destroy();
    // 'close' comes later; the slot is free now, so an eviction admits its replacement at once.
    this.onClose();
  }

  // --- clocks ----------------------------------------------------------------------------------

  private onIdleTimeout(): void {
    // A query in flight is not idleness; finishing it restarts the clock (finishQuery).
    if (this.inFlight === 0) this.close('idle');
  }

  private startMessageClock(): void {
    this.messageTimer ??= setTimeout(() => this.close('messageTimeout'), this.ctx.messageTimeoutMs);
  }

  private stopMessageClock(): void {
    if (this.messageTimer === undefined) return;
    clearTimeout(this.messageTimer);
    this.messageTimer = undefined;
  }

  /** Run the message clock exactly while we read and the buffer starts with an incomplete message. */
  private updateMessageClock(): void {
    if (!this.paused && this.buffered > 0 && !this.nextFrameReady()) this.startMessageClock();
    else this.stopMessageClock();
  }

  // --- framing and flow ------------------------------------------------------------------------

  /** Gather the first n buffered octets into chunks[0]. */
  private gather(n: number): Buffer {
    let first = this.chunks[0]!;
    if (first.length < n) {
      first = Buffer.concat(this.chunks, this.buffered);
      this.chunks = [first];
    }
    return first;
  }

  /** The next complete message, null when incomplete, or 'bad' for a frame that cannot be DNS. */
  private nextFrame(): Buffer | null | 'bad' {
    if (this.buffered < 2) return null;
    const length = this.gather(2).readUInt16BE(0);
    // Shorter than a header can never be a message; no ID to answer, so close (RFC 7766 §6.2.4
    // lets a server close a connection on a malformed message).
    if (length < HEADER_SIZE) return 'bad';
    if (this.buffered < 2 + length) return null;
    const first = this.gather(2 + length);
    const frame = first.subarray(2, 2 + length);
    const rest = first.subarray(2 + length);
    if (rest.length > 0) this.chunks[0] = rest;
    else this.chunks.shift();
    this.buffered -= 2 + length;
    return frame;
  }

  private nextFrameReady(): boolean {
    if (this.buffered < 2) return false;
    return this.buffered >= 2 + this.gather(2).readUInt16BE(0);
  }

  private pump(): void {
    while (!this.closed && !this.writeBlocked && this.inFlight < this.ctx.maxInFlight) {
      const frame = this.nextFrame();
      if (frame === null) break;
      if (frame === 'bad') {
        this.close('malformed');
        return;
      }
      // This message is complete: its clock stops, and the next one's starts at its first octet.
      this.stopMessageClock();
      this.take(frame);
    }
    if (this.closed) return;
    this.updateFlow();
    this.updateMessageClock();
    // The peer half-closed and everything it sent is answered: finish our side too.
    if (this.peerEnded && this.inFlight === 0 && !this.nextFrameReady() && !this.socket.writableEnded) this.socket.end();
  }

  private updateFlow(): void {
    const stop = this.writeBlocked || this.inFlight >= this.ctx.maxInFlight;
    if (stop && !this.paused) {
      this.paused = true;
      this.ctx.counters.tcpReadPauses++;
      this.socket.pause();
    } else if (!stop && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  // --- one message -----------------------------------------------------------------------------

  /** A complete message: answer it now, or count it in flight until its answer is ready. */
  private take(frame: Buffer): void {
    this.idleTimer.refresh();
    this.ctx.admission.touch(this);
    let out: Buffer | null | Promise<Buffer | null>;
    try {
      out = this.ctx.handleMessage(frame, this.client);
    } catch (err) {
      this.ctx.log.error(errorFields(err), 'TCP message handling failed');
      this.socket.destroy();
      return;
    }
    if (out === null) {
      // A message that must not be answered (e.g. QR=1) means the peer is not a DNS client.
      this.close('malformed');
      return;
    }
    if (out instanceof Promise) this.awaitAnswer(out);
    else this.write(out);
  }

  private awaitAnswer(answer: Promise<Buffer | null>): void {
    if (this.inFlight++ === 0) this.ctx.admission.markBusy(this);
    if (this.inFlight > this.ctx.counters.tcpInFlightHighWater) this.ctx.counters.tcpInFlightHighWater = this.inFlight;
    answer
      .then(
        (reply) => {
          this.finishQuery();
          if (reply === null) this.close('malformed');
          else this.write(reply);
        },
        (err: unknown) => {
          this.finishQuery();
          this.ctx.log.error(errorFields(err), 'TCP message handling failed');
          this.socket.destroy();
        },
      )
      .then(() => this.pump())
      .catch((err: unknown) => {
        this.ctx.log.error(errorFields(err), 'TCP connection handling failed');
        this.socket.destroy();
      });
  }

  /** One in-flight query is answered; the last one makes the connection idle (and evictable). */
  private finishQuery(): void {
    if (--this.inFlight > 0 || this.closed) return;
    this.idleTimer.refresh();
    this.ctx.admission.markIdle(this);
  }

  private write(reply: Buffer): void {
    if (this.closed || !this.socket.writable) return;
    const framed = Buffer.allocUnsafe(2 + reply.length);
    framed.writeUInt16BE(reply.length, 0);
    reply.copy(framed, 2);
    const ok = this.socket.write(framed);
    const backlog = this.socket.writableLength;
    if (backlog > this.ctx.counters.tcpWriteBacklogHighWater) this.ctx.counters.tcpWriteBacklogHighWater = backlog;
    // D7: the peer is not keeping up; stop taking queries until 'drain'.
    if (!ok) this.writeBlocked = true;
  }
}
