/**
 * Registry records: structural equality (`recordsEqual`), the comparison behind every "did this
 * write change the content" decision of the registry and the sync client.
 */
import test from 'ava';
import { recordsEqual } from '../../../src/registry/records.js';

test('recordsEqual: structural, order-sensitive for arrays, undefined ≡ missing', (t) => {
  t.true(recordsEqual({ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 }));
  t.true(recordsEqual({ a: 1, b: undefined }, { a: 1 }));
  t.false(recordsEqual({ a: 1, b: null }, { a: 1 }));
  t.false(recordsEqual([1, 2], [2, 1]));
  t.false(recordsEqual([1], { 0: 1 }));
  t.false(recordsEqual({ a: { lat: 1, lon: 2 } }, { a: { lat: 1, lon: 3 } }));
  t.true(recordsEqual(Number.NaN, Number.NaN));
  t.false(recordsEqual(0, '0'));
});
