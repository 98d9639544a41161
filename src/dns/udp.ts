/**
 * DNS over UDP: one datagram in, at most one datagram out, on dns2's UDP socket class.
 *
 * Owns: receiving datagrams with dns2's parser bypassed (KNOWN-DEFECTS D1, D2, D8), and sending
 * replies with every send failure counted and logged (D4).
 * Never: answers a datagram from source port 0 (D4); lets a send failure or a bug in message
 * handling reach the socket's 'message' emitter.
 */
import type { RemoteInfo } from 'node:dgram';
import { UDPServer } from 'dns2';
import { errorFields } from './message.js';
import type { EdgeCounters, EdgeLogger, MessageSink } from './types.js';

/**
 * D4: a datagram from source port 0 cannot be answered (send() to port 0 fails) and is never a
 * real client. Exported for unit tests.
 */
export function isUnanswerableSource(rinfo: Pick<RemoteInfo, 'port'>): boolean {
  return rinfo.port === 0;
}

/** dns2's UDP socket, with its parser bypassed: raw datagrams come straight to us. */
export class EdgeUdpSocket extends UDPServer {
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
  const failed = (err: unknown, client?: RemoteInfo): void => {
    counters.sendErrors++;
    // An asynchronous failure's error (dgram's ExceptionWithHostPort) names the address and port.
    log.debug(
      client === undefined ? errorFields(err) : { ...errorFields(err), client: client.address, port: client.port },
      'UDP send failed',
    );
  };
  // dgram calls a send's callback on the next tick even when the send finished at once; without
  // one it drops failures silently, and D4 wants every failure counted.
  const sent = (err: Error | null): void => {
    if (err) failed(err);
  };
  const send = (socket: EdgeUdpSocket, reply: Buffer, rinfo: RemoteInfo): void => {
    try {
      // dgram throws synchronously for a bad port or a closed socket, and reports the rest to `sent`.
      socket.send(reply, rinfo.port, rinfo.address, sent);
    } catch (err) {
      failed(err, rinfo); // D4
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
