/**
 * The byte scanner of peer catalog bodies (src/sync/catalog-scan.ts): it finds the elements of the
 * top-level services array only, and gives up (JSON.parse then decides) on anything else.
 */
import test from 'ava';
import fc from 'fast-check';
import { serviceSpans } from '../../../src/sync/catalog-scan.js';

const enc = (s: string) => new TextEncoder().encode(s);

test('the scanner finds the elements of the top-level services array only, past strings and escapes', (t) => {
  const spans = (s: string) => {
    const b = enc(s);
    const r = serviceSpans(b);
    return r && r.starts.map((x, i) => new TextDecoder().decode(b.subarray(x, r.ends[i])));
  };
  t.deepEqual(spans('{"services":[]}'), []);
  t.deepEqual(spans(' { "a" : "services", "services" : [ {"n":"]\\"}" } , 1 ,[2,{}] ] } '), ['{"n":"]\\"}" }', '1', '[2,{}]']);
  t.deepEqual(spans('{"g":[{"services":[9]}],"services":[{"s":"\\""}]}'), ['{"s":"\\""}']);
  t.is(spans('{"services":[],"services":[]}'), undefined, 'two services keys: JSON.parse decides');
  t.is(spans('{"services":{}}'), undefined);
  t.is(spans('{"services":[1,2]'), undefined, 'unbalanced');
  t.is(spans('[{"services":[1]}]'), undefined, 'not an object');
  t.is(spans('{"services":[1]} x'), undefined, 'trailing content');
  t.is(spans('{"services":["]'), undefined, 'unterminated string');
});

test('the spans of any JSON object with a services array are the elements JSON.parse finds, pretty-printed or not', (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.array(fc.jsonValue(), { maxLength: 6 }), fc.boolean(), (other, services, pretty) => {
      const text = JSON.stringify({ a: other, services, z: other }, null, pretty ? 2 : undefined);
      const b = enc(text);
      const r = serviceSpans(b);
      if (r === undefined) return false;
      const elements = r.starts.map((s, i) => JSON.parse(new TextDecoder().decode(b.subarray(s, r.ends[i]))) as unknown);
      t.deepEqual(elements, (JSON.parse(text) as { services: unknown[] }).services);
      return true;
    }),
    { numRuns: 2000 },
  );
});
