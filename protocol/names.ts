/**
 * The rules for room names and nicknames, shared by the server (which
 * enforces them) and clients (which can check before sending).
 *
 * @module
 */

/** The room every client starts in. */
export const LOBBY = "lobby";

/** Default and protocol maximum length of a room name in UTF-8 bytes. */
export const MAX_ROOM_NAME_BYTES = 64;

/** Default and protocol maximum length of a nickname in UTF-8 bytes. */
export const MAX_NICKNAME_BYTES = 32;

const encoder = new TextEncoder();
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const WHITESPACE = /\s/;

/**
 * Check a room name: 1 to `maxBytes` bytes of UTF-8 with no control
 * characters (spaces are allowed).
 *
 * @param name The proposed name.
 * @param maxBytes The limit in bytes.
 * @returns `null` when valid, else the reason in a few words.
 */
export function roomNameProblem(
  name: string,
  maxBytes: number = MAX_ROOM_NAME_BYTES,
): string | null {
  const bytes = encoder.encode(name).length;
  if (bytes === 0) return "room name is empty";
  if (bytes > maxBytes) return `room name is longer than ${maxBytes} bytes`;
  if (CONTROL.test(name)) return "room name has control characters";
  return null;
}

/**
 * Check a nickname: 1 to `maxBytes` bytes of UTF-8, no whitespace or control
 * characters, and not all digits (so it cannot be mistaken for an id).
 *
 * @param nickname The proposed nickname.
 * @param maxBytes The limit in bytes.
 * @returns `null` when valid, else the reason in a few words.
 */
export function nicknameProblem(
  nickname: string,
  maxBytes: number = MAX_NICKNAME_BYTES,
): string | null {
  const bytes = encoder.encode(nickname).length;
  if (bytes === 0) return "nickname is empty";
  if (bytes > maxBytes) return `nickname is longer than ${maxBytes} bytes`;
  if (CONTROL.test(nickname)) return "nickname has control characters";
  if (WHITESPACE.test(nickname)) return "nickname has whitespace";
  if (/^\d+$/.test(nickname)) return "nickname is all digits";
  return null;
}
