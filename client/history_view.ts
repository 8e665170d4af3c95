/**
 * How the terminal client shows history: each stored message as one line
 * marked `earlier` with the server's time, made inert like every other
 * text, and the end of a reply as one line only when something is missing.
 *
 * @module
 */

import type { HistoryEnd } from "../protocol/history.ts";
import { historyEndNotice, type HistoryMessage } from "./history_tracker.ts";
import { inertText } from "./terminal_text.ts";

const decoder = new TextDecoder();

function twoDigits(value: number): string {
  return String(value).padStart(2, "0");
}

/**
 * A time as `YYYY-MM-DD HH:MM` in the local time zone.
 *
 * @param time Milliseconds since the epoch.
 * @returns The text.
 */
export function historyTime(time: number): string {
  const date = new Date(time);
  return `${date.getFullYear()}-${twoDigits(date.getMonth() + 1)}-${
    twoDigits(date.getDate())
  } ${twoDigits(date.getHours())}:${twoDigits(date.getMinutes())}`;
}

/**
 * One stored message as a line: `earlier <time> <sender> >>> <text>`, the
 * sender being its nickname then, or its id.
 *
 * @param message The message.
 * @returns The line, every untrusted part inert.
 *
 * @example Usage
 * ```ts
 * import { historyLine } from "./history_view.ts";
 * const entry = { room: "lobby", id: 1, sender: 7, nick: "ann", time: 0 };
 * const body = new TextEncoder().encode("hi\x1b[2J");
 * console.log(historyLine({ entry, body }).endsWith("ann >>> hi␛[2J")); // true
 * ```
 */
export function historyLine(message: HistoryMessage): string {
  const { entry, body } = message;
  const sender = inertText(entry.nick ?? String(entry.sender));
  return `earlier ${historyTime(entry.time)} ${sender} >>> ${
    inertText(decoder.decode(body))
  }`;
}

/**
 * The end of a reply as a line, or `null` when it was complete.
 *
 * @param end The reply's summary.
 * @returns The line, or `null`.
 */
export function historyEndLine(end: HistoryEnd): string | null {
  const notice = historyEndNotice(end);
  return notice === null ? null : `* earlier: ${notice}`;
}
