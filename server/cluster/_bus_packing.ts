/**
 * The packed message the publish script sends on a room's channel:
 * [first id f64, count u32, origin node u32] then the frames, big-endian.
 *
 * @module
 */

/** Bytes before the frames. */
export const PACKED_HEADER_SIZE = 16;

/** A packed message's header, read in place. */
export interface PackedRun {
  /** The first message's id. */
  firstId: number;
  /** How many messages. */
  count: number;
  /** The publishing node's number. */
  origin: number;
  /** The frames (a view of the message). */
  frames: Uint8Array;
}

/**
 * Read a packed message.
 *
 * @param message The channel message's bytes.
 * @returns Its parts, or null when it is too short to be one.
 */
export function unpackRun(message: Uint8Array): PackedRun | null {
  if (message.length < PACKED_HEADER_SIZE) return null;
  const view = new DataView(
    message.buffer,
    message.byteOffset,
    message.byteLength,
  );
  return {
    firstId: view.getFloat64(0),
    count: view.getUint32(8),
    origin: view.getUint32(12),
    frames: message.subarray(PACKED_HEADER_SIZE),
  };
}
