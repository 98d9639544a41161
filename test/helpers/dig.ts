/**
 * Test helper: run the real `dig` (bind9-dnsutils) with `+yaml` and return the parsed message.
 * A missing dig skips the test locally with a clear message, and fails it under CI=true.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { ExecutionContext } from 'ava';
import { requireTool } from './dns-tools.js';

const run = promisify(execFile);

export interface DigRecord {
  readonly name: string;
  readonly ttl: number;
  readonly type: string;
  readonly data: string;
}

export interface DigResult {
  readonly status: string;
  readonly flags: readonly string[];
  readonly question: readonly string[];
  readonly answer: readonly DigRecord[];
  readonly authority: readonly DigRecord[];
  readonly additional: readonly DigRecord[];
  readonly edns?: { readonly udp?: number; readonly version?: number; readonly flags?: string; readonly [k: string]: unknown } | undefined;
  readonly raw: string;
}

function record(line: string): DigRecord {
  const [name = '', ttl = '0', , type = '', ...rest] = line.trim().split(/\s+/);
  return { name, ttl: Number(ttl), type, data: rest.join(' ') };
}

/** `dig -p PORT @SERVER ARGS… +yaml +time=2 +tries=1`; returns the response message. */
export async function dig(
  t: ExecutionContext,
  port: number,
  args: readonly string[],
  server = '127.0.0.1',
): Promise<DigResult | undefined> {
  if (!(await requireTool(t, 'dig'))) return undefined;
  const { stdout } = await run('dig', ['-p', String(port), `@${server}`, '+yaml', '+time=2', '+tries=1', ...args], { timeout: 15_000 });
  const docs = parse(stdout) as { type: string; message?: Record<string, unknown> }[] | null;
  const msg = docs?.find((d) => d.type === 'MESSAGE')?.message as { response_message_data?: Record<string, unknown> } | undefined;
  const data = msg?.response_message_data;
  if (!data) throw new Error(`dig gave no response message:\n${stdout}`);
  const section = (k: string): DigRecord[] => ((data[k] as string[] | undefined) ?? []).map(record);
  const opt = data['OPT_PSEUDOSECTION'] as { EDNS?: DigResult['edns'] } | undefined;
  return {
    status: String(data['status']),
    flags: (typeof data['flags'] === 'string' ? data['flags'] : '').split(/\s+/).filter(Boolean),
    question: (data['QUESTION_SECTION'] as string[] | undefined) ?? [],
    answer: section('ANSWER_SECTION'),
    authority: section('AUTHORITY_SECTION'),
    additional: section('ADDITIONAL_SECTION'),
    edns: opt?.EDNS,
    raw: stdout,
  };
}

/** The data fields of the answer records of one type, in order. */
export function answers(r: DigResult, type?: string): string[] {
  return r.answer.filter((a) => type === undefined || a.type === type).map((a) => a.data);
}
