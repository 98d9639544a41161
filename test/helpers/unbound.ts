/**
 * Test helper: a real `unbound` resolver on loopback: with `stub-zone: global` pointing at a gsdns
 * under test (the way CoreDNS forwards the zone to us), or with any zone configuration a test
 * gives it. Stopped in t.teardown.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { craftQuery, rawQuestion, requireTool, udpExchange } from './dns-tools.js';
import { tempDir } from './gsdns-process.js';
import { dig } from './dig.js';
import { freePort, TEST_PORT_RANGE } from './ports.js';

export { freePort } from './ports.js';

export interface Unbound {
  readonly port: number;
  readonly logs: () => string;
}

/**
 * unbound with `stub-zone: <zone>` pointing at a gsdns on `upstreamPort`, the way CoreDNS forwards
 * the zone; resolves once the zone's SOA comes back through it (so gsdns is reachable too).
 */
export async function startUnbound(t: ExecutionContext, zone: string, upstreamPort: number): Promise<Unbound | undefined> {
  const unbound = await startCustomUnbound(t, {
    serverLines: [`domain-insecure: "${zone}"`],
    clauses: `stub-zone:\n  name: "${zone}"\n  stub-addr: 127.0.0.1@${upstreamPort}\n`,
  });
  if (!unbound) return undefined;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      const r = await dig(t, unbound.port, [`${zone}`, 'SOA']);
      if (r && r.status !== 'SERVFAIL') return unbound;
    } catch {
      // gsdns not reachable through it yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`unbound did not reach the ${zone} stub at port ${upstreamPort}:\n${unbound.logs()}`);
}

/**
 * A real `unbound` on a chosen loopback port with test-chosen zone configuration (a stub-zone, a
 * static local-zone, a forward-zone, …). It waits for unbound's own `version.server CH TXT`, so the
 * zone's server need not be up. Stopped in t.teardown; undefined (tool policy applied) when
 * unbound is not installed.
 */
export interface CustomUnboundOptions {
  /** Listen port; default a free one. */
  readonly port?: number | undefined;
  /** Extra `server:` lines (indented by the caller or not; each is indented here). */
  readonly serverLines?: readonly string[] | undefined;
  /** Top-level clauses after `server:` (stub-zone:, forward-zone:, …), verbatim. */
  readonly clauses?: string | undefined;
}

export async function startCustomUnbound(t: ExecutionContext, opts: CustomUnboundOptions = {}): Promise<Unbound | undefined> {
  if (!(await requireTool(t, 'unbound'))) return undefined;
  const dir = tempDir(t, 'gsdns-unbound-');
  const port = opts.port ?? (await freePort());
  const conf = join(dir, 'unbound.conf');
  const extra = (opts.serverLines ?? []).map((l) => `  ${l.trim()}\n`).join('');
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
  qname-minimisation: no
  num-threads: 1
  outgoing-range: 64
  outgoing-port-avoid: ${TEST_PORT_RANGE.first}-${TEST_PORT_RANGE.last}
  num-queries-per-thread: 32
  hide-version: no
${extra}${opts.clauses ?? ''}
`,
  );
  const child = spawn('unbound', ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  });
  // version.server CH TXT is answered by unbound itself: any reply means it is up.
  const probe = craftQuery({ id: 0x5eed, questions: [rawQuestion('version.server', 16, 3)] });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`unbound exited:\n${out}`);
    if ((await udpExchange(port, probe, { timeoutMs: 200 })) !== null) return { port, logs: () => out };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`unbound did not come up:\n${out}`);
}
