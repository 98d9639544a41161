/** docs/configuration.md is generated from the schema and must not drift from it. */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configSchema, renderConfigReference, type JsonSchema } from '../../../src/config/index.js';

const START = '<!-- config-reference:start -->';
const END = '<!-- config-reference:end -->';

test('docs/configuration.md equals the reference rendered from the schema (npx tsx scripts/gen-config-reference.ts)', (t) => {
  const readme = readFileSync(fileURLToPath(new URL('../../../docs/configuration.md', import.meta.url)), 'utf8');
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  t.true(start >= 0 && end > start, 'docs/configuration.md has the config-reference markers');
  t.is(readme.slice(start + START.length, end).trim(), renderConfigReference(configSchema).trim());
});

test('the reference has a row for every key, nested objects and list items included', (t) => {
  const table = renderConfigReference(configSchema);
  for (const key of [
    'cluster.name',
    'dns.listen[].port',
    'dns.tcp.maxInFlightPerConnection',
    'sync.peers[].url',
    'log.queries.sampleRate',
  ]) {
    t.true(table.includes(`| \`${key}\` |`), key);
  }
  t.regex(table, /\| `dns\.policy` \| `failover` \\\| `spread` \\\| `weighted` \| `failover` \|/);
  t.regex(table, /\| `cluster\.weight` \| integer 0\.\.1000 \| `100` \|/);
  t.regex(table, /\| `dns\.listen` \| list of mapping \| `\[\{address: 127\.0\.0\.1, port: 5353\}\]` \|/);
  t.regex(table, /\| `cluster\.name` \| string \(dns-label\) \| {2}\| \*\*Required\.\*\*/);
});

test('renderConfigReference works on any schema: required marks, escaping, ranges', (t) => {
  const schema: JsonSchema = {
    type: 'object',
    required: ['a'],
    properties: {
      a: { type: 'integer', minimum: 1, maximum: 9, default: 3, description: 'pipes | escaped\nand one line' },
      b: { type: 'array', items: { type: 'object', properties: { c: { type: 'string', format: 'ip' } } }, default: [] },
    },
  };
  t.is(
    renderConfigReference(schema),
    [
      '| Key | Type | Default | Description |',
      '|---|---|---|---|',
      '| `a` | integer 1..9 | `3` | **Required.** pipes \\| escaped and one line |',
      '| `b` | list of mapping | `[]` |  |',
      '| `b[].c` | string (ip) |  |  |',
    ].join('\n'),
  );
});
