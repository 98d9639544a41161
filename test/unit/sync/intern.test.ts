/**
 * The table of distinct remote services (src/sync/intern.ts): equal services from different
 * catalogs are one frozen object, equal port lists one array, and an entry leaves with its last
 * use; a property over random uses checks the table against a count kept beside it.
 */
import test from 'ava';
import fc from 'fast-check';
import type { RemoteService } from '../../../src/registry/types.js';
import { packServices } from '../../../src/sync/catalog-pack.js';
import { ServiceInterner } from '../../../src/sync/intern.js';

const HTTP = { name: 'http', port: 80, protocol: 'TCP' as const };
const svc = (name: string, ready = true, ports = [HTTP]): RemoteService => ({
  namespace: 'shop',
  name,
  ready,
  ports: ports.map((p) => ({ ...p })),
});

test('equal services from two catalogs are one frozen object, equal to what was asked for', (t) => {
  const table = new ServiceInterner();
  const a = table.intern(svc('cart'));
  const b = table.intern(svc('cart'));
  t.is(a, b);
  t.deepEqual(a, svc('cart'));
  t.true(Object.isFrozen(a) && Object.isFrozen(a.ports) && Object.isFrozen(a.ports[0]));
  t.is(table.size, 1);
});

test("services differing only in policy or weight are never shared (one cluster would get the other's weight)", (t) => {
  const table = new ServiceInterner();
  const plain = table.intern(svc('cart'));
  const heavy = table.intern({ ...svc('cart'), weight: 300 });
  const light = table.intern({ ...svc('cart'), weight: 0 });
  const weighted = table.intern({ ...svc('cart'), policy: 'weighted' });
  t.is(new Set([plain, heavy, light, weighted]).size, 4);
  t.is(heavy.weight, 300);
  t.is(light.weight, 0);
  t.is(weighted.policy, 'weighted');
  t.false('weight' in plain || 'policy' in plain);
  t.is(table.intern({ ...svc('cart'), weight: 300 }), heavy, 'an equal one is shared');
  t.is(heavy.ports, plain.ports, 'the port list is still one array');
  // The packed path (worker replies) agrees.
  const packed = table.internPacked(packServices([{ ...svc('cart'), weight: 300 }, { ...svc('cart'), policy: 'weighted' }, svc('cart')]));
  t.is(packed[0], heavy);
  t.is(packed[1], weighted);
  t.is(packed[2], plain);
  t.is(table.size, 4);
});

test('another readiness or port list is another object; the names and equal port lists are shared', (t) => {
  const table = new ServiceInterner();
  const ready = table.intern(svc('cart'));
  const down = table.intern(svc('cart', false));
  const grpc = table.intern(svc('cart', true, [{ name: 'grpc', port: 9090, protocol: 'TCP' }]));
  const other = table.intern(svc('pay'));
  t.not(ready, down);
  t.not(ready, grpc);
  t.deepEqual(down, svc('cart', false));
  t.deepEqual(grpc, svc('cart', true, [{ name: 'grpc', port: 9090, protocol: 'TCP' }]));
  t.is(down.ports, ready.ports, 'equal port lists are one array');
  t.is(other.ports, ready.ports);
  t.is(table.size, 4);
  t.is(table.portListCount, 2);
});

test('an entry leaves with its last use, and a later equal service is a new entry', (t) => {
  const table = new ServiceInterner();
  const a = table.intern(svc('cart'));
  table.intern(svc('cart'));
  table.release(a);
  t.is(table.size, 1);
  table.release(a);
  t.is(table.size, 0);
  t.is(table.portListCount, 0);
  const b = table.intern(svc('cart'));
  t.not(b, a);
  t.deepEqual(b, a);
  // The old object is not the table's any more: releasing it leaves the new entry alone.
  table.release(a);
  t.is(table.size, 1);
  t.is(table.intern(svc('cart')), b);
});

test('packed services intern to the same objects as the services themselves', (t) => {
  const table = new ServiceInterner();
  const cart = table.intern(svc('cart'));
  const services = [svc('cart'), svc('cart-long-name-over-13', false), svc('pay', true, [])];
  const got = table.internPacked(packServices(services));
  t.is(got[0], cart);
  t.deepEqual(got, services);
  t.is(table.intern(svc('cart-long-name-over-13', false)), got[1]!);
  t.is(table.size, 3);
});

test('release of an object the table does not hold is ignored', (t) => {
  const table = new ServiceInterner();
  const a = table.intern(svc('cart'));
  table.release(svc('cart'));
  table.release(svc('pay'));
  t.is(table.size, 1);
  table.release(a);
  t.is(table.size, 0);
});

/** A service as comparable text (fast-check's records have no prototype). */
const plain = (s: RemoteService): string =>
  JSON.stringify([s.namespace, s.name, s.ready, s.ports.map((p) => [p.name, p.port, p.protocol])]);

test('property: interned services equal their input, equal ones are shared, and the table holds exactly what is in use', (t) => {
  const svcArb = fc.record({
    name: fc.constantFrom('a', 'b', 'c'),
    ready: fc.boolean(),
    ports: fc.array(
      fc.record({ name: fc.constantFrom('', 'http'), port: fc.integer({ min: 1, max: 2 }), protocol: fc.constant('TCP' as const) }),
      {
        maxLength: 2,
      },
    ),
  });
  const opArb = fc.oneof(
    svcArb.map((s) => ({ op: 'intern' as const, s })),
    fc.nat().map((i) => ({ op: 'release' as const, i })),
  );
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const table = new ServiceInterner();
      const inUse: RemoteService[] = [];
      for (const o of ops) {
        if (o.op === 'intern') {
          const input: RemoteService = { namespace: 'ns', name: o.s.name, ready: o.s.ready, ports: o.s.ports };
          const got = table.intern(input);
          if (plain(got) !== plain(input)) return false;
          const equal = inUse.find((u) => plain(u) === plain(input));
          if (equal !== undefined && equal !== got) return false;
          inUse.push(got);
        } else if (inUse.length > 0) {
          const [gone] = inUse.splice(o.i % inUse.length, 1);
          table.release(gone!);
        }
      }
      return (
        table.size === new Set(inUse).size &&
        table.portListCount === new Set(inUse.filter((u) => u.ports.length > 0).map((u) => u.ports)).size
      );
    }),
  );
  t.pass();
});
