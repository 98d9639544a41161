/**
 * Test helper: renders the Helm chart in helm/gsdns the way `helm template` does, with the
 * `helm-render` stand-in from ../shared/tools/helm-render (Go text/template + sprig + Helm's
 * include/tpl/toYaml/required), since no helm binary is installed here.
 *
 * Owns: finding or building the helm-render binary once per process, running it, and splitting its
 * output into parsed manifests and the rendered NOTES.txt.
 * Never: talks to a Kubernetes cluster or the network, writes anywhere but node_modules/.cache/gsdns
 * (the built binary) and a temp file beside it, or edits the chart.
 * Invariants: the binary is `HELM_RENDER_BIN` when that is set; otherwise it is built from
 * build.sh into node_modules/.cache/gsdns/helm-render-<hash of main.go>, written under a temp
 * name and renamed into place (rename is atomic, so parallel ava workers never see half a file
 * and a changed main.go is rebuilt). A renderer that cannot be found or built follows the tool
 * policy of dns-tools.ts: a loud "NOT TESTED" pass locally, a failure under CI=true.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, constants, mkdir, readFile, rename, rm } from 'node:fs/promises';
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
/** Where the stand-in's sources and build script live: shared/ beside the repository. */
const toolDir = join(repoRoot, '..', 'shared', 'tools', 'helm-render');

/** A rendered Kubernetes object, as parsed from the manifest stream. */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
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
  /** Every non-empty manifest, in helm-render's order (template file name). */
  readonly manifests: readonly Manifest[];
  /** The rendered NOTES.txt. */
  readonly notes: string;
  /** helm-render's raw output. */
  readonly stdout: string;
}

/** A template error (`required`, `fail`, a bad value): helm-render exited non-zero. */
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
  const fromEnv = process.env['HELM_RENDER_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') {
    return (await executable(fromEnv)) ? { path: fromEnv } : { problem: `HELM_RENDER_BIN=${fromEnv} is not an executable file` };
  }
  let source: Buffer;
  try {
    source = await readFile(join(toolDir, 'main.go'));
  } catch (err) {
    return { problem: `helm-render sources not found in ${toolDir} (${(err as Error).message})` };
  }
  const cacheDir = join(repoRoot, 'node_modules', '.cache', 'gsdns');
  const binary = join(cacheDir, `helm-render-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`);
  if (await executable(binary)) return { path: binary };
  // build.sh would apt-get install Go when it is missing; a test never installs packages itself.
  const goPresent = await run('sh', ['-c', 'command -v go']).then(() => true, () => false);
  const sprigPresent = await access('/usr/share/gocode/src/github.com/Masterminds/sprig').then(() => true, () => false);
  if (!goPresent || !sprigPresent) {
    return { problem: 'Go and sprig are not installed (apt-get install -y golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev)' };
  }
  await mkdir(cacheDir, { recursive: true });
  const temp = `${binary}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await run('sh', [join(toolDir, 'build.sh'), temp], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
    await rename(temp, binary);
    return { path: binary };
  } catch (err) {
    const e = err as Error & { stderr?: string };
    return { problem: `cannot build helm-render with ${join(toolDir, 'build.sh')}: ${(e.stderr ?? '').trim() || e.message}` };
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * The helm-render binary, built on first use; undefined (after applying the tool policy to `t`)
 * when it is unavailable.
 */
export async function helmRender(t: ExecutionContext): Promise<string | undefined> {
  located ??= locate();
  const found = await located;
  if ('path' in found) return found.path;
  missing(t, `the chart renderer is unavailable: ${found.problem}`);
  return undefined;
}

/** Split helm-render's stdout: a `---`-separated manifest stream, then NOTES.txt as `# ` comment lines. */
export function parseRenderOutput(stdout: string): Rendered {
  const marker = stdout.search(/^# NOTES:$/m);
  const stream = marker < 0 ? stdout : stdout.slice(0, marker);
  const notes =
    marker < 0
      ? ''
      : stdout
          .slice(marker)
          .split('\n')
          .slice(1)
          .map((line) => line.replace(/^# ?/, ''))
          .join('\n');
  const manifests: Manifest[] = [];
  for (const doc of parseAllDocuments(stream)) {
    if (doc.errors.length > 0) throw new Error(`rendered manifest is not valid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const m = value as Manifest;
    if (typeof m.apiVersion !== 'string' || typeof m.kind !== 'string' || typeof m.metadata?.name !== 'string') {
      throw new Error(`rendered document lacks apiVersion, kind or metadata.name: ${JSON.stringify(value).slice(0, 200)}`);
    }
    manifests.push(m);
  }
  return { manifests, notes, stdout };
}

/** Render the chart with `binary` (from helmRender); rejects with HelmRenderError on a template error. */
export async function renderChart(binary: string, opts: RenderOptions = {}): Promise<Rendered> {
  const args: string[] = ['--namespace', opts.namespace ?? 'gsdns', '--name', opts.name ?? 'gsdns'];
  for (const file of opts.valuesFiles ?? []) args.push('-f', file);
  for (const set of opts.sets ?? []) args.push('--set', set);
  args.push(chartDir);
  try {
    const { stdout } = await run(binary, args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
    return parseRenderOutput(stdout);
  } catch (err) {
    const e = err as Error & { stderr?: string; code?: unknown };
    if (typeof e.code === 'number') throw new HelmRenderError(`helm-render failed: ${(e.stderr ?? '').trim()}`, e.stderr ?? '');
    throw err;
  }
}
