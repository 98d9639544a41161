/**
 * Test helper: a real `unbound` resolver on loopback with `stub-zone: global` pointing at a gsdns
 * under test — the way CoreDNS forwards the zone to us. Stopped in t.teardown.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { requireTool } from './dns-tools.js';
import { tempDir } from './gsdns-process.js';
import { dig } from './dig.js';

/** A loopback port that is free for both TCP and UDP right now. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const sock = createSocket('udp4');
      sock.once('error', () => resolve(false));
      sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free loopback port');
}

export interface Unbound {
  readonly port: number;
  readonly logs: () => string;
}

export async function startUnbound(t: ExecutionContext, zone: string, upstreamPort: number): Promise<Unbound | undefined> {
  if (!(await requireTool(t, 'unbound'))) return undefined;
  const dir = tempDir(t, 'gsdns-unbound-');
  const port = await freePort();
  const conf = join(dir, 'unbound.conf');
  writeFileSync(
    conf,
    `server:
  interface: 127.0.0.1
  port: ${port}
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: "${join(dir, 'unbound.pid')}"
  use-syslog: no
  logfile: ""
  verbosity: 1
  do-daemonize: no
  do-not-query-localhost: no
  module-config: "iterator"
  domain-insecure: "${zone}"
  qname-minimisation: no
  num-threads: 1
  outgoing-range: 64
  num-queries-per-thread: 32
stub-zone:
  name: "${zone}"
  stub-addr: 127.0.0.1@${upstreamPort}
`,
  );
  const child = spawn('unbound', ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  });
  // Wait until unbound answers on its port (it is up within a second on this machine).
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`unbound exited:\n${out}`);
    try {
      const r = await dig(t, port, [`${zone}`, 'SOA']);
      if (r && r.status !== 'SERVFAIL') return { port, logs: () => out };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`unbound did not come up:\n${out}`);
}
