/** The real CLI's `gsdns certs init | issue`: files written, the printed sync.tls block, exit codes. */
import test from 'ava';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { binPath, demoCatalog, tempDir } from '../helpers/gsdns-process.js';

const run = promisify(execFile);

async function gsdns(args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [binPath, ...args], { timeout: 30_000, ...(cwd === undefined ? {} : { cwd }) });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

interface Snippet {
  sync: { trustDomain: string; tls: { ca: string; cert: string; key: string } };
}

test('--help for certs, certs init and certs issue; the top-level help lists both', async (t) => {
  const top = await gsdns(['--help']);
  t.regex(top.stdout, /gsdns certs init --out DIR/);
  t.regex(top.stdout, /gsdns certs issue --cluster NAME --out DIR/);
  for (const args of [
    ['certs', '--help'],
    ['certs', 'init', '--help'],
    ['certs', 'issue', '--help'],
    ['certs', 'issue', '-h'],
  ]) {
    const r = await gsdns(args);
    t.is(r.code, 0, args.join(' '));
    t.regex(r.stdout, /^Usage: gsdns certs/, args.join(' '));
  }
  t.regex((await gsdns(['certs', 'issue', '--help'])).stdout, /--trust-domain D\s+sync\.trustDomain \(default gsdns\.local\)/);
});

test('certs init writes the CA; a second init is refused (exit 1) unless --force', async (t) => {
  const dir = join(tempDir(t), 'pki');
  const r = await gsdns(['certs', 'init', '--out', dir, '--days', '30']);
  t.is(r.code, 0, r.stderr);
  t.is(
    r.stdout,
    `wrote ${join(dir, 'ca.pem')}\nwrote ${join(dir, 'ca-key.pem')} (mode 0600; keep it secret)\nnext: gsdns certs issue --cluster NAME --ca-dir ${dir} --out DIR\n`,
  );
  t.deepEqual(readdirSync(dir).sort(), ['ca-key.pem', 'ca.pem']);
  t.is(statSync(join(dir, 'ca-key.pem')).mode & 0o777, 0o600);
  const ca = new X509Certificate(readFileSync(join(dir, 'ca.pem')));
  t.true(ca.ca);
  const days = (Date.parse(ca.validTo) - Date.now()) / 86_400_000;
  t.true(days > 29 && days < 31, `${days} days`);

  const again = await gsdns(['certs', 'init', '--out', dir]);
  t.is(again.code, 1);
  t.regex(again.stderr, /^gsdns: a CA already exists .*--force/);
  t.is(readFileSync(join(dir, 'ca.pem'), 'utf8'), ca.toString(), 'unchanged');

  const forced = await gsdns(['certs', 'init', '--out', dir, '--force']);
  t.is(forced.code, 0, forced.stderr);
  t.not(readFileSync(join(dir, 'ca.pem'), 'utf8'), ca.toString());
});

test('certs issue writes the cluster pair and prints a sync block that check-config accepts', async (t) => {
  const dir = tempDir(t);
  const caDir = join(dir, 'ca');
  const out = join(dir, 'certs');
  t.is((await gsdns(['certs', 'init', '-o', caDir])).code, 0);

  const r = await gsdns([
    'certs',
    'issue',
    '--cluster',
    'cluster-a',
    '--out',
    out,
    '--ca-dir',
    caDir,
    '--trust-domain',
    'mesh.example',
    '--days',
    '10',
  ]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`^# wrote ${join(out, 'cluster-a.crt')}\n# wrote ${join(out, 'cluster-a.key')} \\(mode 0600\\)\n`));
  t.regex(r.stdout, /# identity: DNS:cluster-a\.mesh\.example, URI:spiffe:\/\/mesh\.example\/cluster\/cluster-a\n/);
  const snippet = parseYaml(r.stdout) as Snippet;
  t.deepEqual(snippet, {
    sync: {
      trustDomain: 'mesh.example',
      tls: { ca: join(caDir, 'ca.pem'), cert: join(out, 'cluster-a.crt'), key: join(out, 'cluster-a.key') },
    },
  });
  t.deepEqual(readdirSync(out).sort(), ['cluster-a.crt', 'cluster-a.key']);
  t.is(statSync(join(out, 'cluster-a.key')).mode & 0o777, 0o600);
  const leaf = new X509Certificate(readFileSync(snippet.sync.tls.cert));
  t.is(leaf.subjectAltName, 'DNS:cluster-a.mesh.example, URI:spiffe://mesh.example/cluster/cluster-a');
  t.true(leaf.verify(new X509Certificate(readFileSync(snippet.sync.tls.ca)).publicKey));

  // Pasted into a config of cluster-a, the block is valid.
  const config = join(dir, 'cluster-a.yaml');
  writeFileSync(config, `cluster: {name: cluster-a}\nsource: {type: file, file: {path: ${JSON.stringify(demoCatalog)}}}\n${r.stdout}`);
  const check = await gsdns(['check-config', config]);
  t.is(check.code, 0, check.stdout + check.stderr);
  t.is(check.stdout.trim(), 'ok');

  // --ca-dir defaults to --out; a relative --out resolves against the working folder; paths with
  // spaces come out quoted.
  const spaced = join(dir, 'with space');
  t.is((await gsdns(['certs', 'init', '--out', 'with space'], dir)).code, 0);
  const b = await gsdns(['certs', 'issue', '--cluster', 'b', '--out', 'with space'], dir);
  t.is(b.code, 0, b.stderr);
  t.true(b.stdout.includes(`ca: ${JSON.stringify(join(spaced, 'ca.pem'))}`), b.stdout);
  t.deepEqual(parseYaml(b.stdout), {
    sync: { trustDomain: 'gsdns.local', tls: { ca: join(spaced, 'ca.pem'), cert: join(spaced, 'b.crt'), key: join(spaced, 'b.key') } },
  });
  t.is(new X509Certificate(readFileSync(join(spaced, 'b.crt'))).subjectAltName, 'DNS:b.gsdns.local, URI:spiffe://gsdns.local/cluster/b');
});

test('certs exit codes: 2 for usage errors and bad names, 1 with no CA to sign with', async (t) => {
  const dir = tempDir(t);
  t.is((await gsdns(['certs', 'init', '--out', dir])).code, 0);
  const usage: [string[], RegExp][] = [
    [['certs'], /certs needs a command/],
    [['certs', 'sign'], /unknown certs command "sign"/],
    [['certs', 'init'], /certs init needs --out DIR/],
    [['certs', 'init', '--out', dir, '--days', 'ten'], /--days must be a positive whole number/],
    [['certs', 'init', '--out', dir, '--days', '0'], /--days must be a positive whole number/],
    [['certs', 'init', '--out', dir, '--cluster', 'a'], /Unknown option '--cluster'/],
    [['certs', 'init', '--out', dir, 'extra'], /takes no positional arguments/],
    [['certs', 'issue', '--out', dir], /certs issue needs --cluster NAME/],
    [['certs', 'issue', '--cluster', 'a'], /certs issue needs --out DIR/],
    [['certs', 'issue', '--cluster', 'Cluster_A', '--out', dir], /cluster "Cluster_A" must be a lowercase DNS label/],
    [
      ['certs', 'issue', '--cluster', 'a', '--out', dir, '--trust-domain', 'Mesh.Example.'],
      /trust domain "Mesh\.Example\." must be a lowercase domain name/,
    ],
  ];
  for (const [args, message] of usage) {
    const r = await gsdns(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message, args.join(' '));
    t.is(r.stdout, '');
  }
  t.deepEqual(readdirSync(dir).sort(), ['ca-key.pem', 'ca.pem'], 'nothing written by a usage error');

  const noCa = await gsdns(['certs', 'issue', '--cluster', 'a', '--out', join(dir, 'x'), '--ca-dir', join(dir, 'nowhere')]);
  t.is(noCa.code, 1);
  t.regex(noCa.stderr, /no CA in .*nowhere.*gsdns certs init --out/);
});
