/**
 * The README's dig examples, run verbatim against the embedded demo (only the port is swapped for
 * the test's): a newcomer must see exactly the documented answers.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireTool } from '../helpers/dns-tools.js';
import { repoRoot, spawnGsdns } from '../helpers/gsdns-process.js';

const run = promisify(execFile);

interface Example {
  readonly command: string;
  readonly expected: string[];
}

function examples(): Example[] {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const block = /## Try it with dig\s+```console\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const out: Example[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('$ '))
      out.push({
        command: line
          .slice(2)
          .replace(/\s+#.*$/, '')
          .trim(),
        expected: [],
      });
    else if (line.trim() !== '' && out.length > 0) out[out.length - 1]!.expected.push(line);
  }
  return out;
}

test('README "Try it with dig" examples match the demo output', async (t) => {
  const list = examples();
  t.true(list.length >= 8, 'the README has its dig examples');
  if (!(await requireTool(t, 'dig'))) return;
  const s = await spawnGsdns(t);
  for (const ex of list) {
    t.regex(ex.command, /^dig @127\.0\.0\.1 -p 5353 /, 'examples target the demo');
    const [digPart, grepPart] = ex.command.split(' | grep ');
    const args = digPart!
      .split(/\s+/)
      .slice(1)
      .map((a) => (a === '5353' ? String(s.dnsPort) : a));
    let { stdout } = await run('dig', [...args, '+time=2', '+tries=1'], { timeout: 10_000 });
    if (grepPart) {
      const [flag, pattern] = grepPart.startsWith('-A1 ') ? ['-A1', grepPart.slice(4)] : ['', grepPart];
      const re = new RegExp(pattern.replace(/^'|'$/g, ''));
      const lines = stdout.split('\n');
      const hits: string[] = [];
      lines.forEach((l, i) => {
        if (re.test(l)) hits.push(l, ...(flag === '-A1' ? [lines[i + 1] ?? ''] : []));
      });
      stdout = hits.join('\n');
    }
    // Normalise what legitimately differs per run: message IDs, the SOA serial, column whitespace.
    const norm = (text: string): string =>
      text
        .replace(/id: \d+/g, 'id: N')
        .replace(/(hostmaster\.global\.) \d+/g, '$1 SERIAL')
        .split('\n')
        .map((l) => l.trim().split(/\s+/).join(' '))
        .filter(Boolean)
        .join('\n');
    // Addresses of equal rank rotate from query to query (dns.rotate, docs/traffic.md): a +short
    // answer of several addresses is compared as a set.
    const settle = (text: string): string => (args.includes('+short') ? norm(text).split('\n').sort().join('\n') : norm(text));
    t.is(settle(stdout), settle(ex.expected.join('\n')), ex.command);
  }
});
