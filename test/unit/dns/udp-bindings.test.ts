/**
 * The per-address UDP set of a wildcard listen: which addresses a wildcard covers, and how rescans
 * follow the interfaces (binds new ones, closes vanished ones, reports a failing address once and
 * retries it), with fake interfaces and binds.
 */
import test from 'ava';
import type { NetworkInterfaceInfo } from 'node:os';
import { UdpBindingSet, wildcardAddresses } from '../../../src/dns/udp-bindings.js';

const v4 = (address: string): NetworkInterfaceInfo => ({
  address,
  family: 'IPv4',
  netmask: '255.255.255.255',
  mac: '00:00:00:00:00:00',
  internal: false,
  cidr: `${address}/32`,
});
const v6 = (address: string): NetworkInterfaceInfo => ({
  address,
  family: 'IPv6',
  netmask: 'ffff::',
  mac: '00:00:00:00:00:00',
  internal: false,
  cidr: `${address}/64`,
  scopeid: 2,
});

const HOST = { lo: [v4('127.0.0.1'), v6('::1')], eth0: [v4('10.0.0.5'), v6('fd00::5'), v6('fe80::1')], eth1: [v4('10.0.0.5')] };

test('0.0.0.0 covers the IPv4 addresses; :: (dual-stack) both families, link-local with its scope; sorted, no duplicates', (t) => {
  t.deepEqual(wildcardAddresses('0.0.0.0', HOST), ['10.0.0.5', '127.0.0.1']);
  t.deepEqual(wildcardAddresses('::', HOST), ['10.0.0.5', '127.0.0.1', '::1', 'fd00::5', 'fe80::1%eth0']);
  t.deepEqual(wildcardAddresses('::', {}), []);
});

function fakeHost(initial: Record<string, NetworkInterfaceInfo[]>) {
  let ifaces = initial;
  const open = new Set<string>();
  const refuse = new Set<string>();
  const events: string[] = [];
  const set = new UdpBindingSet({
    wildcard: '0.0.0.0',
    port: 5300,
    interfaces: () => ifaces,
    bind: (address, port) => {
      if (refuse.has(address))
        return Promise.reject(Object.assign(new Error(`bind ${address}:${port}: EADDRINUSE`), { code: 'EADDRINUSE' }));
      open.add(address);
      return Promise.resolve({
        close: () => {
          open.delete(address);
          return Promise.resolve();
        },
      });
    },
    onAdded: (a) => events.push(`+${a}`),
    onRemoved: (a) => events.push(`-${a}`),
    onBindFailed: (a) => events.push(`!${a}`),
  });
  return { set, open, refuse, events, setIfaces: (i: Record<string, NetworkInterfaceInfo[]>) => (ifaces = i) };
}

test('rescans bind new addresses and close vanished ones; a failing address is reported once and retried', async (t) => {
  const h = fakeHost({ lo: [v4('127.0.0.1')], eth0: [v4('10.0.0.5')] });
  await h.set.start(true);
  t.deepEqual(h.set.addresses(), ['10.0.0.5', '127.0.0.1']);
  h.setIfaces({ lo: [v4('127.0.0.1')], eth0: [v4('10.0.0.6')], eth1: [v4('10.0.0.7')] });
  h.refuse.add('10.0.0.7');
  await h.set.rescan();
  await h.set.rescan();
  t.deepEqual(h.set.addresses(), ['10.0.0.6', '127.0.0.1']);
  t.deepEqual([...h.open].sort(), ['10.0.0.6', '127.0.0.1']);
  t.deepEqual(h.events, ['+10.0.0.5', '+127.0.0.1', '-10.0.0.5', '+10.0.0.6', '!10.0.0.7']);
  t.is(h.set.bindFailures, 2, 'retried at every rescan, reported once');
  h.refuse.clear();
  await h.set.rescan();
  t.deepEqual(h.set.addresses(), ['10.0.0.6', '10.0.0.7', '127.0.0.1']);
  await h.set.close();
  t.deepEqual([...h.open], []);
  await h.set.rescan();
  t.deepEqual([...h.open], [], 'no rescan binds after close');
});

test('start(strict) rejects on the first failing address (so start-up can retry another port); start with no address fails', async (t) => {
  const h = fakeHost({ lo: [v4('127.0.0.1')], eth0: [v4('10.0.0.5')] });
  h.refuse.add('127.0.0.1');
  await t.throwsAsync(() => h.set.start(true), { message: /EADDRINUSE/ });
  await h.set.close();
  t.deepEqual([...h.open], []);
  const empty = fakeHost({});
  await t.throwsAsync(() => empty.set.start(true), { message: /no local address/ });
});

test('overlapping rescans coalesce: one more scan runs after the current one', async (t) => {
  const h = fakeHost({ lo: [v4('127.0.0.1')] });
  await h.set.start(true);
  const before = h.set.rescans;
  await Promise.all([h.set.rescan(), h.set.rescan(), h.set.rescan()]);
  t.is(h.set.rescans - before, 2);
});
