/**
 * The operator docs stay navigable: every relative link in README.md, docs/*.md, bench/README.md,
 * SECURITY.md and the chart's README points at a file that exists, and every `#anchor` at a heading
 * of that file (GitHub's slugs). The README stays a landing page (under 10 KB).
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { repoRoot } from '../../helpers/gsdns-process.js';

const pages = [
  'README.md',
  'SECURITY.md',
  'bench/README.md',
  'helm/gsdns/README.md',
  ...readdirSync(join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's heading anchor: lower case, punctuation but `-` and `_` dropped, spaces to `-`. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
}

test('every relative link and anchor in the docs resolves', (t) => {
  const broken: string[] = [];
  let checked = 0;
  for (const page of pages) {
    const path = join(repoRoot, page);
    const text = readFileSync(path, 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const url = m[1]!;
      if (/^[a-z]+:/.test(url)) continue;
      const [target, anchor] = url.split('#') as [string, string | undefined];
      const file = target === '' ? path : join(dirname(path), target);
      checked++;
      if (!existsSync(file)) {
        broken.push(`${page}: ${url} (no ${relative(repoRoot, file)})`);
        continue;
      }
      if (anchor !== undefined && statSync(file).isFile() && !anchorsOf(file).has(anchor)) broken.push(`${page}: ${url} (no such heading)`);
    }
  }
  t.true(checked > 30, `${checked} links checked`);
  t.deepEqual(broken, []);
});

test('README.md is a landing page: under 10 KB, with the two commands, dig examples, the CoreDNS block and the docs index', (t) => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  t.true(Buffer.byteLength(readme) < 10 * 1024, `${Buffer.byteLength(readme)} octets`);
  t.regex(readme, /npm install && npm start/);
  t.regex(readme, /^npm test/m);
  t.regex(readme, /## Try it with dig/);
  t.regex(readme, /forward \. /);
  for (const doc of readdirSync(join(repoRoot, 'docs'))) t.true(readme.includes(`docs/${doc}`), `README links docs/${doc}`);
});
