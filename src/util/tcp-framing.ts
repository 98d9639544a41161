/**
 * DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766 §8): every message is preceded by its length as
 * a two-octet big-endian integer. PURE: buffers in, buffers out; no sockets, no timers.
 *
 * Owns: `frameMessage` (prefix one message) and `FrameDecoder` (received chunks in, complete
 * messages out), used by the forwarder's TCP try and suitable for a server connection.
 * Never: buffers what nobody asked for past a framing error (chunks pushed after one are dropped),
 * or concatenates more than the head message needs: a trickle of tiny segments costs linear time.
 * Invariants:
 * - Messages come out whole, in order, exactly as framed, however the stream was chunked.
 * - A message is at most `maxMessageBytes` octets (at most 65535, which the prefix cannot exceed);
 *   so beyond the complete messages not yet taken, at most 2 + maxMessageBytes octets are held.
 *   A caller that stops taking messages (flow control) must stop reading too.
 * - A length outside [minMessageBytes, maxMessageBytes] is a framing error, reported once in
 *   `error` and sticky: the stream cannot be resynchronised, so the caller closes the connection.
 */

/** The largest message the two-octet length prefix can describe. */
export const MAX_MESSAGE_BYTES = 0xffff;

/** `message` preceded by its two-octet length; a message over 65535 octets is a programming error. */
export function frameMessage(message: Uint8Array): Buffer {
  if (message.length > MAX_MESSAGE_BYTES)
    throw new RangeError(`a DNS message over TCP is at most ${MAX_MESSAGE_BYTES} octets, not ${message.length}`);
  const framed = Buffer.allocUnsafe(2 + message.length);
  framed.writeUInt16BE(message.length, 0);
  framed.set(message, 2);
  return framed;
}

export interface FrameDecoderOptions {
  /**
   * Shorter messages are a framing error. Default 0 (any length); a server passes 12, the DNS
   * header, since a shorter frame carries no ID to answer (RFC 7766 §6.2.4 lets it close).
   */
  readonly minMessageBytes?: number | undefined;
  /** Longer messages are a framing error. Default and maximum 65535. */
  readonly maxMessageBytes?: number | undefined;
}

/**
 * Turns received chunks into complete messages: `push(chunk)`, then `next()` until undefined (or
 * iterate `messages()`); when it is undefined and `error` is set, close the connection.
 *
 * Messages are views into the received chunks (no copy); copy one to keep it without keeping the
 * chunk it came in.
 */
export class FrameDecoder {
  private readonly minBytes: number;
  private readonly maxBytes: number;
  /** Received octets not yet taken, in order; concatenated lazily, only as far as the head message. */
  private chunks: Buffer[] = [];
  private held = 0;
  private failure: string | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    this.minBytes = options.minMessageBytes ?? 0;
    this.maxBytes = Math.min(options.maxMessageBytes ?? MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES);
  }

  /** Octets received and not yet taken as messages. */
  get buffered(): number {
    return this.held;
  }

  /** Why the stream is unusable (a length out of bounds), once it is; then next() stays undefined. */
  get error(): string | undefined {
    return this.failure;
  }

  /** Append received octets; after a framing error they are dropped. */
  push(chunk: Buffer): void {
    if (this.failure !== undefined || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.held += chunk.length;
    this.check();
  }

  /** The next complete message, or undefined when more octets are needed (or after an error). */
  next(): Buffer | undefined {
    const length = this.headLength();
    if (length === undefined || this.held < 2 + length) return undefined;
    const first = this.gather(2 + length);
    const message = first.subarray(2, 2 + length);
    const rest = first.subarray(2 + length);
    if (rest.length > 0) this.chunks[0] = rest;
    else this.chunks.shift();
    this.held -= 2 + length;
    this.check();
    return message;
  }

  /** Whether next() would return a message now. */
  ready(): boolean {
    const length = this.headLength();
    return length !== undefined && this.held >= 2 + length;
  }

  /** Every complete message held now, in order (stop early to leave the rest held). */
  *messages(): Generator<Buffer, void, undefined> {
    for (let m = this.next(); m !== undefined; m = this.next()) yield m;
  }

  /** The head message's length, once its prefix is here and the stream is usable. */
  private headLength(): number | undefined {
    if (this.failure !== undefined || this.held < 2) return undefined;
    return this.gather(2).readUInt16BE(0);
  }

  /** A head length out of bounds fails the stream at once, before its octets arrive. */
  private check(): void {
    const length = this.headLength();
    if (length === undefined || (length >= this.minBytes && length <= this.maxBytes)) return;
    this.failure = `a frame of ${length} octets, outside ${this.minBytes}..${this.maxBytes}`;
    this.chunks = [];
    this.held = 0;
  }

  /** Make chunks[0] hold at least the first n octets (n ≤ held), joining only the chunks it takes. */
  private gather(n: number): Buffer {
    let first = this.chunks[0]!;
    if (first.length >= n) return first;
    let count = 1;
    let size = first.length;
    while (size < n) size += this.chunks[count++]!.length;
    first = Buffer.concat(this.chunks.slice(0, count), size);
    this.chunks.splice(0, count, first);
    return first;
  }
}
