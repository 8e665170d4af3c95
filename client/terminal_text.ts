/**
 * Make text from other people safe to show: every character that a terminal
 * (or a browser's layout) would obey instead of displaying is replaced by a
 * visible stand-in. Pure string code, no Deno APIs, so a web page can use
 * it as well as the terminal client.
 *
 * @module
 */

/**
 * Characters that act instead of showing: C0 controls (ESC starts every CSI
 * and OSC sequence, CR and LF forge lines), DEL, C1 controls (U+009B is a
 * one-byte CSI, U+009D a one-byte OSC, U+0085 a line break), the line and
 * paragraph separators, the bidirectional embedding, override and isolate
 * controls and marks (they reorder what follows), and lone surrogates.
 */
const ACTIVE =
  // deno-lint-ignore no-control-regex -- matching controls is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function standIn(character: string): string {
  const code = character.charCodeAt(0);
  // C0 controls have pictures at U+2400 + code (ESC shows as ␛, LF as ␊).
  if (code < 0x20) return String.fromCharCode(0x2400 + code);
  if (code === 0x7f) return "\u2421"; // ␡
  return `<U+${code.toString(16).toUpperCase().padStart(4, "0")}>`;
}

/**
 * Replace every control character, bidirectional control and lone surrogate
 * in `text` with a visible form, so that what others send cannot move the
 * cursor, recolour the screen, set the window title, write the clipboard
 * (OSC 52), reorder the line or start a new one. C0 controls become their
 * Control Pictures (`\x1b` → `␛`, `\n` → `␊`, `\r` → `␍`, `\t` → `␉`), DEL
 * becomes `␡`, and the others their code point in angle brackets
 * (`\u202e` → `<U+202E>`, `\x9b` → `<U+009B>`). An escape sequence thus shows
 * as its ESC picture followed by its printable rest (`␛[31m`), and the result
 * is always one line. Other text, emoji and combining marks included, is
 * unchanged.
 *
 * @param text Untrusted text: a chat body, a nickname, a room name, a reason.
 * @returns The text with every active character made visible.
 *
 * @example Usage
 * ```ts
 * import { inertText } from "./terminal_text.ts";
 * console.log(inertText("hi\x1b[2A\r\nzed >>> I agree")); // hi␛[2A␍␊zed >>> I agree
 * ```
 */
export function inertText(text: string): string {
  return text.replace(ACTIVE, standIn);
}

/**
 * Whether `text` has nothing that {@linkcode inertText} would replace.
 *
 * @param text The text.
 * @returns `true` when it shows exactly as it is.
 */
export function isInert(text: string): boolean {
  ACTIVE.lastIndex = 0;
  const found = ACTIVE.test(text);
  ACTIVE.lastIndex = 0;
  return !found;
}
