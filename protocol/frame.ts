import { HEADER_SIZE, MAX_BODY_SIZE } from "./constants.ts";
import { FrameTooLargeError } from "./errors.ts";
import { writeHeader } from "./header.ts";

/** A decoded frame. */
export interface Frame {
  /** The frame's tag (see `Tag`); may be one this version does not know. */
  tag: number;
  /** The sender id field: the issued id on ISSUE_ID and on relayed CHAT. */
  senderId: number;
  /** The body bytes, at most `MAX_BODY_SIZE` of them. */
  body: Uint8Array;
}

const EMPTY_BODY = new Uint8Array(0);
const textEncoder = new TextEncoder();

/**
 * Encode one frame into a new buffer.
 *
 * @param tag The frame's tag.
 * @param senderId The sender id field (0 where it has no meaning).
 * @param body The body: bytes, or a string encoded as UTF-8.
 * @returns The frame's bytes, header first.
 * @throws {FrameTooLargeError} When the body is over `MAX_BODY_SIZE` bytes.
 *
 * @example Usage
 * ```ts
 * import { encodeFrame } from "./frame.ts";
 * import { Tag } from "./constants.ts";
 * const frame = encodeFrame(Tag.CHAT, 0, "hello");
 * console.log(frame.length); // 29
 * ```
 */
export function encodeFrame(
  tag: number,
  senderId: number,
  body: Uint8Array | string = EMPTY_BODY,
): Uint8Array {
  const bytes = typeof body === "string" ? textEncoder.encode(body) : body;
  if (bytes.length > MAX_BODY_SIZE) {
    throw new FrameTooLargeError(HEADER_SIZE + bytes.length);
  }
  const frame = new Uint8Array(HEADER_SIZE + bytes.length);
  writeHeader(frame, 0, bytes.length, tag, senderId);
  frame.set(bytes, HEADER_SIZE);
  return frame;
}
