/**
 * DNS over TCP (RFC 1035 §4.2.2, RFC 7766): framing, pipelining, limits and back-pressure, on
 * dns2's TCP server class with its connection handler replaced by ours.
 *
 * Owns: admitting connections (src/dns/tcp-admission.ts decides), and each connection's framing,
 * clocks, in-flight count and flow control.
 * Never: half-closes an idle connection and waits (D6); reads more than it can answer (D7); lets
 * a client that sends slowly hold a connection slot (issue 12).
 * Invariants:
 * - a connection never has more than `maxInFlight` unanswered queries, and stops reading while it
 *   has that many or while its socket refuses writes;
 * - a message must arrive whole within `messageTimeoutMs` of its first octet (the length prefix),
 *   counted only while we are reading; otherwise the connection is destroyed;
 * - a connection is idle while nothing of it is in flight; only a complete message or a finished
 *   answer restarts its idle clock, never a stray octet. Idle connections are destroyed;
 * - at a connection cap, the least recently active connection with nothing in flight is destroyed
 *   to admit the new one; a new connection is refused only when every connection that could make
 *   room is busy.
 */
import type { Socket } from 'node:net';
import { TCPServer } from 'dns2';
import { errorFields } from './message.js';
import type { TcpAdmission } from './tcp-admission.js';
import type { ClientAddress, EdgeCounters, EdgeLogger, MessageSink } from './types.js';
import { FrameDecoder, frameMessage } from '../util/tcp-framing.js';
import { HEADER_SIZE } from '../wire/limits.js';

/** Per-connection socket buffer (octets) before write() reports back-pressure (D7). */
const TCP_SOCKET_HIGH_WATER_MARK = 16 * 1024;

/** dns2's TCP server (allowHalfOpen), with its connection handler replaced by our framing loop. */
export class EdgeTcpServer extends TCPServer {
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

/** The 'connection' handler: admit, make room (destroying the least recently active evictable connection), or refuse. */
export function connectionHandler(ctx: ConnectionContext, isClosing: () => boolean): (socket: Socket) => void {
  return (socket) => {
    // An error on a socket with no listener would crash the process.
    socket.on('error', (err) => ctx.log.debug(errorFields(err), 'TCP connection error'));
    if (isClosing()) {
      socket.destroy();
      return;
    }
    const clientKey = socket.remoteAddress ?? '';
    const decision = ctx.admission.decide(clientKey);
    if (decision.kind === 'refuse') {
      ctx.counters.tcpConnectionsRejected++;
      socket.destroy();
      return;
    }
    if (decision.kind === 'evict') decision.victim.evict();
    const client: ClientAddress = {
      address: clientKey,
      port: socket.remotePort ?? 0,
      family: socket.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    const connection = new TcpConnection(socket, client, ctx);
    ctx.admission.add(connection, clientKey);
    ctx.counters.tcpConnectionsAccepted++;
    ctx.counters.tcpConnectionsOpen = ctx.admission.size;
  };
}

/** What every TCP connection shares: limits, the message handler, the admission table, counters. */
export interface ConnectionContext {
  readonly maxInFlight: number;
  readonly idleTimeoutMs: number;
  readonly messageTimeoutMs: number;
  readonly handleMessage: MessageSink;
  /** Told when the connection turns busy or evictable, makes progress, and closes. */
  readonly admission: TcpAdmission<TcpConnection>;
  readonly counters: Pick<
    EdgeCounters,
    | 'tcpConnectionsOpen'
    | 'tcpConnectionsAccepted'
    | 'tcpConnectionsRejected'
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
export class TcpConnection {
  /** Received octets not yet taken as messages (src/util/tcp-framing.ts). */
  private readonly frames = new FrameDecoder({ minMessageBytes: HEADER_SIZE });
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
    this.close(this.frames.buffered > 0 ? 'evictedIncomplete' : 'evictedIdle');
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
    this.frames.push(chunk);
    const held = this.frames.buffered;
    if (held > this.ctx.counters.tcpReadBacklogHighWater) this.ctx.counters.tcpReadBacklogHighWater = held;
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
    if (!this.paused && this.frames.buffered > 0 && !this.frames.ready()) this.startMessageClock();
    else this.stopMessageClock();
  }

  // --- framing and flow ------------------------------------------------------------------------

  private pump(): void {
    while (!this.closed && !this.writeBlocked && this.inFlight < this.ctx.maxInFlight) {
      const frame = this.frames.next();
      if (frame === undefined) {
        // A frame shorter than a header can never be a message, and has no ID to answer: close
        // (RFC 7766 §6.2.4 lets a server close a connection on a malformed message).
        if (this.frames.error !== undefined) {
          this.close('malformed');
          return;
        }
        break;
      }
      // This message is complete: its clock stops, and the next one's starts at its first octet.
      this.stopMessageClock();
      this.take(frame);
    }
    if (this.closed) return;
    this.updateFlow();
    this.updateMessageClock();
    // The peer half-closed and everything it sent is answered: finish our side too.
    if (this.peerEnded && this.inFlight === 0 && !this.frames.ready() && !this.socket.writableEnded) this.socket.end();
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
      out = this.ctx.handleMessage(frame, 'tcp', this.client);
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
    const ok = this.socket.write(frameMessage(reply));
    const backlog = this.socket.writableLength;
    if (backlog > this.ctx.counters.tcpWriteBacklogHighWater) this.ctx.counters.tcpWriteBacklogHighWater = backlog;
    // D7: the peer is not keeping up; stop taking queries until 'drain'.
    if (!ok) this.writeBlocked = true;
  }
}
