/** DNS over TCP length-prefix framing (src/util/tcp-framing.ts): the encoder and the incremental decoder. */
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import fc from 'fast-check';
import { FrameDecoder, MAX_MESSAGE_BYTES, frameMessage } from '../../../src/util/tcp-framing.js';

/** Split `stream` at the given cut points (any order, duplicates and out-of-range ones allowed). */
function chunk(stream: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, stream.length]) {
    chunks.push(stream.subarray(from, p));
    from = p;
  }
  return chunks;
}

function drain(decoder: FrameDecoder): Buffer[] {
  return [...decoder.messages()].map((m) => Buffer.from(m));
}

test('frameMessage prefixes the two-octet big-endian length (RFC 1035 §4.2.2)', (t) => {
  t.deepEqual(frameMessage(Buffer.from([1, 2, 3])), Buffer.from([0, 3, 1, 2, 3]));
  t.deepEqual(frameMessage(Buffer.alloc(0)), Buffer.from([0, 0]));
  const max = frameMessage(Buffer.alloc(MAX_MESSAGE_BYTES, 7));
  t.is(max.length, 2 + 65535);
  t.is(max.readUInt16BE(0), 65535);
  t.throws(() => frameMessage(Buffer.alloc(65536)), { instanceOf: RangeError });
});

test('messages come out one by one as their last octet arrives', (t) => {
  const d = new FrameDecoder();
  const stream = Buffer.concat([frameMessage(Buffer.from('hello')), frameMessage(Buffer.from('dns'))]);
  d.push(stream.subarray(0, 1));
  t.false(d.ready());
  t.is(d.next(), undefined);
  d.push(stream.subarray(1, 6));
  t.is(d.next(), undefined, 'one octet of the first message still missing');
  t.is(d.buffered, 6);
  d.push(stream.subarray(6, 9));
  t.true(d.ready());
  t.deepEqual(d.next(), Buffer.from('hello'));
  t.is(d.next(), undefined);
  t.is(d.buffered, 2);
  d.push(stream.subarray(9));
  t.deepEqual(drain(d), [Buffer.from('dns')]);
  t.is(d.buffered, 0);
  t.is(d.error, undefined);
});

test('several messages in one chunk; stopping early leaves the rest held, in order', (t) => {
  const d = new FrameDecoder();
  d.push(Buffer.concat(['a', 'bb', 'ccc'].map((s) => frameMessage(Buffer.from(s)))));
  for (const m of d.messages()) {
    t.deepEqual(m, Buffer.from('a'));
    break;
  }
  t.is(d.buffered, 4 + 5);
  t.deepEqual(drain(d), [Buffer.from('bb'), Buffer.from('ccc')]);
});

test('a zero-length frame is a message by default', (t) => {
  const d = new FrameDecoder();
  d.push(Buffer.from([0, 0, 0, 1, 9]));
  t.deepEqual(drain(d), [Buffer.alloc(0), Buffer.from([9])]);
});

test('a length below minMessageBytes is a framing error as soon as its prefix arrives; it is sticky and nothing more is held', (t) => {
  const d = new FrameDecoder({ minMessageBytes: 12 });
  const good = frameMessage(Buffer.alloc(12, 1));
  d.push(Buffer.concat([good, Buffer.from([0])]));
  t.is(d.error, undefined);
  d.push(Buffer.from([11]));
  t.deepEqual(d.next(), Buffer.alloc(12, 1), 'messages before the bad frame are still delivered');
  t.is(d.next(), undefined);
  t.regex(d.error ?? '', /11 octets/);
  t.is(d.buffered, 0);
  d.push(frameMessage(Buffer.alloc(20)));
  t.is(d.buffered, 0, 'chunks after a framing error are dropped');
  t.is(d.next(), undefined);
  t.false(d.ready());
});

test('a length above maxMessageBytes fails at once, without waiting for (or holding) its octets', (t) => {
  const d = new FrameDecoder({ maxMessageBytes: 512 });
  d.push(Buffer.from([0x02, 0x01])); // 513
  t.regex(d.error ?? '', /513 octets/);
  t.is(d.buffered, 0);
  const bounded = new FrameDecoder({ maxMessageBytes: 1_000_000 });
  bounded.push(Buffer.from([0xff, 0xff]));
  t.is(bounded.error, undefined, 'maxMessageBytes cannot exceed 65535, which every prefix fits');
});

test('a 65535-octet message split into 1-octet chunks comes back whole', (t) => {
  const message = Buffer.alloc(MAX_MESSAGE_BYTES);
  for (let i = 0; i < message.length; i++) message[i] = i & 0xff;
  const framed = frameMessage(message);
  const d = new FrameDecoder();
  for (let i = 0; i < framed.length - 1; i++) d.push(framed.subarray(i, i + 1));
  t.is(d.next(), undefined);
  t.is(d.buffered, framed.length - 1);
  d.push(framed.subarray(framed.length - 1));
  t.deepEqual(d.next(), message);
  t.is(d.buffered, 0);
});

test('property: any chunking of a framed stream gives back the same messages, in order', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      fc.boolean(),
      (messages, cuts, drainEachPush) => {
        const stream = Buffer.concat(messages.map((m) => frameMessage(m)));
        const d = new FrameDecoder();
        const out: Buffer[] = [];
        for (const c of chunk(stream, cuts)) {
          d.push(c);
          if (drainEachPush) out.push(...drain(d));
        }
        out.push(...drain(d));
        return (
          isDeepStrictEqual(
            out,
            messages.map((m) => Buffer.from(m)),
          ) &&
          d.buffered === 0 &&
          d.error === undefined &&
          !d.ready()
        );
      },
    ),
  );
  t.pass();
});

test('property: a truncated stream holds exactly the octets of the incomplete message', (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 8 }), fc.nat(), (messages, cut) => {
      const framed = messages.map((m) => frameMessage(m));
      const stream = Buffer.concat(framed);
      const end = cut % (stream.length + 1);
      const d = new FrameDecoder();
      d.push(stream.subarray(0, end));
      const out = drain(d);
      let whole = 0;
      let octets = 0;
      while (whole < framed.length && octets + framed[whole]!.length <= end) octets += framed[whole++]!.length;
      return (
        isDeepStrictEqual(
          out,
          messages.slice(0, whole).map((m) => Buffer.from(m)),
        ) && d.buffered === end - octets
      );
    }),
  );
  t.pass();
});
