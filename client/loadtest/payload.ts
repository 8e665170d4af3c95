/**
 * The load generator's message payload: who sent it, its sequence number and
 * when it was meant to be sent, followed by filler up to the requested size.
 *
 * Every byte is printable ASCII, so a server that handles bodies as text
 * (the original Rust server re-encodes each CHAT body with
 * `String::from_utf8_lossy`) relays it unchanged. The data fields are written
 * in base 64 with the 64 consecutive characters `?` (0) to `~` (63), most
 * significant first, four characters (24 bits) to a group: a group is one
 * big-endian 32-bit load or store and a few integer operations away from its
 * value, with no table and no loop per character. Layout: publisher index
 * (16 bits) and the sequence number's top 8 bits in the group at 0, its low
 * 24 bits at 4; the intended send time in whole microseconds on the shared
 * clock of {@linkcode sharedClockMs}, modulo 2^48 (about 8.9 years, restored
 * from the receiver's clock), top 24 bits at 8 and low 24 at 12; filler `x`
 * from 16. Four groups, so the receivers' decoding
 * ({@linkcode PayloadReader}) is small enough for V8 to inline into their
 * hot path.
 *
 * @module
 */

import { MAX_BODY_SIZE } from "../../protocol/mod.ts";

/** The character of digit 0 (`?`); digit d is this plus d. */
const DIGIT_ZERO = 0x3f;
/** A group of four zero digits, as a 32-bit value. */
const ZERO_GROUP = 0x3f3f3f3f;
/**
 * The top two bits of each byte of a group minus {@linkcode ZERO_GROUP}: one
 * is set exactly when some character is outside `?`..`~` (the lowest such
 * byte has no borrow from below, so it shows either a borrow of its own or a
 * value over 63). Signed, as the results of bitwise operators are.
 */
const NOT_DIGITS = 0xc0c0c0c0 | 0;
/** Values one group holds: 2^24. */
const GROUP_SPAN = 0x100_0000;
/** Microseconds the time field holds before it wraps: 2^48. */
const TIME_SPAN = GROUP_SPAN * GROUP_SPAN;

/** Bytes of the payload that carry data; the rest is filler. */
export const PAYLOAD_HEADER_SIZE = 16;

/** Smallest payload the generator sends (`--size`). */
export const MIN_PAYLOAD_SIZE = PAYLOAD_HEADER_SIZE;

/** Largest payload the generator sends: the protocol's body limit. */
export const MAX_PAYLOAD_SIZE: number = MAX_BODY_SIZE;

/** Publisher indexes a payload can name (16 bits). */
export const MAX_PUBLISHER_INDEXES = 0x1_0000;

/** The byte every filler position holds (`x`), so payloads are readable. */
export const FILLER_BYTE = 0x78;

/** Write `value` (below 2^24) as one group at `offset`. */
function writeGroup(view: DataView, offset: number, value: number): void {
  view.setInt32(
    offset,
    ZERO_GROUP + (((value >> 18) << 24) | (((value >> 12) & 63) << 16) |
      (((value >> 6) & 63) << 8) | (value & 63)),
  );
}

/**
 * The value of a group given as its 32-bit load minus
 * {@linkcode ZERO_GROUP} (one digit in each byte): the four digits packed
 * into 24 bits, pairwise.
 */
function groupValue(digits: number): number {
  const pairs = (digits & 0x3f003f) | ((digits >> 2) & 0xfc00fc0);
  return (pairs & 0xfff) | ((pairs >> 4) & 0xfff000);
}

/**
 * Milliseconds on a clock that every thread and process of this machine
 * shares (epoch-based, sub-millisecond resolution), so a receiver can compare
 * it with a sender's timestamp.
 *
 * @returns The current time in milliseconds since the Unix epoch.
 */
export function sharedClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * A shared-clock time as a payload carries it: in whole microseconds.
 * Senders decide with this value whether a message is in the measured
 * window, as receivers do with the one they read, against bounds converted
 * the same way.
 *
 * @param timeMs Milliseconds on the shared clock.
 * @returns Whole microseconds.
 */
export function payloadMicroseconds(timeMs: number): number {
  return Math.round(timeMs * 1000);
}

/**
 * Call `callback` once {@linkcode sharedClockMs} has reached `time`: at once
 * if it has, else on a timer, and again if the timer fires early (they may,
 * by a fraction of a millisecond).
 *
 * @param time The shared-clock time, in ms.
 * @param callback What to call.
 */
export function callAtSharedTime(time: number, callback: () => void): void {
  const wait = time - sharedClockMs();
  if (wait <= 0) callback();
  else setTimeout(() => callAtSharedTime(time, callback), wait);
}

/**
 * Fill `bytes[offset..offset + size)` with a payload template: zero data
 * fields and filler. Done once per send slot; {@linkcode writePayload} then
 * only touches the data fields.
 *
 * @param bytes The buffer.
 * @param offset Where the payload starts.
 * @param size The payload size, at least {@linkcode PAYLOAD_HEADER_SIZE}.
 * @throws {RangeError} When `size` is outside the accepted range.
 */
export function writePayloadTemplate(
  bytes: Uint8Array,
  offset: number,
  size: number,
): void {
  if (size < MIN_PAYLOAD_SIZE || size > MAX_PAYLOAD_SIZE) {
    throw new RangeError(
      `Payload size must be ${MIN_PAYLOAD_SIZE} to ${MAX_PAYLOAD_SIZE} bytes, got ${size}`,
    );
  }
  bytes.fill(DIGIT_ZERO, offset, offset + PAYLOAD_HEADER_SIZE);
  bytes.fill(FILLER_BYTE, offset + PAYLOAD_HEADER_SIZE, offset + size);
}

/**
 * Write the data fields of a payload in place. Allocates nothing.
 *
 * @param view A view over the buffer that holds the payload.
 * @param offset Where the payload starts, relative to the view.
 * @param publisher The publisher's index, below {@linkcode MAX_PUBLISHER_INDEXES}.
 * @param sequence The message's sequence number for this publisher (u32).
 * @param intendedMicroseconds When the message was meant to be sent, from
 * {@linkcode payloadMicroseconds}.
 *
 * @example Usage
 * ```ts
 * import { writePayload, writePayloadTemplate } from "./payload.ts";
 * const bytes = new Uint8Array(24);
 * const view = new DataView(bytes.buffer);
 * writePayloadTemplate(bytes, 0, 24);
 * writePayload(view, 0, 3, 42, 1_700_000_000_000_500);
 * console.log(new TextDecoder().decode(bytes)); // ??K????iAaOWFcFsxxxxxxxx
 * ```
 */
export function writePayload(
  view: DataView,
  offset: number,
  publisher: number,
  sequence: number,
  intendedMicroseconds: number,
): void {
  writeGroup(view, offset, (publisher << 8) | (sequence >>> 24));
  writeGroup(view, offset + 4, sequence & 0xffffff);
  const wrapped = intendedMicroseconds % TIME_SPAN;
  const high = Math.floor(wrapped / GROUP_SPAN);
  writeGroup(view, offset + 8, high);
  writeGroup(view, offset + 12, wrapped - high * GROUP_SPAN);
}

/**
 * Reads the data fields of received payloads, in place and without
 * allocating: the receivers' hot path. Rather than the send time, it gives
 * each payload's latency, worked out in small integers against the
 * receiver's time set once per socket read ({@linkcode PayloadReader.setNow}),
 * and whether the payload was sent in the measured window.
 *
 * @example Usage
 * ```ts
 * import { PayloadReader, writePayload, writePayloadTemplate } from "./payload.ts";
 * const bytes = new Uint8Array(24);
 * const view = new DataView(bytes.buffer);
 * writePayloadTemplate(bytes, 0, 24);
 * writePayload(view, 0, 3, 42, 1_700_000_000_000_500);
 * const reader = new PayloadReader();
 * reader.setNow(1_700_000_000_002_000, 1_700_000_000_000_000, Infinity);
 * console.log(reader.read(view, 0), reader.publisher, reader.sequence); // true 3 42
 * console.log(reader.latencyMicroseconds, reader.sentInWindow); // 1500 true
 * ```
 */
export class PayloadReader {
  /** Publisher index of the payload read last. */
  publisher = 0;
  /** Sequence number of the payload read last. */
  sequence = 0;
  /**
   * Microseconds from the send time of the payload read last to the time
   * given to {@linkcode PayloadReader.setNow}; the send time taken is the
   * one within about 2^47 microseconds of that time.
   */
  latencyMicroseconds = 0;
  /** Whether the payload read last was sent in the window of `setNow`. */
  sentInWindow = false;
  /** The receiver's time modulo 2^48: its top and low 24 bits. */
  #nowHigh = 0;
  #nowLow = 0;
  /** The latencies of payloads sent in the window: above one, up to the other. */
  #windowLatencyAbove = 0;
  #windowLatencyUpTo = 0;

  /**
   * Set the receiver's time for the payloads read next, and the window
   * whose payloads count as measured.
   *
   * @param nowMicroseconds The receiver's shared-clock time, whole
   * microseconds, from {@linkcode payloadMicroseconds}.
   * @param windowFrom Start of the window, the same way (`Infinity`: none).
   * @param windowUntil End of the window, exclusive.
   */
  setNow(
    nowMicroseconds: number,
    windowFrom: number,
    windowUntil: number,
  ): void {
    const wrapped = nowMicroseconds % TIME_SPAN;
    const high = Math.floor(wrapped / GROUP_SPAN);
    this.#nowHigh = high;
    this.#nowLow = wrapped - high * GROUP_SPAN;
    this.#windowLatencyAbove = nowMicroseconds - windowUntil;
    this.#windowLatencyUpTo = nowMicroseconds - windowFrom;
  }

  /**
   * Read the data fields of the payload at `offset`.
   *
   * @param view A view over the received bytes.
   * @param offset Where the payload starts, relative to the view.
   * @returns `false` when a field is not digits (the fields are then stale).
   */
  read(view: DataView, offset: number): boolean {
    const first = (view.getInt32(offset) - ZERO_GROUP) | 0;
    const sequenceLow = (view.getInt32(offset + 4) - ZERO_GROUP) | 0;
    const timeHigh = (view.getInt32(offset + 8) - ZERO_GROUP) | 0;
    const timeLow = (view.getInt32(offset + 12) - ZERO_GROUP) | 0;
    if (((first | sequenceLow | timeHigh | timeLow) & NOT_DIGITS) !== 0) {
      return false;
    }
    const publisherAndTop = groupValue(first);
    this.publisher = publisherAndTop >> 8;
    this.sequence = ((publisherAndTop << 24) | groupValue(sequenceLow)) >>> 0;
    // The top groups' difference as a signed 24-bit number, so a send time
    // on the other side of a wrap of the field still comes out near now.
    const highDifference = ((this.#nowHigh - groupValue(timeHigh)) << 8) >> 8;
    const latency = highDifference * GROUP_SPAN +
      (this.#nowLow - groupValue(timeLow));
    this.latencyMicroseconds = latency;
    this.sentInWindow = latency > this.#windowLatencyAbove &&
      latency <= this.#windowLatencyUpTo;
    return true;
  }
}
