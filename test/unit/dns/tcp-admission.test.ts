/**
 * The TCP admission policy (src/dns/tcp-admission.ts): admit, evict the least recently active
 * evictable connection at a cap, refuse only when every candidate is busy.
 */
import test from 'ava';
import { TcpAdmission, type AdmissionDecision } from '../../../src/dns/tcp-admission.js';

type Conn = string;

/** Apply a decision the way the edge does: remove the victim, then add the newcomer. */
function connect(table: TcpAdmission<Conn>, conn: Conn, client: string): AdmissionDecision<Conn> {
  const decision = table.decide(client);
  if (decision.kind === 'refuse') return decision;
  if (decision.kind === 'evict') table.remove(decision.victim);
  table.add(conn, client);
  return decision;
}

test('below both caps every connection is admitted', (t) => {
  const table = new TcpAdmission<Conn>({ maxConnections: 3, maxPerClient: 2 });
  t.deepEqual(connect(table, 'a1', 'A'), { kind: 'admit' });
  t.deepEqual(connect(table, 'a2', 'A'), { kind: 'admit' });
  t.deepEqual(connect(table, 'b1', 'B'), { kind: 'admit' });
  t.is(table.size, 3);
});

test('at the total cap the least recently active evictable connection makes room', (t) => {
  const table = new TcpAdmission<Conn>({ maxConnections: 3, maxPerClient: 3 });
  for (const [c, k] of [
    ['a', 'A'],
    ['b', 'B'],
    ['c', 'C'],
  ] as const)
    connect(table, c, k);
  t.deepEqual(connect(table, 'd', 'D'), { kind: 'evict', victim: 'a', cap: 'total' });
  // b made progress: c is now the least recently active
  table.touch('b');
  t.deepEqual(connect(table, 'e', 'E'), { kind: 'evict', victim: 'c', cap: 'total' });
  t.deepEqual([...table.all()].sort(), ['b', 'd', 'e']);
});

test('busy connections are never evicted; when all are busy the newcomer is refused', (t) => {
  const table = new TcpAdmission<Conn>({ maxConnections: 2, maxPerClient: 2 });
  connect(table, 'a', 'A');
  connect(table, 'b', 'B');
  table.markBusy('a');
  t.deepEqual(table.decide('C'), { kind: 'evict', victim: 'b', cap: 'total' });
  table.markBusy('b');
  t.deepEqual(table.decide('C'), { kind: 'refuse', cap: 'total' });
  t.false(table.isEvictable('a'));
  // a's answer is written: evictable again, as the most recently active
  table.markIdle('a');
  t.deepEqual(table.decide('C'), { kind: 'evict', victim: 'a', cap: 'total' });
  table.markIdle('b');
  t.deepEqual(table.decide('C'), { kind: 'evict', victim: 'a', cap: 'total' }, 'a became idle before b');
});

test('touch does not make a busy connection evictable', (t) => {
  const table = new TcpAdmission<Conn>({ maxConnections: 1, maxPerClient: 1 });
  connect(table, 'a', 'A');
  table.markBusy('a');
  table.touch('a');
  t.false(table.isEvictable('a'));
  t.deepEqual(table.decide('B'), { kind: 'refuse', cap: 'total' });
});

test("at the per-client cap only that client's own connections make room", (t) => {
  const table = new TcpAdmission<Conn>({ maxConnections: 10, maxPerClient: 2 });
  connect(table, 'b1', 'B'); // oldest overall, but another client's
  connect(table, 'a1', 'A');
  connect(table, 'a2', 'A');
  t.deepEqual(connect(table, 'a3', 'A'), { kind: 'evict', victim: 'a1', cap: 'perClient' });
  table.markBusy('a2');
  table.markBusy('a3');
  t.deepEqual(table.decide('A'), { kind: 'refuse', cap: 'perClient' });
  t.deepEqual(table.decide('B'), { kind: 'admit' }, 'other clients are unaffected');
});

test('per-client cap is checked before the total cap, so the client displaces its own', (t) => {
  const table = new TcpAdmission<Conn>({ maxConnections: 3, maxPerClient: 2 });
  connect(table, 'b1', 'B');
  connect(table, 'a1', 'A');
  connect(table, 'a2', 'A');
  t.deepEqual(table.decide('A'), { kind: 'evict', victim: 'a1', cap: 'perClient' });
  t.deepEqual(table.decide('C'), { kind: 'evict', victim: 'b1', cap: 'total' });
});

test("remove is idempotent and frees the client's slot", (t) => {
  const table = new TcpAdmission<Conn>({ maxConnections: 5, maxPerClient: 1 });
  connect(table, 'a1', 'A');
  table.remove('a1');
  table.remove('a1');
  t.is(table.size, 0);
  t.deepEqual(table.decide('A'), { kind: 'admit' });
  // updates about a removed connection are ignored
  table.markBusy('a1');
  table.markIdle('a1');
  table.touch('a1');
  t.is(table.size, 0);
  t.false(table.isEvictable('a1'));
});

test('eviction order follows activity, not connection order, over many connections', (t) => {
  const n = 1000;
  const table = new TcpAdmission<Conn>({ maxConnections: n, maxPerClient: n });
  for (let i = 0; i < n; i++) connect(table, `c${i}`, `10.0.0.${i % 25}`);
  // every even connection is active, so the odd ones (never active since accept) go first, oldest first
  for (let i = 0; i < n; i += 2) table.touch(`c${i}`);
  const victims: string[] = [];
  for (let i = 0; i < n / 2; i++) {
    const d = connect(table, `new${i}`, '192.0.2.1');
    if (d.kind === 'evict') victims.push(d.victim);
  }
  t.deepEqual(
    victims,
    Array.from({ length: n / 2 }, (_, i) => `c${2 * i + 1}`),
  );
  t.is(table.size, n);
});
