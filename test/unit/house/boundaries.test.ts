/**
 * The module boundaries of STYLE.md ("a pure core with adapters at the edges"), read from the
 * import statements of every file under src/:
 *  - an adapter (config, dns, forward, health, ops, sources, sync, and locality/geoip.ts) imports
 *    no other adapter: adapters meet only in the composition root (main.ts, cli.ts);
 *  - the core (answer, registry, locality/rank.ts, catalog, util, errors.ts, log.ts) imports no
 *    adapter;
 *  - nothing imports the composition root.
 * Type-only imports count: a type from another adapter is a dependency on it all the same.
 * Known violations are listed in ALLOWED, each with its reason; an entry that no longer occurs
 * fails too, so the list only shrinks.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const srcDir = join(repoRoot, 'src');

/** STYLE.md's adapters: each directory (or file) is its own unit; units may not import each other. */
const ADAPTERS = ['config', 'dns', 'forward', 'health', 'ops', 'sources', 'sync'] as const;
/** STYLE.md: "locality/ rank.ts PURE; geoip.ts adapter". */
const ADAPTER_FILES = ['locality/geoip.ts'] as const;
/** The pure or neutral centre, importable by every adapter. */
const CORE_DIRS = ['answer', 'registry', 'locality', 'catalog', 'route', 'util', 'wire'] as const;
/** config/types.ts holds declarations only: the typed, frozen config every module is handed. */
const CORE_FILES = ['errors.ts', 'log.ts', 'log-metrics.ts', 'config/types.ts'] as const;
/** The composition root: builds and wires (main.ts, build.ts, start.ts, metrics-plan.ts), runs the process (serve.ts, cli.ts). */
const ROOT_FILES = ['main.ts', 'build.ts', 'start.ts', 'cli.ts', 'serve.ts', 'metrics-plan.ts'] as const;

type Layer = { readonly kind: 'root' | 'core' } | { readonly kind: 'adapter'; readonly unit: string };

/** `path` is relative to src/, with `/` separators. */
function layerOf(path: string): Layer | undefined {
  if ((ROOT_FILES as readonly string[]).includes(path)) return { kind: 'root' };
  if ((ADAPTER_FILES as readonly string[]).includes(path)) return { kind: 'adapter', unit: path };
  if ((CORE_FILES as readonly string[]).includes(path)) return { kind: 'core' };
  const top = path.split('/')[0] as string;
  if (path.includes('/') && (ADAPTERS as readonly string[]).includes(top)) return { kind: 'adapter', unit: top };
  if (path.includes('/') && (CORE_DIRS as readonly string[]).includes(top)) return { kind: 'core' };
  return undefined;
}

interface Edge {
  /** Both relative to src/, e.g. `sync/protocol.ts` → `catalog/codec.ts`. */
  readonly from: string;
  readonly to: string;
  readonly typeOnly: boolean;
}

// Static imports and re-exports, which may span lines (`import {\n  a,\n  b,\n} from '...'`): the
// clause holds only names, braces, commas, `*`, `as` and `type`, so code and prose never match.
const STATIC = /^\s*(import|export)\s+(type\s+)?([\w$*{},\s]*?)\s*from\s*['"]([^'"]+)['"]/gm;
const SIDE_EFFECT = /^\s*import\s*['"]([^'"]+)['"]/gm;
// `await import('./x.js')` and type positions such as `import('../registry/types.js').RegistryReader`.
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

const toSrcPath = (abs: string): string => relative(srcDir, abs).split(sep).join(posix.sep);

function edgesOf(file: string): Edge[] {
  const text = readFileSync(file, 'utf8');
  const found: { spec: string; typeOnly: boolean }[] = [];
  for (const m of text.matchAll(STATIC)) {
    const clause = m[3] ?? '';
    const names = clause
      .replace(/[{}]/g, '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const typeOnly = m[2] !== undefined || (clause.includes('{') && names.length > 0 && names.every((n) => n.startsWith('type ')));
    found.push({ spec: m[4] as string, typeOnly });
  }
  for (const m of text.matchAll(SIDE_EFFECT)) found.push({ spec: m[1] as string, typeOnly: false });
  for (const m of text.matchAll(DYNAMIC)) found.push({ spec: m[1] as string, typeOnly: false });
  return found
    .filter((f) => f.spec.startsWith('.'))
    .map((f) => ({ from: toSrcPath(file), to: toSrcPath(join(dirname(file), f.spec.replace(/\.js$/, '.ts'))), typeOnly: f.typeOnly }));
}

const files = sourceFiles(srcDir);
const edges = files.flatMap(edgesOf);

/**
 * Violations that exist and are not fixed yet, `from → to` relative to src/. Each says what crosses
 * and why it is still here; remove the entry when the import goes (a stale entry fails the test).
 */
const ALLOWED: ReadonlyMap<string, string> = new Map([]);

const key = (e: Edge): string => `${e.from} → ${e.to}`;

function violationOf(e: Edge): string | undefined {
  const from = layerOf(e.from);
  const to = layerOf(e.to);
  if (from === undefined || to === undefined) return undefined; // reported by the classification test
  if (to.kind === 'root' && from.kind !== 'root') return 'imports the composition root';
  if (from.kind === 'core' && to.kind === 'adapter') return `the core imports the ${to.unit} adapter`;
  if (from.kind === 'adapter' && to.kind === 'adapter' && from.unit !== to.unit) return `adapter ${from.unit} imports adapter ${to.unit}`;
  return undefined;
}

test('the scanner sees multi-line, type-only, re-export and dynamic imports', (t) => {
  const has = (from: string, to: string, typeOnly?: boolean): boolean =>
    edges.some((e) => e.from === from && e.to === to && (typeOnly === undefined || e.typeOnly === typeOnly));
  // import { remoteCatalogSchema, toClusterCatalog } from '../catalog/codec.js'
  t.true(has('sync/protocol.ts', 'catalog/codec.ts', false));
  // import type { ... } from '../registry/types.js'
  t.true(has('sync/protocol.ts', 'registry/types.ts', true));
  // export { ..., type LabelSelector, ... } from '../../util/label-selector.js' (multi-line)
  t.true(has('sources/kubernetes/selector.ts', 'util/label-selector.ts', false));
  // export * from './types.js'
  t.true(has('registry/index.ts', 'registry/types.ts'));
  // await import('./sources/kubernetes/informers.js')
  t.true(has('start.ts', 'sources/kubernetes/informers.ts', false));
  // import type { GeoLocation } from '../registry/types.js', and two type positions such as
  // readonly registry: import('../registry/types.js').RegistryReader
  t.true(edges.filter((e) => e.from === 'answer/types.ts' && e.to === 'registry/types.ts').length >= 3);
  t.true(files.length > 50, `found ${files.length} files under src/`);
});

test('every relative import resolves to a file under src/', (t) => {
  const missing = edges.filter((e) => e.to.startsWith('..') || !existsSync(join(srcDir, e.to))).map(key);
  t.deepEqual(missing, []);
});

test('every file under src/ is the composition root, core or an adapter', (t) => {
  const unclassified = files.map(toSrcPath).filter((p) => layerOf(p) === undefined);
  t.deepEqual(unclassified, [], 'add the new module to ADAPTERS, CORE_DIRS or the file lists, after STYLE.md');
});

test('no adapter imports another adapter, and the core imports no adapter', (t) => {
  const seen = new Set<string>();
  const violations: string[] = [];
  for (const e of edges) {
    const why = violationOf(e);
    if (why === undefined || seen.has(key(e))) continue;
    seen.add(key(e));
    if (!ALLOWED.has(key(e))) violations.push(`${key(e)}${e.typeOnly ? ' (type-only)' : ''}: ${why}`);
  }
  t.deepEqual(violations, []);
});

test('every allowlisted violation still occurs (remove the entry when its import goes)', (t) => {
  const current = new Set(edges.filter((e) => violationOf(e) !== undefined).map(key));
  t.deepEqual(
    [...ALLOWED.keys()].filter((k) => !current.has(k)),
    [],
  );
});

test('the layers of STYLE.md hold for known modules', (t) => {
  t.deepEqual(layerOf('sync/protocol.ts'), { kind: 'adapter', unit: 'sync' });
  t.deepEqual(layerOf('sources/kubernetes/selector.ts'), { kind: 'adapter', unit: 'sources' });
  t.deepEqual(layerOf('locality/geoip.ts'), { kind: 'adapter', unit: 'locality/geoip.ts' });
  t.deepEqual(layerOf('locality/rank.ts'), { kind: 'core' });
  t.deepEqual(layerOf('catalog/codec.ts'), { kind: 'core' });
  t.deepEqual(layerOf('main.ts'), { kind: 'root' });
  t.is(violationOf({ from: 'sync/protocol.ts', to: 'sources/catalog-file.ts', typeOnly: false }), 'adapter sync imports adapter sources');
  t.is(
    violationOf({ from: 'config/load.ts', to: 'sources/kubernetes/selector.ts', typeOnly: false }),
    'adapter config imports adapter sources',
  );
  t.is(violationOf({ from: 'registry/registry.ts', to: 'health/readiness.ts', typeOnly: true }), 'the core imports the health adapter');
  t.is(violationOf({ from: 'answer/answer.ts', to: 'main.ts', typeOnly: false }), 'imports the composition root');
  t.is(violationOf({ from: 'sync/protocol.ts', to: 'answer/answer.ts', typeOnly: false }), undefined);
  t.is(violationOf({ from: 'main.ts', to: 'sync/service.ts', typeOnly: false }), undefined);
});
