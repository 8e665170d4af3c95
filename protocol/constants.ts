/**
 * Sizes and tags of the hubbub wire format.
 *
 * A frame is a 24-byte header (three big-endian unsigned 64-bit integers:
 * body length, tag, sender id) followed by the body. A whole frame is at most
 * {@linkcode MAX_FRAME_SIZE} bytes, the fixed receive buffer of the original
 * Rust server, so a body is at most {@linkcode MAX_BODY_SIZE} bytes.
 *
 * @module
 */

/** Size of a frame header in bytes: length, tag and sender id, 8 bytes each. */
export const HEADER_SIZE = 24;

/** Largest whole frame, header included, in bytes. */
export const MAX_FRAME_SIZE = 512;

/** Largest frame body in bytes (`MAX_FRAME_SIZE - HEADER_SIZE`). */
export const MAX_BODY_SIZE: number = MAX_FRAME_SIZE - HEADER_SIZE;

/**
 * Frame tags. Tags 0–2 are the original protocol; 3 and up are hubbub's
 * extensions (see docs/PROTOCOL.md for each one's direction and body).
 *
 * @example Usage
 * ```ts
 * import { Tag } from "./constants.ts";
 * console.log(Tag.CHAT); // 1
 * ```
 */
export const Tag = {
  /** Server to client, once, right after accept: sender id = the new id. */
  ISSUE_ID: 0,
  /** Client to server: UTF-8 text; relayed to the room with the sender's id. */
  CHAT: 1,
  /** Either way: the connection is ending. */
  CLOSE: 2,
  /**
   * Server to client: a short UTF-8 reason. Before a disconnect it says why;
   * otherwise it refuses one request (sender id = the refused frame's tag).
   */
  ERROR: 3,
  /** Either way: are you there? The receiver answers PONG with the same body. */
  PING: 4,
  /** Either way: the answer to PING. */
  PONG: 5,
  /** Client to server: move to the room named by the body (UTF-8). */
  JOIN: 6,
  /** Client to server: set the nickname in the body (UTF-8). */
  NICK: 7,
  /** Server to client: someone joined, left or renamed (JSON body). */
  PRESENCE: 8,
  /** Client asks for the room list; server answers one frame per room (JSON), then an empty one. */
  ROOMS: 9,
  /** Client asks who is in its room; server answers one frame per member (JSON), then an empty one. */
  WHO: 10,
  /** Client to server, first frame when the server requires it: the token. */
  AUTH: 11,
  /**
   * Client to server: ask for stored messages of the current room (JSON
   * body). Server to client: one stored message's metadata (JSON), followed
   * by its HISTORY_TEXT; sender id = the original sender.
   */
  HISTORY: 12,
  /** Server to client: a stored message's body bytes as relayed; sender id = the original sender. */
  HISTORY_TEXT: 13,
  /** Server to client: the end of a history reply, with what it held and what was pruned (JSON). */
  HISTORY_END: 14,
} as const;

/** One of the numeric values of {@linkcode Tag}. */
export type TagValue = typeof Tag[keyof typeof Tag];

/**
 * The name of a known tag, or `undefined` for a tag this version does not know.
 *
 * @param tag The numeric tag.
 * @returns The tag's name, for example `"CHAT"`.
 */
export function tagName(tag: number): string | undefined {
  for (const [name, value] of Object.entries(Tag)) {
    if (value === tag) return name;
  }
  return undefined;
}
