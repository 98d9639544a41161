/**
 * A sync-port attacker, run as its own process (so its sockets and its event loop are not the test
 * worker's): idle TCP connections and half-done TLS handshakes from many loopback source
 * addresses, reconnecting when the server closes them, for a bounded time.
 *
 * Usage: node sync-flood.mjs '<json>' with {host, port, sources: [addresses], idle, partial,
 * reconnectMs, durationMs}. It prints one JSON line of counters every 500 ms and a last one with
 * `done: true` before it exits; SIGTERM ends it early (with the last line).
 *
 * - idle: connect and send nothing (no ClientHello).
 * - partial: connect and send the first octets of a TLS ClientHello, never the rest.
 * Every connection the server closes (FIN or RST) is counted in `closedByServer` (or `resetAtConnect`
 * when the reset came before this side saw the connect) and reopened after
 * `reconnectMs` (jittered) until the deadline; connections this script closes are not counted.
 */
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';

const spec = JSON.parse(process.argv[2]);
const deadline = Date.now() + spec.durationMs;
const stats = { opened: 0, connected: 0, live: 0, closedByServer: 0, resetAtConnect: 0, connectErrors: 0, reconnects: 0 };
const sockets = new Set();
let stopping = false;

// A TLS record header announcing a 512-octet handshake record, then the start of a ClientHello:
// type 1, length, version 3.3, 32 random octets. The server waits for the rest.
function partialClientHello() {
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), randomBytes(32)]);
}

function open(kind, source) {
  if (stopping || Date.now() > deadline) return;
  stats.opened++;
  const socket = connect({ host: spec.host, port: spec.port, localAddress: source });
  sockets.add(socket);
  let connected = false;
  socket.on('connect', () => {
    connected = true;
    stats.connected++;
    stats.live++;
    if (kind === 'partial') socket.write(partialClientHello());
  });
  socket.on('data', () => {});
  socket.on('error', (err) => {
    if (connected) return;
    // The server accepted and reset it before this side saw the connect.
    if (err.code === 'ECONNRESET') stats.resetAtConnect++;
    else stats.connectErrors++;
  });
  socket.on('close', () => {
    sockets.delete(socket);
    if (connected) stats.live--;
    if (stopping) return;
    if (connected) stats.closedByServer++;
    if (Date.now() > deadline) return;
    stats.reconnects++;
    const delay = Math.round(spec.reconnectMs * (0.5 + Math.random()));
    setTimeout(() => open(kind, source), delay);
  });
}

function report(done) {
  process.stdout.write(`${JSON.stringify({ ...stats, done })}\n`);
}

function stop() {
  if (stopping) return;
  stopping = true;
  clearInterval(ticker);
  for (const s of sockets) s.destroy();
  report(true);
  process.exit(0);
}

const sources = spec.sources;
for (let i = 0; i < spec.idle; i++) open('idle', sources[i % sources.length]);
for (let i = 0; i < spec.partial; i++) open('partial', sources[(i * 7) % sources.length]);
const ticker = setInterval(() => (Date.now() > deadline ? stop() : report(false)), 500);
process.on('SIGTERM', stop);
