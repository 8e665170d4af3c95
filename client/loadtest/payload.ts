/**
 * The load generator's message payload: who sent it, its sequence number and
 * when it was meant to be sent, followed by filler up to the requested size.
 *
 * Layout (little-endian): publisher index (u32) at 0, sequence number (u32)
 * at 4, intended send time (f64, milliseconds on the shared clock of
 * {@linkcode sharedClockMs}) at 8, filler from 16.
 *
 * @module
 */

import { MAX_BODY_SIZE } from "../../protocol/mod.ts";

/** Bytes of the payload that carry data; the rest is filler. */
export const PAYLOAD_HEADER_SIZE = 16;

/** Smallest payload the generator sends (`--size`). */
export const MIN_PAYLOAD_SIZE = PAYLOAD_HEADER_SIZE;

/** Largest payload the generator sends: the protocol's body limit. */
export const MAX_PAYLOAD_SIZE: number = MAX_BODY_SIZE;

/** The byte every filler position holds (`x`), so payloads are readable. */
export const FILLER_BYTE = 0x78;

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
 * Fill `bytes[offset..offset + size)` with a payload template: zero header
 * fields and filler. Done once per send slot; {@linkcode writePayload} then
 * only touches the 16 data bytes.
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
  bytes.fill(0, offset, offset + PAYLOAD_HEADER_SIZE);
  bytes.fill(FILLER_BYTE, offset + PAYLOAD_HEADER_SIZE, offset + size);
}

/**
 * Write the data fields of a payload in place. Allocates nothing.
 *
 * @param view A view over the buffer that holds the payload.
 * @param offset Where the payload starts, relative to the view.
 * @param publisher The publisher's index.
 * @param sequence The message's sequence number for this publisher.
 * @param intendedTimeMs When the message was meant to be sent (shared clock).
 *
 * @example Usage
 * ```ts
 * import { readIntendedTime, readPublisher, readSequence, writePayload } from "./payload.ts";
 * const view = new DataView(new ArrayBuffer(64));
 * writePayload(view, 0, 3, 42, 1700000000000.5);
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
  view.setUint32(offset, publisher, true);
  view.setUint32(offset + 4, sequence, true);
  view.setFloat64(offset + 8, intendedTimeMs, true);
}

/**
 * The publisher index of the payload at `offset`.
 *
 * @param view A view over the received bytes.
 * @param offset Where the payload starts, relative to the view.
 * @returns The publisher index.
 */
export function readPublisher(view: DataView, offset: number): number {
  return view.getUint32(offset, true);
}

/**
 * The sequence number of the payload at `offset`.
 *
 * @param view A view over the received bytes.
 * @param offset Where the payload starts, relative to the view.
 * @returns The sequence number.
 */
export function readSequence(view: DataView, offset: number): number {
  return view.getUint32(offset + 4, true);
}

/**
 * The intended send time of the payload at `offset`.
 *
 * @param view A view over the received bytes.
 * @param offset Where the payload starts, relative to the view.
 * @returns Milliseconds on the shared clock.
 */
export function readIntendedTime(view: DataView, offset: number): number {
  return view.getFloat64(offset + 8, true);
}
