/**
 * The Kubernetes source's selection rules (PURE): which Services it exports.
 *
 * Owns: `isExportedNamespace`. The label selector syntax and matching live in the neutral
 * `util/label-selector.ts` (the config loader validates `exportSelector` with it too, and adapters
 * do not import each other); they are re-exported here for the source's callers.
 * Never: does I/O, imports client-node at runtime, or throws.
 */
export {
  labelKeyProblem,
  labelValueProblem,
  parseLabelSelector,
  type LabelOperator,
  type LabelRequirement,
  type LabelSelector,
  type LabelSelectorParseResult,
} from '../../util/label-selector.js';

/**
 * Whether Services in `namespace` are exported: every namespace when `listed` is empty, only the
 * listed ones otherwise; `kube-system` only when listed explicitly (it holds cluster plumbing,
 * not services meant for other clusters).
 */
export function isExportedNamespace(namespace: string, listed: readonly string[]): boolean {
  if (listed.length === 0) return namespace !== 'kube-system';
  return listed.includes(namespace);
}
