/**
 * The client's side of history, shared by the terminal client and the
 * browser page (no Deno APIs): which HISTORY request to send after each
 * join confirmation, the last seen message id it needs for that, and the
 * pairing of the HISTORY and HISTORY_TEXT frames of a reply. See
 * docs/PROTOCOL.md, "History".
 *
 * @module
 */

import { Tag } from "../protocol/constants.ts";
import { encodeFrame, type Frame } from "../protocol/frame.ts";
import {
  decodeHistoryEnd,
  decodeHistoryEntry,
  encodeHistoryRequest,
  type HistoryEnd,
  type HistoryEntry,
  type HistoryRequest,
} from "../protocol/history.ts";

/** How many earlier messages a client asks for on its first join of a room. */
export const HISTORY_ON_JOIN = 20;

/** The ERROR body a server without history answers HISTORY with. */
export const HISTORY_OFF = "history is off";

/** One stored message of a reply: its metadata and its body bytes. */
export interface HistoryMessage {
  /** The metadata from the HISTORY frame. */
  entry: HistoryEntry;
  /** The stored CHAT body, from the HISTORY_TEXT frame. */
  body: Uint8Array;
}

/**
 * Tracks the last seen message id of the current room and decides what to
 * ask for. The last seen id is the own join confirmation's `last_id` plus
 * the CHATs received in the room since (every member gets every message of
 * its room, in order). After a reconnection into the same room the request
 * is `{after: lastSeen, until: newLastId}`, exactly the missed messages;
 * on a first join of a room it is the last {@linkcode HISTORY_ON_JOIN}
 * messages up to the join's `last_id`, so nothing live is shown twice.
 *
 * @example Usage
 * ```ts
 * import { HistoryTracker } from "./history_tracker.ts";
 * const history = new HistoryTracker();
 * console.log(history.onOwnJoin("lobby", 41)); // { last: 20, until: 41 }
 * history.onChat();
 * history.onDisconnect();
 * console.log(history.onOwnJoin("lobby", 45)); // { after: 42, until: 45 }
 * ```
 */
export class HistoryTracker {
  #room: string | null = null;
  /** `null` when unknown (a server without history sends no `last_id`). */
  #lastSeen: number | null = null;
  /** Whether this connection has confirmed a join (so CHATs count). */
  #joined = false;
  #off = false;
  /** `history is off` is said once, even across reconnections (the next server may keep history). */
  #offShown = false;
  #pending: HistoryEntry | null = null;

  /** The last seen message id of the current room, `null` when unknown. */
  get lastSeen(): number | null {
    return this.#lastSeen;
  }

  /** Whether this connection's server said it keeps no history (then nothing is asked). */
  get off(): boolean {
    return this.#off;
  }

  /**
   * Our own join confirmation arrived.
   *
   * @param room The room joined.
   * @param lastId The confirmation's `last_id` (anything but a
   * non-negative integer: the server has no history).
   * @returns The request to send, or `null` when there is nothing to ask.
   */
  onOwnJoin(room: string, lastId: unknown): HistoryRequest | null {
    const sameRoom = room === this.#room;
    const previous = this.#lastSeen;
    const repeat = sameRoom && this.#joined;
    this.#room = room;
    this.#joined = true;
    this.#pending = null;
    if (typeof lastId !== "number" || !Number.isSafeInteger(lastId)) {
      this.#lastSeen = null;
      return null;
    }
    if (lastId < 0) {
      this.#lastSeen = null;
      return null;
    }
    this.#lastSeen = lastId;
    if (this.#off || repeat || lastId === 0) return null;
    if (sameRoom && previous !== null && previous <= lastId) {
      // Back in the room after a reconnection: exactly the gap, if any.
      return previous === lastId ? null : { after: previous, until: lastId };
    }
    return { last: HISTORY_ON_JOIN, until: lastId };
  }

  /** A live CHAT arrived: it has the next id of the room. */
  onChat(): void {
    if (this.#joined && this.#lastSeen !== null) this.#lastSeen++;
  }

  /** The connection is gone: keep the room and the last seen id for the next one. */
  onDisconnect(): void {
    this.#joined = false;
    this.#pending = null;
    this.#off = false;
  }

  /**
   * The request for `/history N`: the last `count` messages up to the last
   * one seen (so nothing shown live is repeated).
   *
   * @param count How many.
   * @returns The request.
   */
  manual(count: number): HistoryRequest {
    return this.#lastSeen === null
      ? { last: count }
      : { last: count, until: this.#lastSeen };
  }

  /**
   * A HISTORY ERROR arrived (`sender_id` 12).
   *
   * @param reason The ERROR's body.
   * @returns Whether to show it: a refusal always, `history is off` once.
   */
  onRefusal(reason: string): boolean {
    if (reason !== HISTORY_OFF) return true;
    this.#off = true;
    if (this.#offShown) return false;
    this.#offShown = true;
    return true;
  }

  /**
   * A HISTORY frame (metadata) arrived; its HISTORY_TEXT comes next.
   *
   * @param frame The frame.
   */
  onEntry(frame: Frame): void {
    this.#pending = decodeHistoryEntry(frame.body);
  }

  /**
   * A HISTORY_TEXT frame arrived.
   *
   * @param frame The frame.
   * @returns The whole message, or `null` when no matching metadata came
   * just before it (malformed replies are skipped).
   */
  onText(frame: Frame): HistoryMessage | null {
    const entry = this.#pending;
    this.#pending = null;
    if (entry === null || entry.sender !== frame.senderId) return null;
    return { entry, body: frame.body };
  }

  /**
   * A HISTORY_END frame arrived.
   *
   * @param frame The frame.
   * @returns The reply's summary, or `null` when malformed.
   */
  onEnd(frame: Frame): HistoryEnd | null {
    this.#pending = null;
    return decodeHistoryEnd(frame.body);
  }
}

/**
 * The HISTORY frame of a request.
 *
 * @param request The request.
 * @returns The frame's bytes.
 */
export function historyRequestFrame(request: HistoryRequest): Uint8Array {
  return encodeFrame(Tag.HISTORY, 0, encodeHistoryRequest(request));
}

/**
 * What the end of a reply says when something is missing, or `null` when
 * the reply was complete and not cut short.
 *
 * @param end The reply's summary.
 * @param moreHint What to say when the reply cap cut it short.
 * @returns A short sentence, or `null`.
 */
export function historyEndNotice(
  end: HistoryEnd,
  moreHint = "more available: /history",
): string | null {
  const parts: string[] = [];
  if (end.missing > 0) {
    parts.push(
      `${end.missing} earlier message${
        end.missing === 1 ? " was" : "s were"
      } pruned`,
    );
  }
  if (end.more) parts.push(moreHint);
  return parts.length === 0 ? null : parts.join("; ");
}
