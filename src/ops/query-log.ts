/**
 * The query log (edge): one pino line per query when `log.queries.enabled`, sampled by
 * `log.queries.sampleRate` (SPEC §5 "Logs").
 *
 * Owns: the line's fields. They are those of CoreDNS's `log` plugin (remote, port, id, type, class,
 * name, proto, size, do, bufsize, rcode, rflags, rsize, duration) plus what only gsdns knows: the
 * decision `source` and the chosen `cluster` (or the `upstream` of a forwarded answer).
 * Never: throws, or formats anything for a query the sample skips.
 * Invariants: at sampleRate 1 every received message yields exactly one line; dropped messages
 * (nothing sent) have rcode "-", and messages without a readable question type, class and name
 * "-", like CoreDNS's empty fields.
 */
import type { Logger } from '../log.js';
import type { QueryEvent } from '../wire/types.js';
import type { ForwardResult } from '../wire/types.js';
import { replyRcode, type ResponseSource } from '../wire/labels.js';
import { typeName } from './presentation.js';

export interface QueryLogOptions {
  readonly sampleRate: number;
  readonly logger: Pick<Logger, 'info'>;
  /** This cluster, named as the chosen cluster of local answers. */
  readonly localCluster: string;
  readonly random?: (() => number) | undefined;
}

const CLASS_NAMES: Readonly<Record<number, string>> = { 1: 'IN', 3: 'CH', 4: 'HS', 254: 'NONE', 255: 'ANY' };

/** CoreDNS's {>rflags}: the reply header's flag names, in header order. */
export function replyFlags(reply: Buffer): string {
  if (reply.length < 4) return '';
  const hi = reply[2]!;
  const lo = reply[3]!;
  const flags: string[] = [];
  if (hi & 0x80) flags.push('qr');
  if (hi & 0x04) flags.push('aa');
  if (hi & 0x02) flags.push('tc');
  if (hi & 0x01) flags.push('rd');
  if (lo & 0x80) flags.push('ra');
  if (lo & 0x20) flags.push('ad');
  if (lo & 0x10) flags.push('cd');
  return flags.join(',');
}

export class QueryLog {
  private readonly random: () => number;

  constructor(private readonly opts: QueryLogOptions) {
    this.random = opts.random ?? Math.random;
  }

  log(ev: QueryEvent, source: ResponseSource | undefined): void {
    const rate = this.opts.sampleRate;
    if (rate < 1 && !(this.random() < rate)) return;
    const q = ev.question;
    const result = ev.result;
    let cluster: string | undefined;
    let upstream: string | undefined;
    if (result?.kind === 'relay') upstream = (result as Partial<ForwardResult>).upstream;
    else if (result?.kind === 'local') cluster = this.opts.localCluster;
    else if (result && result.clusters.length > 0) cluster = result.clusters[0];
    this.opts.logger.info(
      {
        remote: ev.client.address,
        port: ev.client.port,
        id: ev.id,
        // CoreDNS writes "-" for what a message did not carry (an unreadable question).
        type: q ? typeName(q.type) : '-',
        class: q ? (CLASS_NAMES[q.class] ?? `CLASS${q.class}`) : '-',
        name: q ? (q.name === '' ? '.' : `${q.name}.`) : '-',
        proto: ev.transport,
        size: ev.size,
        do: ev.edns?.dnssecOk ?? false,
        // RFC 6891 §6.2.5: without EDNS the limit is 512.
        bufsize: ev.edns ? ev.edns.udpPayloadSize : 512,
        rcode: ev.reply ? replyRcode(ev.outcome, ev.reply) : '-',
        rflags: ev.reply ? replyFlags(ev.reply) : '-',
        rsize: ev.reply ? ev.reply.length : 0,
        duration: ev.durationSeconds,
        source: source ?? 'dropped',
        cluster,
        upstream,
      },
      'query',
    );
  }
}
