/**
 * The load generator's message payload: who sent it, its sequence number and
 * when it was meant to be sent, followed by filler up to the requested size.
 *
 * Every byte is printable ASCII, so a server that handles bodies as text
 * (the original Rust server re-encodes each CHAT body with
 * `String::from_utf8_lossy`) relays it unchanged. Layout, fixed-width
 * decimal digits: publisher index (6 digits) at 0, sequence number (10) at
 * 6, intended send time in whole microseconds on the shared clock of
 * {@linkcode sharedClockMs} (16) at 16, filler `x` from 32. The fields are
 * written and read in place through tables (four digits per store, two per
 * look-up), so no string is made per message.
 *
 * @module
 */

import { MAX_BODY_SIZE } from "../../protocol/mod.ts";

const DIGIT_ZERO = 0x30;
/** Four ASCII zeros, as one little-endian u32. */
const FOUR_ZEROS = 0x30303030;
const EIGHT_DIGITS = 100_000_000;

/** Bytes of the payload that carry data; the rest is filler. */
export const PAYLOAD_HEADER_SIZE = 32;

/** Smallest payload the generator sends (`--size`). */
export const MIN_PAYLOAD_SIZE = PAYLOAD_HEADER_SIZE;

/** Largest payload the generator sends: the protocol's body limit. */
export const MAX_PAYLOAD_SIZE: number = MAX_BODY_SIZE;

/** Publisher indexes a payload can name (six digits). */
export const MAX_PUBLISHER_INDEXES = 1_000_000;

/** The byte every filler position holds (`x`), so payloads are readable. */
export const FILLER_BYTE = 0x78;

/**
 * The four ASCII digits of every number below 10,000, each as the
 * little-endian u32 that puts them in order in memory: a write of four
 * digits is one table look-up and one store.
 */
const FOUR_DIGITS = (() => {
  const table = new Uint32Array(10_000);
  for (let value = 0; value < 10_000; value++) {
    const d0 = Math.floor(value / 1000);
    const d1 = Math.floor(value / 100) % 10;
    const d2 = Math.floor(value / 10) % 10;
    const d3 = value % 10;
    table[value] = FOUR_ZEROS + (d0 | (d1 << 8) | (d2 << 16) | (d3 << 24));
  }
  return table;
})();

/** Write `value` (below 10^8) as eight digits at `offset`. */
function writeEightDigits(view: DataView, offset: number, value: number) {
  const high = (value / 10_000) | 0;
  view.setUint32(offset, FOUR_DIGITS[high], true);
  view.setUint32(offset + 4, FOUR_DIGITS[value - high * 10_000], true);
}

/**
 * The number (0-99) each pair of ASCII digits spells, by the pair read as a
 * little-endian u16; -1 for any other pair. A read of eight digits is four
 * look-ups.
 */
const TWO_DIGITS = (() => {
  const table = new Int8Array(0x10000).fill(-1);
  for (let tens = 0; tens < 10; tens++) {
    for (let ones = 0; ones < 10; ones++) {
      table[(DIGIT_ZERO + tens) | ((DIGIT_ZERO + ones) << 8)] = tens * 10 +
        ones;
    }
  }
  return table;
})();

/** The number of eight digits at `offset`, -1 when one is not a digit. */
function readEightDigits(view: DataView, offset: number): number {
  const a = TWO_DIGITS[view.getUint16(offset, true)];
  const b = TWO_DIGITS[view.getUint16(offset + 2, true)];
  const c = TWO_DIGITS[view.getUint16(offset + 4, true)];
  const d = TWO_DIGITS[view.getUint16(offset + 6, true)];
  return (a | b | c | d) < 0 ? -1 : ((a * 100 + b) * 100 + c) * 100 + d;
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
 * A shared-clock time as a payload carries it: to the microsecond. Senders
 * decide with this value whether a message is in the measured window, as
 * receivers do with the one they read.
 *
 * @param timeMs Milliseconds on the shared clock.
 * @returns The same, rounded to whole microseconds.
 */
export function payloadTime(timeMs: number): number {
  return Math.round(timeMs * 1000) / 1000;
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
 * @param intendedTimeMs When the message was meant to be sent (shared clock),
 * kept to the microsecond.
 *
 * @example Usage
 * ```ts
 * import { readIntendedTime, readPublisher, readSequence, writePayload, writePayloadTemplate } from "./payload.ts";
 * const bytes = new Uint8Array(40);
 * const view = new DataView(bytes.buffer);
 * writePayloadTemplate(bytes, 0, 40);
 * writePayload(view, 0, 3, 42, 1700000000000.5);
 * console.log(new TextDecoder().decode(bytes)); // 00000300000000421700000000000500xxxxxxxx
 * console.log(readPublisher(view, 0), readSequence(view, 0), readIntendedTime(view, 0));
 * // 3 42 1700000000000.5
 * ```
 */
export function writePayload(
  view: DataView,
  offset: number,
  publisher: number,
  sequence: number,
  intendedTimeMs: number,
): void {
  // Digits 0-7: publisher (6) and the sequence's top two; 8-15: the
  // sequence's low eight; 16-31: the time in microseconds.
  const sequenceHigh = Math.floor(sequence / EIGHT_DIGITS);
  writeEightDigits(view, offset, publisher * 100 + sequenceHigh);
  writeEightDigits(view, offset + 8, sequence - sequenceHigh * EIGHT_DIGITS);
  const microseconds = Math.round(intendedTimeMs * 1000);
  const timeHigh = Math.floor(microseconds / EIGHT_DIGITS);
  writeEightDigits(view, offset + 16, timeHigh);
  writeEightDigits(view, offset + 24, microseconds - timeHigh * EIGHT_DIGITS);
}

/**
 * The publisher index of the payload at `offset`.
 *
 * @param view A view over the received bytes.
 * @param offset Where the payload starts, relative to the view.
 * @returns The publisher index, -1 when the field is not digits.
 */
export function readPublisher(view: DataView, offset: number): number {
  const first = readEightDigits(view, offset);
  return first < 0 ? -1 : (first / 100) | 0;
}

/**
 * The sequence number of the payload at `offset`.
 *
 * @param view A view over the received bytes.
 * @param offset Where the payload starts, relative to the view.
 * @returns The sequence number, -1 when the field is not digits.
 */
export function readSequence(view: DataView, offset: number): number {
  const first = readEightDigits(view, offset);
  const low = readEightDigits(view, offset + 8);
  if ((first | low) < 0) return -1;
  return (first - ((first / 100) | 0) * 100) * EIGHT_DIGITS + low;
}

/**
 * The intended send time of the payload at `offset`.
 *
 * @param view A view over the received bytes.
 * @param offset Where the payload starts, relative to the view.
 * @returns Milliseconds on the shared clock, -1 when the field is not digits.
 */
export function readIntendedTime(view: DataView, offset: number): number {
  const high = readEightDigits(view, offset + 16);
  const low = readEightDigits(view, offset + 24);
  return (high | low) < 0 ? -1 : (high * EIGHT_DIGITS + low) / 1000;
}

/** What {@linkcode readPayloadFields} read last (one object, reused). */
export const payloadFields: {
  publisher: number;
  sequence: number;
  intendedTimeMs: number;
} = { publisher: 0, sequence: 0, intendedTimeMs: 0 };

/**
 * Read all three data fields of the payload at `offset` into
 * {@linkcode payloadFields}, in one pass and without allocating: the
 * receivers' hot path.
 *
 * @param view A view over the received bytes.
 * @param offset Where the payload starts, relative to the view.
 * @returns `false` when a field is not digits (the fields are then stale).
 */
export function readPayloadFields(view: DataView, offset: number): boolean {
  const first = readEightDigits(view, offset);
  const sequenceLow = readEightDigits(view, offset + 8);
  const timeHigh = readEightDigits(view, offset + 16);
  const timeLow = readEightDigits(view, offset + 24);
  if ((first | sequenceLow | timeHigh | timeLow) < 0) return false;
  const publisher = (first / 100) | 0;
  payloadFields.publisher = publisher;
  payloadFields.sequence = (first - publisher * 100) * EIGHT_DIGITS +
    sequenceLow;
  payloadFields.intendedTimeMs = (timeHigh * EIGHT_DIGITS + timeLow) / 1000;
  return true;
}
