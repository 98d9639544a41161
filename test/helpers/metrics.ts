/**
 * Test helper: scrape a gsdns /metrics endpoint and read samples from the Prometheus text format
 * (version 0.0.4). A small independent parser, so tests check what a Prometheus server would read.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Scrape {
  readonly samples: readonly Sample[];
  /** `# TYPE` of each family. */
  readonly types: Readonly<Record<string, string>>;
  readonly text: string;
  /** Sum of the samples named `name` whose labels include every pair of `labels` (0 when none). */
  sum(name: string, labels?: Readonly<Record<string, string>>): number;
  /** Whether any sample is named `name` (with those labels). */
  has(name: string, labels?: Readonly<Record<string, string>>): boolean;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Scrape {
  const samples: Sample[] = [];
  const types: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types[name!] = type!;
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    samples.push({ name: m[1]!, labels, value });
  }
  const matches = (s: Sample, name: string, labels: Readonly<Record<string, string>>): boolean =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  return {
    samples,
    types,
    text,
    sum: (name, labels = {}) => samples.filter((s) => matches(s, name, labels)).reduce((n, s) => n + s.value, 0),
    has: (name, labels = {}) => samples.some((s) => matches(s, name, labels)),
  };
}

export async function scrape(httpPort: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain')) throw new Error(`/metrics content-type ${type}`);
  return parseExposition(await res.text());
}
