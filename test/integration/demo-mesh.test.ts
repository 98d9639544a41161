/**
 * `npm run demo:mesh` end to end: scripts/demo-mesh.ts runs as a child process on free ports
 * (`--base-port 0`), and its printed guide is followed: the dig commands give the answers it
 * promises (eu answers with its ClusterIP, us and ap with eu's gateway, a loopback listener of the
 * demo that every peer really probes); "try this" 1 (type eu: eu's gateway listener closes, ap's
 * ratings fail over to us, eu-only names fail open with TTL 1; type eu again: back) and the two
 * catalog edits behave as described; and Ctrl-C (SIGINT) stops all three gsdns processes, removes
 * the temporary folder and exits 0. Uses the built CLI (dist/), like the other process tests.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { answers, dig } from '../helpers/dig.js';
import { requireTool } from '../helpers/dns-tools.js';
import { repoRoot } from '../helpers/gsdns-process.js';

const READY_LINE = 'Press Ctrl-C to stop all three.';

interface DigCommand {
  readonly cluster: string;
  readonly port: number;
  readonly name: string;
  readonly promised: string;
}

/** Is any process of this process group still alive? */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Write-then-rename, as an editor or a ConfigMap update does: the reader never sees half a file. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

async function until(t: ExecutionContext, what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.fail(`${what}: not within ${timeoutMs} ms`);
}

test('demo:mesh starts eu, us and ap, its dig commands give the promised answers, and Ctrl-C stops everything', async (t) => {
  if (!(await requireTool(t, 'dig')) || !(await requireTool(t, 'openssl'))) return;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['DEMO_MESH_BASE_PORT'];
  // Its own process group, so teardown can kill the script and its three children at once.
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', 'demo-mesh.ts'), '--base-port', '0'], {
    cwd: repoRoot,
    env,
    detached: true,
    // stdin: the guide's "type eu and press Enter".
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const pgid = child.pid!;
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let dir: string | undefined;
  t.teardown(() => {
    if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 40_000);
    const onData = (): void => {
      if (!out.includes(READY_LINE)) return;
      clearTimeout(timer);
      resolve(true);
    };
    child.stdout.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      resolve(out.includes(READY_LINE));
    });
  });
  dir = /files \(removed on exit\): (\S+)/.exec(out)?.[1];
  if (!ready) {
    t.fail(`the demo did not print its guide:\n${out}`);
    return;
  }
  t.truthy(dir, 'the guide names the temporary folder');
  t.true(existsSync(dir!));

  const commands: DigCommand[] = [...out.matchAll(/^ {2}dig @127\.0\.0\.1 -p (\d+) \+short (\S+) +# (\w+): (\S+)$/gm)].map((m) => ({
    port: Number(m[1]),
    name: m[2]!,
    cluster: m[3]!,
    promised: m[4]!,
  }));
  t.deepEqual(
    commands.map((c) => [c.cluster, c.name, c.promised]),
    [
      ['eu', 'productpage.bookinfo.global', '10.96.0.20'],
      ['us', 'productpage.bookinfo.global', '127.0.0.10'],
      ['ap', 'productpage.bookinfo.global', '127.0.0.10'],
      ['ap', 'ratings.bookinfo.global', '127.0.0.10'],
    ],
    "local ClusterIP in eu, eu's gateway from us and ap; ap takes ratings from eu, the nearer of eu and us",
  );
  for (const c of commands) {
    const r = await dig(t, c.port, [c.name, 'A']);
    t.is(r?.status, 'NOERROR', `${c.cluster}: ${c.name}`);
    t.deepEqual(r ? answers(r, 'A') : [], [c.promised], `${c.cluster}: ${c.name}`);
  }
  const port = (cluster: string): number => commands.find((c) => c.cluster === cluster)!.port;

  // The gateways are probed for real: every peer has seen eu's listener answer.
  const euGateway = /^ {2}eu +eu-west-1 +(127\.0\.0\.10:\d+) /m.exec(out)?.[1];
  t.truthy(euGateway, "the guide lists eu's gateway with its port");
  const httpPort = (cluster: string): number => Number(new RegExp(`^ {2}${cluster} .* http://127\\.0\\.0\\.1:(\\d+) `, 'm').exec(out)?.[1]);
  const gatewayStatus = async (cluster: string): Promise<string | undefined> => {
    const body = (await (await fetch(`http://127.0.0.1:${httpPort(cluster)}/debug/clusters`)).json()) as {
      health: { gateways?: { address: string; port: number; status: string }[] };
    };
    return body.health.gateways?.find((g) => `${g.address}:${g.port}` === euGateway)?.status;
  };
  await until(
    t,
    "us and ap see eu's gateway healthy",
    async () => (await gatewayStatus('us')) === 'healthy' && (await gatewayStatus('ap')) === 'healthy',
    5000,
  );

  // "Try this" 1: type eu. Its gateway listener closes; probes fail; ap's ratings fail over to us,
  // and productpage (eu only) fails open with eu's gateway and TTL 1.
  const aRecords = async (cluster: string, name: string): Promise<string> => {
    const r = await dig(t, port(cluster), [name, 'A']);
    return r === undefined ? '' : r.answer.map((a) => `${a.ttl} ${a.data}`).join(',');
  };
  child.stdin.write('eu\n');
  await until(
    t,
    "ap fails ratings over to us when eu's gateway is down",
    async () => (await aRecords('ap', 'ratings.bookinfo.global')) === '5 127.0.0.20',
    5000,
  );
  t.regex(out, /\[demo\] eu's gateway 127\.0\.0\.10:\d+ is DOWN/);
  t.regex(out, /\[(us|ap)\] WARN gateway unhealthy gateway=127\.0\.0\.10:\d+/, 'peers log the probe failure');
  t.is(await gatewayStatus('ap'), 'unhealthy');
  await until(
    t,
    "us fails productpage open (no healthy candidate): eu's gateway, TTL 1",
    async () => (await aRecords('us', 'productpage.bookinfo.global')) === '1 127.0.0.10',
    3000,
  );
  t.is(await aRecords('eu', 'productpage.bookinfo.global'), '5 10.96.0.20', 'eu itself answers locally');
  child.stdin.write('eu\n');
  await until(
    t,
    "ap is back on eu's gateway once it is up again",
    async () => (await aRecords('ap', 'ratings.bookinfo.global')) === '5 127.0.0.10',
    5000,
  );
  t.regex(out, /\[demo\] eu's gateway 127\.0\.0\.10:\d+ is UP again/);
  await until(
    t,
    'us answers productpage normally again',
    async () => (await aRecords('us', 'productpage.bookinfo.global')) === '5 127.0.0.10',
    3000,
  );

  // "Try this" 2 and 3: edit eu's catalog; eu fails over to us, then us and ap lose productpage.
  const catalog = join(dir!, 'eu', 'catalog.yaml');
  const text = readFileSync(catalog, 'utf8');
  t.regex(out, new RegExp(`In ${catalog.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), "the guide names eu's catalog file");
  const reviewsDown = text.replace(/(name: reviews\n(?: {4}.*\n)*? {4}readyEndpoints: )1/, '$10');
  t.not(reviewsDown, text);
  replaceFile(catalog, reviewsDown);
  await until(
    t,
    'eu fails over reviews to us',
    async () => {
      const r = await dig(t, port('eu'), ['reviews.bookinfo.global', 'A']);
      return r !== undefined && JSON.stringify(answers(r, 'A')) === JSON.stringify(['127.0.0.20']);
    },
    5000,
  );
  const withoutProductpage = reviewsDown.replace(/ {2}- namespace: bookinfo\n {4}name: productpage\n(?: {4}.*\n)*/, '');
  t.notRegex(withoutProductpage, /productpage/);
  replaceFile(catalog, withoutProductpage);
  for (const cluster of ['us', 'ap']) {
    await until(
      t,
      `${cluster} answers NXDOMAIN for productpage`,
      async () => (await dig(t, port(cluster), ['productpage.bookinfo.global', 'A']))?.status === 'NXDOMAIN',
      5000,
    );
  }

  // Ctrl-C: SIGINT to the script alone; it stops its children itself.
  process.kill(child.pid!, 'SIGINT');
  const timeout = setTimeout(() => {
    if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
  }, 15_000);
  const { code, signal } = await exited;
  clearTimeout(timeout);
  t.is(code, 0, `exit ${String(code)} ${String(signal)}:\n${out.slice(-3000)}`);
  t.false(existsSync(dir!), 'the temporary folder is removed');
  // Children that exited a moment ago may still be in the group until they are reaped.
  for (let i = 0; i < 60 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 50));
  t.false(groupAlive(pgid), 'no gsdns process is left running');
  t.regex(out, /stopped; removed /);
});
