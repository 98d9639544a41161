/**
 * Upstream tries (edge of the forwarder): one query to one upstream over UDP, or over TCP after a
 * truncated UDP reply, bounded by the try's timeout (SPEC §4).
 *
 * Owns: the tries' sockets (each tracked until its try settles, so close() can end every one), the
 * anti-spoofing match of replies, and each upstream's `mismatched` count.
 * Never: accepts a reply that fails the match (RFC 5452 §9.1: source address and port, ID,
 * question), reuses a socket between tries, retries (the forwarder decides what comes next), or
 * lets a socket error or timer escape: every try ends in one Attempt.
 * Invariants:
 * - Every UDP try has a fresh socket, so a new random source port.
 * - Every try settles exactly once (util/settle-once.ts); its socket is destroyed when it does.
 * - After close(), running tries end as errors and new tries fail at once.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket as TcpSocket } from 'node:net';
import { canonicalIp } from '../util/ip.js';
import { settleOnce, type SettleOnce } from '../util/settle-once.js';
import { FrameDecoder, frameMessage } from '../util/tcp-framing.js';
import { parseReply, replyMatches, type UpstreamReply } from '../wire/relay.js';
import type { ForwardLogger } from './types.js';
import type { Upstream } from './upstreams.js';

/** How one try ended. */
export type Attempt =
  | { readonly kind: 'reply'; readonly buf: Buffer; readonly reply: UpstreamReply }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'error'; readonly message: string };

/** What a try needs of its upstream: where it is, and where to count replies that fail the match. */
export interface TryTarget {
  readonly upstream: Upstream;
  mismatched: number;
}

/** One query of a try: the wire message, its ID and the question octets a reply must echo. */
export interface TryQuery {
  readonly message: Buffer;
  readonly id: number;
  readonly rawQuestion: Buffer;
}

function parseReplyOk(buf: Buffer): UpstreamReply | undefined {
  const r = parseReply(buf);
  return r.ok ? r.reply : undefined;
}

export class UpstreamTransport {
  private readonly sockets = new Set<UdpSocket | TcpSocket>();
  private closed = false;

  constructor(private readonly log?: ForwardLogger | undefined) {}

  /** One UDP try on a fresh socket; ignores anything but a matching reply from the upstream. */
  udp(target: TryTarget, query: TryQuery, timeoutMs: number): Promise<Attempt> {
    const { address, port, family } = target.upstream;
    if (this.closed) return Promise.resolve({ kind: 'error', message: 'forwarder closed' });
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    const op = this.track(socket, timeoutMs);
    op.listen(socket, 'error', (err: Error) => op.resolve({ kind: 'error', message: err.message }));
    op.listen(socket, 'close', () => op.resolve({ kind: 'error', message: 'socket closed' }));
    op.listen(socket, 'message', (msg: Buffer, rinfo: RemoteInfo) => {
      // RFC 5452 §9.1: only the address and port we sent to, our ID and our question count.
      if (rinfo.port !== port || canonicalIp(rinfo.address) !== address) {
        target.mismatched++;
        return;
      }
      const reply = parseReplyOk(msg);
      if (reply === undefined || !replyMatches(msg, reply, query.id, query.rawQuestion)) {
        target.mismatched++;
        this.log?.debug({ upstream: target.upstream.label }, 'ignored a reply that does not match the query');
        return;
      }
      op.resolve({ kind: 'reply', buf: msg, reply });
    });
    // connect() makes the kernel drop datagrams from other sources and report ICMP
    // port-unreachable as ECONNREFUSED, so a stopped upstream fails fast instead of timing out.
    socket.connect(port, address, () => {
      if (op.settled) return;
      socket.send(query.message, (err) => {
        if (err) op.resolve({ kind: 'error', message: err.message });
      });
    });
    return op.promise;
  }

  /** One TCP try (RFC 7766): a new connection, one length-prefixed query, one reply. */
  tcp(target: TryTarget, query: TryQuery, timeoutMs: number): Promise<Attempt> {
    const { address, port } = target.upstream;
    if (this.closed) return Promise.resolve({ kind: 'error', message: 'forwarder closed' });
    const socket = connect({ host: address, port });
    const op = this.track(socket, timeoutMs);
    const frames = new FrameDecoder();
    socket.setNoDelay(true);
    op.listen(socket, 'error', (err: Error) => op.resolve({ kind: 'error', message: err.message }));
    op.listen(socket, 'close', () => op.resolve({ kind: 'error', message: 'connection closed before a reply' }));
    op.listen(socket, 'connect', () => socket.write(frameMessage(query.message)));
    op.listen(socket, 'data', (chunk: Buffer) => {
      frames.push(chunk);
      for (const frame of frames.messages()) {
        // A copy: the reply may be cached, and the frame is a view into a larger chunk.
        const msg = Buffer.from(frame);
        const reply = parseReplyOk(msg);
        if (reply !== undefined && replyMatches(msg, reply, query.id, query.rawQuestion)) {
          op.resolve({ kind: 'reply', buf: msg, reply });
          return;
        }
        target.mismatched++;
      }
    });
    return op.promise;
  }

  /** End every running try (as an error: its socket closes) and refuse new ones. */
  close(): void {
    this.closed = true;
    for (const socket of this.sockets) destroySocket(socket);
    this.sockets.clear();
  }

  /** A try's socket, tracked for close() until the try settles (on a reply, an error or the timer). */
  private track(socket: UdpSocket | TcpSocket, timeoutMs: number): SettleOnce<Attempt> {
    this.sockets.add(socket);
    return settleOnce<Attempt>({
      timeoutMs,
      onTimeout: () => ({ kind: 'timeout' }),
      cleanup: () => {
        this.sockets.delete(socket);
        destroySocket(socket);
      },
    });
  }
}

function destroySocket(socket: UdpSocket | TcpSocket): void {
  try {
    if ('destroy' in socket) socket.destroy();
    else socket.close();
  } catch {
    // already closed
  }
}
