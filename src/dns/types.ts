/**
 * The DNS edge's own types: its logger slice, counters and the message sink its transports share.
 * The protocol vocabulary (requests, results, events) is in src/wire/types.ts.
 */
import type { ClientAddress, Transport } from '../wire/types.js';

export type * from '../wire/types.js';

/** The slice of a pino logger the edge uses, so a test can pass a hand-written one. */
export interface EdgeLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
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

/** The edge's live counters (DnsEdgeStats, writable), shared by its message, UDP and TCP parts. */
export type EdgeCounters = {
  -readonly [K in keyof DnsEdgeStats]: DnsEdgeStats[K] extends object ? { udp: number; tcp: number } : number;
};

/** Handles one received message: the reply, null for "send nothing", or a promise of either that never rejects. */
export type MessageSink = (message: Buffer, transport: Transport, client: ClientAddress) => Buffer | null | Promise<Buffer | null>;
