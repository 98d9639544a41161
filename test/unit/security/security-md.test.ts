/**
 * SECURITY.md promises that every claim links to the test that shows it. This keeps the promise:
 * every claim (a bullet that opens with a bold phrase) names at least one test file, every named
 * test file exists, and every test title quoted after a file is (the start of) a test in it.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';

const root = new URL('../../../', import.meta.url);
const text = readFileSync(new URL('SECURITY.md', root), 'utf8');

/** The bullets of the document, each joined into one line. */
function bullets(): string[] {
  const out: string[] = [];
  let current: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('- ')) {
      if (current !== undefined) out.push(current);
      current = line.slice(2);
    } else if (current !== undefined && /^\s{2,}\S/.test(line)) {
      current += ' ' + line.trim();
    } else if (current !== undefined) {
      out.push(current);
      current = undefined;
    }
  }
  if (current !== undefined) out.push(current);
  return out;
}

/** `test/...test.ts` paths and the "quoted titles" that follow each, in order. */
function references(bullet: string): { file: string; titles: string[] }[] {
  const refs: { file: string; titles: string[] }[] = [];
  for (const m of bullet.matchAll(/`(test\/[^`]+\.test\.ts)`|"([^"]+)"/g)) {
    if (m[1] !== undefined) refs.push({ file: m[1], titles: [] });
    else if (refs.length > 0 && m[2] !== undefined) refs[refs.length - 1]!.titles.push(m[2]);
  }
  return refs;
}

test('every claim in SECURITY.md names a test file', (t) => {
  const claims = bullets().filter((b) => b.startsWith('**'));
  t.true(claims.length >= 15, `claims found: ${claims.length}`);
  for (const claim of claims) t.true(references(claim).length > 0, `no test named for: ${claim.slice(0, 80)}…`);
});

test('every test file SECURITY.md names exists, with every test title it quotes', (t) => {
  let titles = 0;
  for (const bullet of bullets()) {
    for (const ref of references(bullet)) {
      const url = new URL(ref.file, root);
      t.true(existsSync(url), `${ref.file} exists`);
      if (!existsSync(url)) continue;
      const source = readFileSync(url, 'utf8').replace(/\\'/g, "'");
      for (const title of ref.titles) {
        titles++;
        t.true(source.includes(title), `${ref.file} has a test titled "${title}…"`);
      }
    }
  }
  t.true(titles >= 10, `quoted titles checked: ${titles}`);
});
