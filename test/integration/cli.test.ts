/** The real CLI: help everywhere, check-config lists every error with its key path, exit codes. */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { binPath, repoRoot, tempDir } from '../helpers/gsdns-process.js';

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
  writeFileSync(bad, `cluster: {name: Not_A_Label}
dns:
  ttll: 5
  listen: [{address: 127.0.0.1, port: 70000}]
  policy: nearest
source: {type: file, file: {path: c.yaml}}
`);
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
