/**
 * The rules for room names and nicknames, shared by the server (which
 * enforces them) and clients (which can check before sending).
 *
 * @module
 */

import { normalizeName } from "./name_key.ts";

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
 * Characters that draw nothing or change how the others are drawn: format
 * characters (zero-width spaces and joiners, soft hyphen, bidi overrides and
 * isolates), line and paragraph separators, private-use and unassigned code
 * points, every default-ignorable code point (variation selectors, Hangul
 * fillers, tag characters) and the blank Braille pattern. Each lets two names
 * look the same and differ, or makes text around a name read backwards.
 */
const INVISIBLE =
  /[\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\p{Default_Ignorable_Code_Point}\u2800]/u;
/** A presentation selector right after an emoji, which is how emoji are typed. */
const EMOJI_PRESENTATION = /(?<=\p{Extended_Pictographic})[\ufe0e\ufe0f]/gu;
const ALL_DIGITS = /^\p{Nd}+$/u;

/** Whether `name` has a character that draws nothing ({@linkcode INVISIBLE}). */
function hasInvisible(name: string): boolean {
  return INVISIBLE.test(name.replace(EMOJI_PRESENTATION, ""));
}

/**
 * Check a room name: 1 to `maxBytes` bytes of UTF-8 with no control,
 * invisible or formatting characters (spaces are allowed). The name is
 * checked in the NFC form the server stores (`normalizeName`).
 *
 * @param name The proposed name.
 * @param maxBytes The limit in bytes.
 * @returns `null` when valid, else the reason in a few words.
 */
export function roomNameProblem(
  name: string,
  maxBytes: number = MAX_ROOM_NAME_BYTES,
): string | null {
  const stored = normalizeName(name);
  const bytes = encoder.encode(stored).length;
  if (bytes === 0) return "room name is empty";
  if (bytes > maxBytes) return `room name is longer than ${maxBytes} bytes`;
  if (CONTROL.test(stored)) return "room name has control characters";
  if (hasInvisible(stored)) {
    return "room name has invisible or formatting characters";
  }
  return null;
}

/**
 * Check a nickname: 1 to `maxBytes` bytes of UTF-8, no whitespace, control,
 * invisible or formatting characters, and not all digits in any script or
 * width (so it cannot be mistaken for an id). The nickname is checked in the
 * NFC form the server stores (`normalizeName`).
 *
 * @param nickname The proposed nickname.
 * @param maxBytes The limit in bytes.
 * @returns `null` when valid, else the reason in a few words.
 */
export function nicknameProblem(
  nickname: string,
  maxBytes: number = MAX_NICKNAME_BYTES,
): string | null {
  const stored = normalizeName(nickname);
  const bytes = encoder.encode(stored).length;
  if (bytes === 0) return "nickname is empty";
  if (bytes > maxBytes) return `nickname is longer than ${maxBytes} bytes`;
  if (CONTROL.test(stored)) return "nickname has control characters";
  if (WHITESPACE.test(stored)) return "nickname has whitespace";
  if (hasInvisible(stored)) {
    return "nickname has invisible or formatting characters";
  }
  if (ALL_DIGITS.test(stored.normalize("NFKC"))) {
    return "nickname is all digits";
  }
  return null;
}
