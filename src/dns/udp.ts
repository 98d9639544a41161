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
import type { ClientAddress, EdgeCounters, EdgeLogger, MessageSink } from './types.js';

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

/** The 'message' handler every UDP socket of one server shares. */
export function datagramHandler(
  sink: MessageSink,
  counters: EdgeCounters,
  log: EdgeLogger,
): (socket: EdgeUdpSocket, data: Buffer, rinfo: RemoteInfo) => void {
  const send = (socket: EdgeUdpSocket, reply: Buffer, rinfo: RemoteInfo): void => {
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

  return (socket, data, rinfo) => {
    if (isUnanswerableSource(rinfo)) {
      counters.queries.udp++;
      counters.dropped++;
      return;
    }
    const client: ClientAddress = { address: rinfo.address, port: rinfo.port, family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4' };
    let out: Buffer | null | Promise<Buffer | null>;
    try {
      out = sink(data, 'udp', client);
    } catch (err) {
      // Only a bug in the edge gets here; never let it reach the socket's 'message' emitter.
      log.error(errorFields(err), 'UDP message handling failed');
      return;
    }
    if (out === null) return;
    if (out instanceof Promise) {
      out.then(
        (reply) => {
          if (reply !== null) send(socket, reply, rinfo);
        },
        (err: unknown) => log.error(errorFields(err), 'UDP message handling failed'),
      );
      return;
    }
    send(socket, out, rinfo);
  };
}
