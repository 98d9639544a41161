import test from 'ava';
import { RRType } from '../../src/answer/types.js';
test('types load', (t) => { t.is(RRType.AAAA, 28); });
