/**
 * The JSON bodies of history: the client's HISTORY request, the HISTORY
 * frame that describes one stored message (its HISTORY_TEXT frame carries
 * the stored body bytes as they are), and the HISTORY_END frame that closes
 * a reply. See docs/PROTOCOL.md, "History".
 *
 * Decoders never throw: a body that is not what it should be gives a reason
 * (the request, which the server refuses with ERROR) or `null` (the server's
 * frames, which a client ignores like an unknown frame).
 *
 * @module
 */

/**
 * A client's history request, about its current room: the last `last`
 * messages, or every message with an id above `after`; either way only ids
 * up to `until` when it is given.
 */
export type HistoryRequest =
  | { last: number; until?: number }
  | { after: number; until?: number };

/** The HISTORY frame's body: one stored message's metadata. */
export interface HistoryEntry {
  /** The room it was said in. */
  room: string;
  /** Its id in that room (ids start at 1 and rise by one). */
  id: number;
  /** The sender's client id (also in the frame's sender id field). */
  sender: number;
  /** The sender's nickname then, or `null` when it had none. */
  nick: string | null;
  /** When the server relayed it, in milliseconds since the epoch (server time). */
  time: number;
}

/** The HISTORY_END frame's body: what a reply held and what it could not. */
export interface HistoryEnd {
  /** The room the reply is about. */
  room: string;
  /** How many messages the reply held. */
  count: number;
  /** The first id sent, or `null` when none. */
  first: number | null;
  /** The last id sent, or `null` when none. */
  last: number | null;
  /** Whether nothing of the asked range was pruned (`missing === 0`). */
  complete: boolean;
  /** How many ids of the asked range were already pruned. */
  missing: number;
  /** Whether the reply cap cut the range short (ask again after `last`). */
  more: boolean;
}

/** What {@linkcode parseHistoryRequest} found: the request, or why it is refused. */
export type HistoryRequestParse =
  | { request: HistoryRequest }
  | { problem: string };

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) &&
    value >= 0;
}

/** Why a request field is not a count, in a few words, or `null`. */
function countProblem(name: string, value: unknown): string | null {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    return `history "${name}" is not an integer`;
  }
  if (value < 0) return `history "${name}" is negative`;
  if (!Number.isSafeInteger(value)) return `history "${name}" is too large`;
  return null;
}

function parseJsonObject(body: Uint8Array): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(strictDecoder.decode(body));
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return null;
    }
    return value as Record<string, unknown>;
  } catch {
    return null;
  }
}

/**
 * Parse a HISTORY request body as the server receives it. Never throws:
 * anything but a JSON object with exactly one of `last` and `after` (and
 * maybe `until`), each a non-negative safe integer, gives the reason to
 * send back in an ERROR. Unknown fields are ignored, for later additions.
 *
 * @param body The frame's body.
 * @returns The request, or the problem with it.
 *
 * @example Usage
 * ```ts
 * import { parseHistoryRequest } from "./history.ts";
 * const body = new TextEncoder().encode('{"after":40,"until":45}');
 * console.log(parseHistoryRequest(body)); // { request: { after: 40, until: 45 } }
 * ```
 */
export function parseHistoryRequest(body: Uint8Array): HistoryRequestParse {
  const value = parseJsonObject(body);
  if (value === null) {
    return { problem: "history request is not a JSON object" };
  }
  const hasLast = value.last !== undefined;
  const hasAfter = value.after !== undefined;
  if (hasLast === hasAfter) {
    return {
      problem: 'history request needs exactly one of "last" and "after"',
    };
  }
  const name = hasLast ? "last" : "after";
  const problem = countProblem(name, value[name]) ??
    (value.until === undefined ? null : countProblem("until", value.until));
  if (problem !== null) return { problem };
  const count = value[name] as number;
  const request: HistoryRequest = hasLast ? { last: count } : { after: count };
  if (value.until !== undefined) request.until = value.until as number;
  return { request };
}

/**
 * Encode a HISTORY request body (client side).
 *
 * @param request The request.
 * @returns The body's bytes.
 */
export function encodeHistoryRequest(request: HistoryRequest): Uint8Array {
  const value = "last" in request
    ? { last: request.last, until: request.until }
    : { after: request.after, until: request.until };
  return encoder.encode(JSON.stringify(value));
}

/**
 * Encode a HISTORY frame's body (server side).
 *
 * @param entry The stored message's metadata.
 * @returns The body's bytes.
 */
export function encodeHistoryEntry(entry: HistoryEntry): Uint8Array {
  return encoder.encode(JSON.stringify({
    room: entry.room,
    id: entry.id,
    sender: entry.sender,
    nick: entry.nick,
    time: entry.time,
  }));
}

/**
 * Decode a HISTORY frame's body (client side). Never throws.
 *
 * @param body The frame's body.
 * @returns The metadata, or `null` when the body is not a valid entry.
 */
export function decodeHistoryEntry(body: Uint8Array): HistoryEntry | null {
  const value = parseJsonObject(body);
  if (value === null) return null;
  const { room, id, sender, nick, time } = value;
  if (typeof room !== "string" || !isCount(id) || !isCount(sender)) {
    return null;
  }
  if (nick !== null && typeof nick !== "string") return null;
  if (!isCount(time)) return null;
  return { room, id, sender, nick, time };
}

/**
 * Encode a HISTORY_END frame's body (server side).
 *
 * @param end The reply's summary.
 * @returns The body's bytes.
 */
export function encodeHistoryEnd(end: HistoryEnd): Uint8Array {
  return encoder.encode(JSON.stringify({
    room: end.room,
    count: end.count,
    first: end.first,
    last: end.last,
    complete: end.complete,
    missing: end.missing,
    more: end.more,
  }));
}

/**
 * Decode a HISTORY_END frame's body (client side). Never throws.
 *
 * @param body The frame's body.
 * @returns The summary, or `null` when the body is not a valid one.
 */
export function decodeHistoryEnd(body: Uint8Array): HistoryEnd | null {
  const value = parseJsonObject(body);
  if (value === null) return null;
  const { room, count, first, last, complete, missing, more } = value;
  if (typeof room !== "string" || !isCount(count) || !isCount(missing)) {
    return null;
  }
  if (first !== null && !isCount(first)) return null;
  if (last !== null && !isCount(last)) return null;
  if (typeof complete !== "boolean" || typeof more !== "boolean") return null;
  return { room, count, first, last, complete, missing, more };
}
