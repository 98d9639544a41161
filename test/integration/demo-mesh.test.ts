/**
 * `npm run demo:mesh` end to end: scripts/demo-mesh.ts runs as a child process on free ports
 * (`--base-port 0`), and its printed guide is followed: the dig commands give the answers it
 * promises (eu answers with its ClusterIP, us and ap with eu's gateway), the first two "try this"
 * edits behave as described, and Ctrl-C (SIGINT) stops all three gsdns processes, removes the
 * temporary folder and exits 0. Uses the built CLI (dist/), like the other process tests.
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
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pgid = child.pid!;
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
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
    child.stdout!.on('data', onData);
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
      ['us', 'productpage.bookinfo.global', '203.0.113.10'],
      ['ap', 'productpage.bookinfo.global', '203.0.113.10'],
    ],
    'local ClusterIP in eu, eu\'s gateway from us and ap',
  );
  for (const c of commands) {
    const r = await dig(t, c.port, [c.name, 'A']);
    t.is(r?.status, 'NOERROR', `${c.cluster}: ${c.name}`);
    t.deepEqual(r ? answers(r, 'A') : [], [c.promised], `${c.cluster}: ${c.name}`);
  }
  const port = (cluster: string): number => commands.find((c) => c.cluster === cluster)!.port;

  // "Try this" 1 and 2: edit eu's catalog; eu fails over to us, then us and ap lose productpage.
  const catalog = join(dir!, 'eu', 'catalog.yaml');
  const text = readFileSync(catalog, 'utf8');
  t.regex(out, new RegExp(`In ${catalog.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'the guide names eu\'s catalog file');
  const reviewsDown = text.replace(/(name: reviews\n(?: {4}.*\n)*? {4}readyEndpoints: )1/, '$10');
  t.not(reviewsDown, text);
  replaceFile(catalog, reviewsDown);
  await until(t, 'eu fails over reviews to us', async () => {
    const r = await dig(t, port('eu'), ['reviews.bookinfo.global', 'A']);
    return r !== undefined && JSON.stringify(answers(r, 'A')) === JSON.stringify(['198.51.100.20']);
  }, 5000);
  const withoutProductpage = reviewsDown.replace(/ {2}- namespace: bookinfo\n {4}name: productpage\n(?: {4}.*\n)*/, '');
  t.notRegex(withoutProductpage, /productpage/);
  replaceFile(catalog, withoutProductpage);
  for (const cluster of ['us', 'ap']) {
    await until(t, `${cluster} answers NXDOMAIN for productpage`, async () => (await dig(t, port(cluster), ['productpage.bookinfo.global', 'A']))?.status === 'NXDOMAIN', 5000);
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
