/**
 * Every metric family gsdns declares is documented in docs/metrics.md, and that page documents
 * none that does not exist (an operator must be able to trust that table).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers/gsdns-process.js';

test('docs/metrics.md documents exactly the declared gsdns_ families', (t) => {
  const source = readFileSync(join(repoRoot, 'src', 'ops', 'metrics.ts'), 'utf8');
  const declared = new Set([...source.matchAll(/'(gsdns_[a-z_]+)'/g)].map((m) => m[1]!));
  t.true(declared.size >= 40, `found ${declared.size} declared families`);
  const section = readFileSync(join(repoRoot, 'docs', 'metrics.md'), 'utf8');
  const documented = new Set([...section.matchAll(/`(gsdns_[a-z_]+)`/g)].map((m) => m[1]!));
  t.deepEqual([...declared].filter((m) => !documented.has(m)).sort(), [], 'declared but not documented');
  t.deepEqual([...documented].filter((m) => !declared.has(m)).sort(), [], 'documented but not declared');
});
