/**
 * docs/metrics.md is generated from the metric declarations beside each module and must not drift
 * from them (npm run gen:metrics-reference); every family gsdns registers is declared there, and
 * the page documents none that does not exist (an operator must be able to trust that table).
 * Folds in the former metrics-docs.test.ts.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers/gsdns-process.js';
import { METRIC_GROUPS, createMetrics } from '../../../src/metrics-plan.js';
import { endMarker, renderMetricsTable, startMarker, updateMetricsReference } from '../../../src/ops/metrics-reference.js';

const page = (): string => readFileSync(join(repoRoot, 'docs', 'metrics.md'), 'utf8');
const declared = METRIC_GROUPS.flatMap((g) => g.families);

test('docs/metrics.md equals the tables rendered from the declarations (npm run gen:metrics-reference)', (t) => {
  const text = page();
  for (const g of METRIC_GROUPS) t.true(text.includes(startMarker(g.id)) && text.includes(endMarker(g.id)), `markers of ${g.id}`);
  t.is(updateMetricsReference(text, METRIC_GROUPS), text);
});

test('docs/metrics.md documents exactly the declared gsdns_ families', (t) => {
  const names = new Set(declared.map((f) => f.name));
  t.is(names.size, declared.length, 'each family is declared once');
  t.true(names.size >= 40, `found ${names.size} declared families`);
  const documented = new Set([...page().matchAll(/`(gsdns_[a-z_]+)`/g)].map((m) => m[1]!));
  t.deepEqual([...names].filter((m) => !documented.has(m)).sort(), [], 'declared but not documented');
  t.deepEqual([...documented].filter((m) => !names.has(m)).sort(), [], 'documented but not declared');
});

test('with every module on, Metrics registers exactly the declared families, with their type and help', async (t) => {
  const none = () => undefined;
  const m = createMetrics(
    {
      dnsEdge: () => {
        throw new Error('not scraped');
      },
      forward: () => {
        throw new Error('not scraped');
      },
      registry: () => ({ local: 0, remote: 0 }),
      sync: none,
      health: none,
      kubernetes: none,
      stubWiring: none,
      failOpenAnswers: () => 0,
      answerCache: () => ({ entries: 0, bytes: 0, hits: 0, misses: 0 }),
    },
    { sync: true, health: true, kubernetes: true, selfTest: true },
    { version: 'test', nodeVersion: 'v0' },
  );
  const registered = m.registry
    .getMetricsAsArray()
    .filter((x) => x.name.startsWith('gsdns_'))
    .map((x) => ({ name: x.name, type: String(x.type), help: x.help }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const expected = declared.map((f) => ({ name: f.name, type: f.type, help: f.help })).sort((a, b) => a.name.localeCompare(b.name));
  t.deepEqual(registered, expected);
  // The exposition's # TYPE lines agree (the hot-path families set theirs themselves).
  const text = await m.registry.getSingleMetricAsString('gsdns_dns_request_duration_seconds');
  t.regex(text, /^# TYPE gsdns_dns_request_duration_seconds histogram$/m);
});

test('renderMetricsTable: label values, help then note, pipes escaped', (t) => {
  t.is(
    renderMetricsTable([
      { name: 'gsdns_a_total', type: 'counter', help: 'As | counted.', labels: ['x', 'y'], labelValues: { x: 'p, q' }, note: 'See `k`.' },
      { name: 'gsdns_b', type: 'gauge', help: 'B.', labels: [] },
    ]),
    [
      '| metric | type | labels | meaning |',
      '|---|---|---|---|',
      '| `gsdns_a_total` | counter | `x` (p, q), `y` | As \\| counted. See `k`. |',
      '| `gsdns_b` | gauge |  | B. |',
    ].join('\n'),
  );
});

test('updateMetricsReference rewrites only between the markers, and refuses a page without them', (t) => {
  const groups = [{ id: 'g', families: [{ name: 'gsdns_b', type: 'gauge', help: 'B.', labels: [] }] }] as const;
  const before = `# Title\n\nprose\n\n${startMarker('g')}\nold table\n${endMarker('g')}\n\nmore prose\n`;
  t.is(
    updateMetricsReference(before, groups),
    `# Title\n\nprose\n\n${startMarker('g')}\n${renderMetricsTable(groups[0].families)}\n${endMarker('g')}\n\nmore prose\n`,
  );
  t.throws(() => updateMetricsReference('# Title\n', groups), { message: /markers/ });
});
