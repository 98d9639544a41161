/**
 * Test helper: loopback ports that a test names before anything listens on them (a peer's sync
 * port in another peer's config, a gsdns listen address, an unbound or knotd port).
 *
 * Why not "bind port 0, read it, close it": that port comes from the kernel's ephemeral range, and
 * the kernel hands it out again at once, to another test's outgoing connection or its own port-0
 * listener, before our server binds it (CI saw EADDRINUSE this way). Ports here come from below
 * the ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), which the kernel never picks on
 * its own, and each is reserved across every test file of the run, threads and processes alike, by
 * a lock file created exclusively (O_EXCL) that names the reserving pid. A lock whose pid is gone
 * (an earlier run) is taken over. Before a port is handed out, TCP and UDP are both bound on it.
 *
 * Resolvers started by tests (unbound) pick random source ports; they are told to avoid this range.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LOCK_DIR = join(tmpdir(), 'gsdns-test-ports');
const RANGE_SIZE = 12_000;

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    if (Number.isInteger(n) && n > 2048) return n;
  } catch {
    // Not Linux: assume the IANA ephemeral range.
  }
  return 49152;
}

/** The ports this helper hands out: [first, last], all below the kernel's ephemeral range. */
export const TEST_PORT_RANGE: { readonly first: number; readonly last: number } = (() => {
  const last = ephemeralLow() - 1;
  return { first: Math.max(1025, last - RANGE_SIZE + 1), last };
})();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reserves `port` for this process: true when the lock is ours. */
function reserve(port: number): boolean {
  const file = join(LOCK_DIR, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: number;
    try {
      owner = Number(readFileSync(file, 'utf8'));
    } catch {
      continue; // removed meanwhile: try to create it again
    }
    // Half-written by its owner (empty) or held by a live process: not ours.
    if (!Number.isInteger(owner) || owner <= 0 || pidAlive(owner)) return false;
    rmSync(file, { force: true });
  }
  return false;
}

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    sock.once('error', () => {
      sock.close();
      resolve(false);
    });
    sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
  });
}

/** A loopback port, free for TCP and UDP, that no other test of this run will be given. */
export async function freePort(): Promise<number> {
  mkdirSync(LOCK_DIR, { recursive: true });
  const span = TEST_PORT_RANGE.last - TEST_PORT_RANGE.first + 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < 200; i++) {
    const port = TEST_PORT_RANGE.first + ((start + i * 7919) % span);
    if (!reserve(port)) continue;
    if ((await tcpFree(port)) && (await udpFree(port))) return port;
  }
  throw new Error(`no free loopback port in ${TEST_PORT_RANGE.first}-${TEST_PORT_RANGE.last}`);
}
