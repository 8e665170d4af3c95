/**
 * The JSON bodies of the structured server-to-client frames: PRESENCE, and
 * the entries of the ROOMS and WHO lists. Text is UTF-8; every body fits in
 * one frame because room names and nicknames are short.
 *
 * @module
 */

/** What a PRESENCE frame announces. */
export interface Presence {
  /** `join` (entered the room), `leave` (left it) or `nick` (renamed). */
  event: "join" | "leave" | "nick";
  /** The room the event happened in. */
  room: string;
  /** The client's id (also in the frame's sender id field). */
  id: number;
  /** The client's nickname after the event, or `null` when it has none. */
  nick: string | null;
  /** For `nick`: the nickname before, or `null`. */
  old?: string | null;
  /**
   * For `join` (hubbub servers with history): the id of the room's last
   * message when the client joined, 0 when none. A member gets every
   * message of its room in order, so the id of each live CHAT after it is
   * known by counting.
   */
  last_id?: number;
}

/** One entry of a ROOMS reply. */
export interface RoomEntry {
  /** The room's name. */
  room: string;
  /** Number of members. */
  members: number;
}

/** One entry of a WHO reply. */
export interface MemberEntry {
  /** The member's id. */
  id: number;
  /** The member's nickname, or `null`. */
  nick: string | null;
}

/**
 * The last entry of a ROOMS or WHO reply that was cut short: how many
 * entries were left out. The empty frame that ends the list follows it.
 */
export interface MoreEntry {
  /** Entries not listed. */
  more: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encode a structured body as UTF-8 JSON.
 *
 * @param value The body.
 * @returns The body's bytes.
 */
export function encodeJsonBody(
  value: Presence | RoomEntry | MemberEntry | MoreEntry,
): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/**
 * Decode a structured body. An empty body (the end of a list) gives `null`.
 *
 * @param body The frame's body.
 * @returns The parsed value, or `null` for an empty body.
 * @throws {SyntaxError} When the body is not JSON.
 *
 * @example Usage
 * ```ts
 * import { decodeJsonBody, encodeJsonBody } from "./messages.ts";
 * const body = encodeJsonBody({ room: "lobby", members: 2 });
 * console.log(decodeJsonBody(body)); // { room: "lobby", members: 2 }
 * ```
 */
export function decodeJsonBody<
  T = Presence | RoomEntry | MemberEntry | MoreEntry,
>(
  body: Uint8Array,
): T | null {
  if (body.length === 0) return null;
  return JSON.parse(decoder.decode(body)) as T;
}
