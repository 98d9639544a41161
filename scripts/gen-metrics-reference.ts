/**
 * Rewrites the metric tables in docs/metrics.md from the declarations beside each module, between
 * the `<!-- metrics-reference:start <group> -->` and `<!-- metrics-reference:end <group> -->`
 * markers and nowhere else (src/ops/metrics-reference.ts).
 * Usage: npx tsx scripts/gen-metrics-reference.ts [--check]   (--check exits 1 when out of date)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { METRIC_GROUPS } from '../src/metrics-plan.js';
import { updateMetricsReference } from '../src/ops/metrics-reference.js';

const page = fileURLToPath(new URL('../docs/metrics.md', import.meta.url));

const text = readFileSync(page, 'utf8');
let updated: string;
try {
  updated = updateMetricsReference(text, METRIC_GROUPS);
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
if (process.argv.includes('--check')) {
  if (updated !== text) {
    console.error('docs/metrics.md is out of date: run npm run gen:metrics-reference');
    process.exit(1);
  }
} else if (updated !== text) {
  writeFileSync(page, updated);
  console.log('docs/metrics.md updated');
}
