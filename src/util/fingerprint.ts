/**
 * A 53-bit fingerprint of a string (PURE): two 32-bit FNV-1a-style lanes with different offsets,
 * one mixed with a rotation. Not cryptographic: it tells versions of one record apart with a
 * collision chance of about 1 in 2^53, which is what the catalog decoders need to ship only what
 * changed across a worker thread. An integer below 2^53, so it fits a Float64Array and a Map key.
 */
export function fingerprint(s: string): number {
  let a = 0x811c9dc5;
  let b = 0x1b873593;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul((b ^ c) + ((b << 13) | (b >>> 19)), 0x5bd1e995);
  }
  return (b >>> 11) * 0x100000000 + (a >>> 0);
}
