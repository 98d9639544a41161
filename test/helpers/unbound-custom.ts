/**
 * Test helper: a real `unbound` on a chosen loopback port with test-chosen zone configuration
 * (a stub-zone, a static local-zone, a forward-zone to a dead port, …). Unlike startUnbound it
 * does not need the zone's server to be up: it waits for unbound's own `version.server CH TXT`.
 * Stopped in t.teardown. Returns undefined (tool policy applied) when unbound is not installed.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { craftQuery, rawQuestion, requireTool, udpExchange } from './dns-tools.js';
import { tempDir } from './gsdns-process.js';
import { freePort, type Unbound } from './unbound.js';

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
