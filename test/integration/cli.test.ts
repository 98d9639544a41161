/**
 * The real CLI: help everywhere, check-config lists every error with its key path, exit codes;
 * explain finds the /debug listener from the server's config or --server.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { binPath, demoCatalog, repoRoot, spawnGsdns, tempDir } from '../helpers/gsdns-process.js';
import { freePort } from '../helpers/unbound.js';

const run = promisify(execFile);

async function gsdns(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [binPath, ...args], { env: { ...process.env, ...env }, timeout: 15_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('--help works for the program and every command', async (t) => {
  for (const args of [['--help'], ['serve', '--help'], ['check-config', '--help'], ['explain', '--help']]) {
    const r = await gsdns(args);
    t.is(r.code, 0, args.join(' '));
    t.regex(r.stdout, /Usage:/);
  }
  const unknown = await gsdns(['frobnicate']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown command "frobnicate"/);
});

test('check-config: ok for the demo, every error with its key path otherwise', async (t) => {
  const ok = await gsdns(['check-config', join(repoRoot, 'config', 'demo.yaml')]);
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  t.is(ok.stdout.trim(), 'ok');

  const dir = tempDir(t);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    `cluster: {name: Not_A_Label}
dns:
  ttll: 5
  listen: [{address: 127.0.0.1, port: 70000}]
  policy: nearest
source: {type: file, file: {path: c.yaml}}
`,
  );
  const r = await gsdns(['check-config', bad]);
  t.is(r.code, 1);
  for (const path of ['cluster.name', 'dns.ttll', 'dns.listen[0].port', 'dns.policy']) {
    t.true(r.stdout.includes(path), `${path} missing from:\n${r.stdout}`);
  }

  const env = await gsdns(['check-config', join(repoRoot, 'config', 'demo.yaml')], { GSDNS_DNS__MAX_ANSWERS: 'many' });
  t.is(env.code, 1);
  t.regex(env.stdout, /dns\.maxAnswers/);
});

test('serve refuses an invalid config with exit code 1 and the key paths', async (t) => {
  const r = await gsdns(['serve', '--set', 'dns.ttl=-1', '--set', 'http.listen={address: 127.0.0.1, port: 0}']);
  t.is(r.code, 1);
  t.regex(r.stderr, /dns\.ttl/);
});

/** A config file like a deployment's: /debug on a loopback listener of its own at `debugPort`. */
function splitConfig(dir: string, debugPort: number, debug = `{listen: {address: 127.0.0.1, port: ${debugPort}}}`): string {
  const file = join(dir, 'gsdns.yaml');
  writeFileSync(
    file,
    `cluster: {name: demo-local, region: eu-west-1, zone: eu-west-1a, gateways: [{address: 203.0.113.10}]}
dns: {zones: [global]}
source: {type: file, file: {path: ${JSON.stringify(demoCatalog)}}}
health: {probe: {type: none}}
http:
  listen: {address: 0.0.0.0, port: 8080}
  debug: ${debug}
`,
  );
  return file;
}

const EXPLAINED = /reviews\.bookinfo\.global\. A → NOERROR \(remote\) via cluster-west/;

test('explain: --config finds /debug on its own listener; --server names it; the ops port says where /debug is not', async (t) => {
  const dir = tempDir(t);
  const debugPort = await freePort();
  const file = splitConfig(dir, debugPort);
  // spawnGsdns moves http.listen to a free loopback port; http.debug.listen is the file's.
  const s = await spawnGsdns(t, ['--config', file]);
  t.is(s.debugHttpPort, debugPort);

  const viaConfig = await gsdns(['explain', 'reviews.bookinfo.global', '--config', file]);
  t.is(viaConfig.code, 0, viaConfig.stderr);
  t.regex(viaConfig.stdout, EXPLAINED);

  const viaEnv = await gsdns(['explain', 'reviews.bookinfo.global'], { GSDNS_CONFIG: file });
  t.is(viaEnv.code, 0, viaEnv.stderr);
  t.regex(viaEnv.stdout, EXPLAINED);

  const viaServer = await gsdns(['explain', 'reviews.bookinfo.global', '--server', `http://127.0.0.1:${debugPort}`, '--json']);
  t.is(viaServer.code, 0, viaServer.stderr);
  t.is((JSON.parse(viaServer.stdout) as { kind: string }).kind, 'remote');

  const opsPort = await gsdns(['explain', 'reviews.bookinfo.global', '--server', `http://127.0.0.1:${s.httpPort}`]);
  t.is(opsPort.code, 1);
  t.regex(opsPort.stderr, /does not serve \/debug \(404\).*--config.*--server/);

  const both = await gsdns(['explain', 'reviews.bookinfo.global', '--server', `http://127.0.0.1:${debugPort}`, '--config', file]);
  t.is(both.code, 2);
  t.regex(both.stderr, /--server or --config/);
});

test('explain: /debug disabled in the config is a clear error, and nothing is asked', async (t) => {
  const dir = tempDir(t);
  const file = splitConfig(dir, 0, '{enabled: false}');
  const r = await gsdns(['explain', 'reviews.bookinfo.global', '--config', file]);
  t.is(r.code, 1);
  t.regex(r.stderr, /\/debug is disabled in .*gsdns\.yaml \(http\.debug\.enabled: false\)/);
  // The same loading as serve: --set and GSDNS_* apply.
  const set = await gsdns(['explain', 'x.global', '--config', file, '--set', 'http.debug.enabled=false']);
  t.is(set.code, 1);
  t.regex(set.stderr, /http\.debug\.enabled: false/);
  const invalid = await gsdns(['explain', 'x.global', '--config', file], { GSDNS_HTTP__DEBUG__ENABLED: 'maybe' });
  t.is(invalid.code, 1);
  t.regex(invalid.stderr, /http\.debug\.enabled/);
});

test('explain: with neither --config nor --server it asks the embedded demo address, as before', async (t) => {
  // Nothing of ours listens on 127.0.0.1:8080 in tests; whichever way it fails, it names that URL.
  const r = await gsdns(['explain', 'reviews.bookinfo.global']);
  t.regex(`${r.stdout}${r.stderr}`, r.code === 0 ? EXPLAINED : /http:\/\/127\.0\.0\.1:8080\//);
});
