/**
 * Cluster identity in sync certificates (PURE).
 *
 * Owns: reading the cluster a certificate names from its subjectAltName, in the two forms SPEC §2
 * allows, `DNS:<cluster>.<trustDomain>` and `URI:spiffe://<trustDomain>/cluster/<cluster>`.
 * Never: trusts the subject CN, or a name outside the trust domain.
 * Invariants: a certificate names at most one cluster; two different cluster names in one
 * certificate make it ambiguous, which is treated as no identity.
 */
import { isDnsLabel } from '../util/formats.js';

export type IdentityResult = { readonly ok: true; readonly cluster: string } | { readonly ok: false; readonly reason: string };

/**
 * Split Node's `subjectaltname` text (`DNS:a, URI:spiffe://b, IP Address:1.2.3.4`). Values Node had
 * to quote (they contain a comma or quote) arrive JSON-quoted; both forms are handled.
 */
export function parseSubjectAltName(text: string | undefined): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  if (!text) return out;
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === ',') i++;
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon).trim();
    let value: string;
    let j = colon + 1;
    if (text[j] === '"') {
      // JSON string literal: find the closing quote, honouring escapes.
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(j, k + 1)) as string;
      } catch {
        value = text.slice(j + 1, k);
      }
      j = k + 1;
    } else {
      const comma = text.indexOf(', ', j);
      const end = comma < 0 ? text.length : comma;
      value = text.slice(j, end);
      j = end;
    }
    out.push({ type, value });
    i = j;
  }
  return out;
}

/** The cluster a certificate's subjectAltName names in `trustDomain`. */
export function clusterIdentity(subjectAltName: string | undefined, trustDomain: string): IdentityResult {
  const td = trustDomain.toLowerCase();
  const names = new Set<string>();
  const spiffePrefix = `spiffe://${td}/cluster/`;
  for (const { type, value } of parseSubjectAltName(subjectAltName)) {
    const v = value.toLowerCase();
    if (type === 'DNS' && v.endsWith(`.${td}`)) {
      const label = v.slice(0, -(td.length + 1));
      if (isDnsLabel(label)) names.add(label);
    } else if (type === 'URI' && v.startsWith(spiffePrefix)) {
      const label = v.slice(spiffePrefix.length);
      if (isDnsLabel(label)) names.add(label);
    }
  }
  if (names.size === 1) return { ok: true, cluster: [...names][0]! };
  if (names.size === 0) {
    return {
      ok: false,
      reason: `certificate names no cluster in trust domain ${td} (want DNS:<cluster>.${td} or URI:${spiffePrefix}<cluster>; has ${subjectAltName || 'no subjectAltName'})`,
    };
  }
  return { ok: false, reason: `certificate names several clusters (${[...names].sort().join(', ')}); ambiguous` };
}

/** undefined when the certificate names exactly `expected`; else why not. */
export function checkPeerIdentity(subjectAltName: string | undefined, expected: string, trustDomain: string): string | undefined {
  const id = clusterIdentity(subjectAltName, trustDomain);
  if (!id.ok) return id.reason;
  return id.cluster === expected ? undefined : `certificate names cluster ${id.cluster}, but this peer is configured as ${expected}`;
}
