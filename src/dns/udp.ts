/**
 * DNS over UDP: one datagram in, at most one datagram out.
 *
 * Owns: receiving datagrams (dns2's parser is never in the way: KNOWN-DEFECTS D1, D2, D8) and
 * sending replies, with every send that fails synchronously counted and logged (D4).
 * Never: answers a datagram from source port 0 (D4); lets a send failure or a bug in message
 * handling reach the socket's 'message' emitter.
 *
 * The socket is node:dgram's own, not dns2's UDP server class (which only subclasses it to parse
 * every datagram with dns2, and would not let us pass dgram's `lookup` option). Two choices keep a
 * reply free of Node's per-send ticks; on a bare dgram loop answering dnsperf they were worth +8 %
 * and a further +11 % (medians of 3 interleaved rounds, bench/README.md):
 * - `lookup` hands the destination, always the IP literal a datagram came from, straight back
 *   instead of through dns.lookup (which defers to the next tick even for a literal);
 * - a send has no completion callback: with one, dgram schedules it on the next tick even when the
 *   datagram left at once. The cost: a failure the kernel reports for an otherwise valid send
 *   (EPERM from a firewall rule, for one) is dropped by dgram unseen, as NSD and CoreDNS log it at
 *   most; a send that throws (a closed socket, a bad port) is still counted in `sendErrors`.
 */
import { createSocket, type RemoteInfo, type Socket, type SocketOptions } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import { errorFields } from './message.js';
import type { EdgeCounters, EdgeLogger, MessageSink } from './types.js';

/**
 * D4: a datagram from source port 0 cannot be answered (send() to port 0 fails) and is never a
 * real client. Exported for unit tests.
 */
export function isUnanswerableSource(rinfo: Pick<RemoteInfo, 'port'>): boolean {
  return rinfo.port === 0;
}

/**
 * dgram's `lookup`: an IP literal (every reply's destination) is its own answer, at once. It runs
 * once per reply, so it asks node:net's `isIP` (a character scan) rather than util/ip.ts's strict
 * parser, which builds a URL for IPv6; the address is the kernel's `rinfo`, never user text.
 */
const literalLookup: NonNullable<SocketOptions['lookup']> = (address, family, callback) => {
  const literal = isIP(address);
  if (literal === 0) {
    dnsLookup(address, family, callback);
    return;
  }
  callback(null, address, literal);
};

/** A UDP socket of the edge; its datagrams go to `onDatagram` with the socket they came in on. */
export type EdgeUdpSocket = Socket;

export function createEdgeUdpSocket(
  type: 'udp4' | 'udp6',
  onDatagram: (socket: EdgeUdpSocket, data: Buffer, rinfo: RemoteInfo) => void,
): EdgeUdpSocket {
  const socket = createSocket({ type, lookup: literalLookup });
  socket.on('message', (data, rinfo) => onDatagram(socket, data, rinfo));
  return socket;
}

/**
 * The 'message' handler every UDP socket of one server shares. Per datagram it allocates nothing
 * of its own on the way to the sink and back: the datagram's RemoteInfo is the client address, and
 * one completion callback (made here, once) serves every send.
 */
export function datagramHandler(
  sink: MessageSink,
  counters: EdgeCounters,
  log: EdgeLogger,
): (socket: EdgeUdpSocket, data: Buffer, rinfo: RemoteInfo) => void {
  const send = (socket: EdgeUdpSocket, reply: Buffer, rinfo: RemoteInfo): void => {
    try {
      // dgram throws synchronously for a bad port or a closed socket (no callback: see the header).
      socket.send(reply, rinfo.port, rinfo.address);
    } catch (err) {
      counters.sendErrors++;
      log.debug({ ...errorFields(err), client: rinfo.address, port: rinfo.port }, 'UDP send failed'); // D4
    }
  };
  const handleFailure = (err: unknown): void => log.error(errorFields(err), 'UDP message handling failed');

  return (socket, data, rinfo) => {
    if (isUnanswerableSource(rinfo)) {
      counters.queries.udp++;
      counters.dropped++;
      return;
    }
    let out: Buffer | null | Promise<Buffer | null>;
    try {
      // RemoteInfo is a ClientAddress (address, port, and family 'IPv4' | 'IPv6' since Node 18.4).
      out = sink(data, 'udp', rinfo);
    } catch (err) {
      // Only a bug in the edge gets here; never let it reach the socket's 'message' emitter.
      handleFailure(err);
      return;
    }
    if (out === null) return;
    if (out instanceof Promise) {
      out.then((reply) => {
        if (reply !== null) send(socket, reply, rinfo);
      }, handleFailure);
      return;
    }
    send(socket, out, rinfo);
  };
}
