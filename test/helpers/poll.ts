/**
 * Test helper: one A query answered as {rcode, addresses} (rcode -1 when no reply came within the
 * timeout), and a poll that waits for a condition, its deadline only a failure guard (the verdict
 * is the condition). Shared by the fault-matrix and ownership tests.
 */
import type { ExecutionContext } from 'ava';
import { craftQuery, parseReply, rawQuestion, udpExchange } from './dns-tools.js';

let nextId = 1;

export async function resolveA(port: number, name: string, timeoutMs = 3000): Promise<{ rcode: number; addresses: string[] }> {
  const reply = await udpExchange(port, craftQuery({ id: nextId++ & 0xffff, questions: [rawQuestion(name, 1)] }), { timeoutMs });
  if (reply === null) return { rcode: -1, addresses: [] };
  const r = parseReply(reply);
  return { rcode: r.rcode, addresses: r.answers.map((a) => String(a['address'])) };
}

/** Poll every 25 ms until `check` holds; fails the test and throws after `timeoutMs`. */
export async function until(t: ExecutionContext, what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  t.fail(`${what}: not within ${timeoutMs} ms`);
  throw new Error(what);
}
