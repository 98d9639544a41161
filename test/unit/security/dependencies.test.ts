/**
 * SECURITY.md "Dependencies": every row of its advisory table names a production dependency, an
 * advisory, and the version that fixed it; the lockfile must install that package (every copy of
 * it) at or above that version, and never as anything but what the table says. The pins that
 * KNOWN-DEFECTS demands (dns2 exactly 3.1.1, client-node 1.x) are checked here too.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';

const root = new URL('../../../', import.meta.url);
const security = readFileSync(new URL('SECURITY.md', root), 'utf8');
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
  packages: Record<string, { version?: string; dev?: boolean }>;
};
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { dependencies: Record<string, string> };

interface Row {
  readonly pkg: string;
  readonly advisory: string;
  readonly fixed: string;
}

/** The rows of the table under "### Advisories" (| package | advisory | severity | fixed in | … |). */
function advisoryRows(): Row[] {
  const section = security.split(/^### Advisories/m)[1]?.split(/^#/m)[0] ?? '';
  const rows: Row[] = [];
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim().replace(/`/g, ''));
    if (cells.length < 6 || cells[1] === 'package' || /^-+$/.test(cells[1] ?? '')) continue;
    rows.push({ pkg: cells[1]!, advisory: cells[2]!, fixed: cells[4]! });
  }
  return rows;
}

function compare(a: string, b: string): number {
  const pa = a.split(/[.+-]/).slice(0, 3).map(Number);
  const pb = b.split(/[.+-]/).slice(0, 3).map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** Every installed copy (production) of a package, by lockfile path. */
function installed(pkg: string): { path: string; version: string }[] {
  return Object.entries(lock.packages)
    .filter(([path, p]) => !p.dev && (path === `node_modules/${pkg}` || path.endsWith(`/node_modules/${pkg}`)))
    .map(([path, p]) => ({ path, version: p.version ?? '0.0.0' }));
}

test('SECURITY.md lists advisories, and every production copy of each package is at or above its fixed version', (t) => {
  const rows = advisoryRows();
  t.true(rows.length >= 5, `the advisory table has rows (found ${rows.length})`);
  for (const row of rows) {
    t.regex(row.fixed, /^\d+\.\d+\.\d+$/, `${row.pkg}: "fixed in" is a version`);
    t.regex(row.advisory, /^(CVE-\d{4}-\d+|GHSA-[\w-]+)/, `${row.pkg}: the advisory has an identifier`);
    const copies = installed(row.pkg);
    t.true(copies.length > 0, `${row.pkg} is a production dependency (otherwise drop the row)`);
    for (const c of copies) t.true(compare(c.version, row.fixed) >= 0, `${c.path} ${c.version} is below ${row.fixed} (${row.advisory})`);
  }
});

test('the pins KNOWN-DEFECTS demands: dns2 exactly 3.1.1, @kubernetes/client-node 1.x', (t) => {
  t.is(manifest.dependencies['dns2'], '3.1.1');
  t.deepEqual(
    installed('dns2').map((c) => c.version),
    ['3.1.1'],
  );
  t.regex(manifest.dependencies['@kubernetes/client-node'] ?? '', /^1\./);
  t.true(installed('@kubernetes/client-node').every((c) => c.version.startsWith('1.')));
});
