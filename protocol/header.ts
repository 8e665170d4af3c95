/**
 * Reading and writing the three big-endian u64 fields of a frame header in
 * place, without allocating. The values are JavaScript numbers: exact up to
 * 2^53, which no valid length, tag or id comes near.
 *
 * @module
 */

import { HEADER_SIZE, MAX_BODY_SIZE } from "./constants.ts";
import { FrameTooLargeError } from "./errors.ts";

const TWO_TO_32 = 0x1_0000_0000;

function readUint64(bytes: Uint8Array, offset: number): number {
  const high = ((bytes[offset] << 24) | (bytes[offset + 1] << 16) |
    (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0;
  const low = ((bytes[offset + 4] << 24) | (bytes[offset + 5] << 16) |
    (bytes[offset + 6] << 8) | bytes[offset + 7]) >>> 0;
  return high * TWO_TO_32 + low;
}

function writeUint64(bytes: Uint8Array, offset: number, value: number): void {
  const high = Math.floor(value / TWO_TO_32);
  const low = value >>> 0;
  bytes[offset] = high >>> 24;
  bytes[offset + 1] = high >>> 16;
  bytes[offset + 2] = high >>> 8;
  bytes[offset + 3] = high;
  bytes[offset + 4] = low >>> 24;
  bytes[offset + 5] = low >>> 16;
  bytes[offset + 6] = low >>> 8;
  bytes[offset + 7] = low;
}

/**
 * The body length field of the header at `offset`.
 *
 * @param bytes Buffer holding at least a whole header from `offset`.
 * @param offset Where the header starts.
 * @returns The announced body length in bytes.
 */
export function readBodyLength(bytes: Uint8Array, offset: number): number {
  return readUint64(bytes, offset);
}

/**
 * The tag field of the header at `offset`.
 *
 * @param bytes Buffer holding at least a whole header from `offset`.
 * @param offset Where the header starts.
 * @returns The tag, which may be one this version does not know.
 */
export function readTag(bytes: Uint8Array, offset: number): number {
  return readUint64(bytes, offset + 8);
}

/**
 * The sender id field of the header at `offset`.
 *
 * @param bytes Buffer holding at least a whole header from `offset`.
 * @param offset Where the header starts.
 * @returns The sender id.
 */
export function readSenderId(bytes: Uint8Array, offset: number): number {
  return readUint64(bytes, offset + 16);
}

/**
 * Overwrite the sender id field of the header at `offset` (the server stamps
 * every relayed frame this way).
 *
 * @param bytes Buffer holding at least a whole header from `offset`.
 * @param offset Where the header starts.
 * @param senderId The id to write, a non-negative safe integer.
 */
export function writeSenderId(
  bytes: Uint8Array,
  offset: number,
  senderId: number,
): void {
  writeUint64(bytes, offset + 16, senderId);
}

/**
 * Write a whole header at `offset`.
 *
 * @param bytes Buffer with room for a header from `offset`.
 * @param offset Where the header starts.
 * @param bodyLength Body length in bytes.
 * @param tag The frame's tag.
 * @param senderId The sender id.
 */
export function writeHeader(
  bytes: Uint8Array,
  offset: number,
  bodyLength: number,
  tag: number,
  senderId: number,
): void {
  writeUint64(bytes, offset, bodyLength);
  writeUint64(bytes, offset + 8, tag);
  writeUint64(bytes, offset + 16, senderId);
}

/**
 * Find where the complete frames in `bytes[start..end)` end.
 *
 * Walks the headers from `start` and returns the offset just past the last
 * frame that lies wholly inside the range. It stops early at a header that
 * announces a frame over {@linkcode MAX_FRAME_SIZE}; pass the returned offset
 * to {@linkcode checkFrameSize} to tell that case from an incomplete frame.
 * Allocates nothing.
 *
 * @param bytes The buffer to scan.
 * @param start Offset of the first frame header.
 * @param end Offset just past the last valid byte.
 * @returns The offset just past the last complete frame (`start` if none).
 *
 * @example Usage
 * ```ts
 * import { completeFramesEnd } from "./header.ts";
 * const bytes = new Uint8Array(30); // one empty frame and 6 bytes of the next
 * console.log(completeFramesEnd(bytes, 0, bytes.length)); // 24
 * ```
 */
export function completeFramesEnd(
  bytes: Uint8Array,
  start: number,
  end: number,
): number {
  let offset = start;
  while (end - offset >= HEADER_SIZE) {
    const bodyLength = readUint64(bytes, offset);
    if (bodyLength > MAX_BODY_SIZE) break;
    const frameEnd = offset + HEADER_SIZE + bodyLength;
    if (frameEnd > end) break;
    offset = frameEnd;
  }
  return offset;
}

/**
 * Check the frame that starts at `offset`: throw if its header is complete and
 * announces a frame over {@linkcode MAX_FRAME_SIZE}. An incomplete header
 * passes; its size is not known yet.
 *
 * @param bytes The buffer holding the frame's first bytes.
 * @param offset Where the frame starts.
 * @param end Offset just past the last valid byte.
 * @throws {FrameTooLargeError} When the announced frame is over the limit.
 */
export function checkFrameSize(
  bytes: Uint8Array,
  offset: number,
  end: number,
): void {
  if (end - offset < HEADER_SIZE) return;
  const bodyLength = readUint64(bytes, offset);
  if (bodyLength > MAX_BODY_SIZE) {
    throw new FrameTooLargeError(announcedFrameSize(bytes, offset));
  }
}

/**
 * The frame size a header announces, exactly: a length past 2^53 has no
 * exact JavaScript number, and an error message must not round it.
 */
function announcedFrameSize(bytes: Uint8Array, offset: number): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getBigUint64(offset) + BigInt(HEADER_SIZE);
}
