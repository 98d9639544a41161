/**
 * A wildcard `dns.listen` (0.0.0.0 or ::) answers UDP from the address the query was sent to
 * (issue 13): with one socket bound to the wildcard, a query to 127.53.0.2 was answered from
 * 127.0.0.1 and dig dropped it ("reply from unexpected source"). Extra loopback addresses are added
 * to `lo` with iproute2 (root), so the host has several addresses, as a multi-homed node does; the
 * server follows addresses that appear and vanish while it runs (dns.interfaceRescanMs).
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import { answers, dig } from '../helpers/dig.js';
import { missing } from '../helpers/dns-tools.js';
import { spawnGsdns, type SpawnedServer } from '../helpers/gsdns-process.js';

const run = promisify(execFile);

/** Add `address/32` to lo for the test's lifetime; false (and the test failed or skipped) if not allowed. */
async function addLoopback(t: ExecutionContext, address: string): Promise<boolean> {
  await run('ip', ['addr', 'del', `${address}/32`, 'dev', 'lo']).catch(() => undefined); // a leftover of an aborted run
  try {
    await run('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo']);
  } catch (err) {
    return missing(t, `cannot add ${address} to lo (needs root and iproute2): ${(err as Error).message.split('\n')[0]}`);
  }
  t.teardown(() =>
    run('ip', ['addr', 'del', `${address}/32`, 'dev', 'lo']).then(
      () => undefined,
      () => undefined,
    ),
  );
  return true;
}

async function removeLoopback(address: string): Promise<void> {
  await run('ip', ['addr', 'del', `${address}/32`, 'dev', 'lo']);
}

/**
 * dig's verdict, or the reason it gave none (a timeout when the reply comes from another address).
 * The query leaves from the host's primary address (`-b`), as one from another host arrives: the
 * kernel then picks that address as the source of a reply from a wildcard socket, not the asked one.
 */
async function ask(t: ExecutionContext, server: SpawnedServer, at: string): Promise<string> {
  try {
    const r = await dig(t, server.dnsPort, ['-b', at.includes(':') ? '::1' : '127.0.0.1', 'reviews.bookinfo.global', 'A'], at);
    return r === undefined ? 'no dig' : `${r.status} ${answers(r, 'A').join(',')}`;
  } catch (err) {
    return `failed: ${(err as Error).message.split('\n').find((l) => l.includes(';;')) ?? (err as Error).message.split('\n')[0]}`;
  }
}

/** Poll until `check` holds; the deadline is only a failure guard. */
async function until(t: ExecutionContext, what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<boolean> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.fail(`${what}: not within ${timeoutMs} ms`);
  return false;
}

const OK = 'NOERROR 192.0.2.10'; // the embedded demo's reviews.bookinfo.global

test.serial(
  '0.0.0.0: every local address answers from itself; a new address is bound and a vanished one closed while running',
  async (t) => {
    if (!(await addLoopback(t, '127.53.0.2'))) return;
    const server = await spawnGsdns(t, [
      '--set',
      'dns.listen=[{address: 0.0.0.0, port: 0}]',
      '--set',
      'dns.interfaceRescanMs=100',
      '--set',
      'log.level=debug',
    ]);
    t.is(await ask(t, server, '127.53.0.2'), OK, 'a query to the second address is answered from it');
    t.is(await ask(t, server, '127.0.0.1'), OK);

    // An address that appears while running gets its socket at the next rescan.
    if (!(await addLoopback(t, '127.53.0.3'))) return;
    await until(t, 'the new address answers', async () => (await ask(t, server, '127.53.0.3')) === OK);

    // A vanished address: its socket is closed (logged), the others keep answering.
    await removeLoopback('127.53.0.2');
    const closedLine = (l: string) => l.includes('DNS UDP socket closed') && l.includes('"127.53.0.2"');
    await until(t, 'the socket of the removed address is closed', () => Promise.resolve(server.logs().split('\n').some(closedLine)));
    t.is(await ask(t, server, '127.53.0.3'), OK);
    t.is(await ask(t, server, '127.0.0.1'), OK);
    const serving = JSON.parse(
      server
        .logs()
        .split('\n')
        .find((l) => l.includes('gsdns serving'))!,
    ) as { dnsUdp: { listen: string; addresses: string[] }[] };
    t.true(serving.dnsUdp[0]!.addresses.includes('127.53.0.2'), 'the serving line lists the per-address sockets');
  },
);

test.serial('::: dual-stack like the TCP socket: IPv4 and IPv6 addresses answer from themselves', async (t) => {
  if (!(await addLoopback(t, '127.53.0.4'))) return;
  const server = await spawnGsdns(t, ['--set', 'dns.listen=[{address: "::", port: 0}]']);
  t.is(await ask(t, server, '127.53.0.4'), OK);
  t.is(await ask(t, server, '127.0.0.1'), OK);
  const hasV6Loopback = Object.values(networkInterfaces()).some((infos) => infos?.some((i) => i.address === '::1'));
  if (hasV6Loopback) t.is(await ask(t, server, '::1'), OK);
  else t.log('no ::1 on this host: IPv6 not checked');
});
