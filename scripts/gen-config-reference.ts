/**
 * Rewrites the configuration reference in docs/configuration.md from the schema, between the
 * `<!-- config-reference:start -->` and `<!-- config-reference:end -->` markers and nowhere else.
 * Usage: npx tsx scripts/gen-config-reference.ts [--check]   (--check exits 1 when out of date)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../src/config/schema.js';
import { renderConfigReference } from '../src/config/reference.js';

const START = '<!-- config-reference:start -->';
const END = '<!-- config-reference:end -->';
const readme = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));

const text = readFileSync(readme, 'utf8');
const start = text.indexOf(START);
const end = text.indexOf(END);
if (start < 0 || end < start) {
  console.error(`${readme}: markers ${START} ... ${END} not found`);
  process.exit(2);
}
const updated = `${text.slice(0, start + START.length)}\n${renderConfigReference(configSchema)}\n${text.slice(end)}`;
if (process.argv.includes('--check')) {
  if (updated !== text) {
    console.error('docs/configuration.md is out of date: run npx tsx scripts/gen-config-reference.ts');
    process.exit(1);
  }
} else if (updated !== text) {
  writeFileSync(readme, updated);
  console.log('docs/configuration.md updated');
}
