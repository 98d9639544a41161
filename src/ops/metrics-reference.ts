/**
 * The metrics reference in docs/metrics.md, rendered from the declarations beside each module (the
 * groups are listed by src/metrics-plan.ts, which knows every module;
 * (scripts/gen-metrics-reference.ts writes it; test/unit/ops/metrics-reference.test.ts fails when
 * the page drifts). One table per group, each between
 * `<!-- metrics-reference:start <id> -->` and `<!-- metrics-reference:end <id> -->`; the prose
 * around the tables is hand-written and left alone.
 */
import type { MetricFamily } from '../util/metric-family.js';

export interface MetricGroup {
  /** The marker id in docs/metrics.md. */
  readonly id: string;
  readonly families: readonly MetricFamily[];
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

function labelsCell(family: MetricFamily): string {
  return family.labels.map((l) => (family.labelValues?.[l] ? `\`${l}\` (${family.labelValues[l]})` : `\`${l}\``)).join(', ');
}

/** One Markdown table: name, type, labels (with their values where listed), help and note. */
export function renderMetricsTable(families: readonly MetricFamily[]): string {
  const rows = families.map((f) => {
    const meaning = f.note ? `${f.help} ${f.note}` : f.help;
    return `| \`${f.name}\` | ${f.type} | ${cell(labelsCell(f))} | ${cell(meaning)} |`;
  });
  return ['| metric | type | labels | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

export const startMarker = (id: string): string => `<!-- metrics-reference:start ${id} -->`;
export const endMarker = (id: string): string => `<!-- metrics-reference:end ${id} -->`;

/** `page` with every group's table re-rendered between its markers; throws when a marker is missing. */
export function updateMetricsReference(page: string, groups: readonly MetricGroup[]): string {
  let text = page;
  for (const group of groups) {
    const start = text.indexOf(startMarker(group.id));
    const end = text.indexOf(endMarker(group.id));
    if (start < 0 || end < start) throw new Error(`docs/metrics.md: markers ${startMarker(group.id)} ... ${endMarker(group.id)} not found`);
    text = `${text.slice(0, start + startMarker(group.id).length)}\n${renderMetricsTable(group.families)}\n${text.slice(end)}`;
  }
  return text;
}
