import { Tag } from "../protocol/mod.ts";
import type { StallHistory, TokenBucket } from "./token_bucket.ts";

/** What {@linkcode FrameBudget.take} decided about one frame. */
export const Verdict = {
  /** Within every budget. */
  Allowed: 0,
  /** Over the client's own message rate (`--max-msgs-per-sec`). */
  ClientMessages: 1,
  /** Over the message rate its source address shares (`--max-address-msgs-per-sec`). */
  AddressMessages: 2,
  /** Over the client's control-frame rate (`--max-control-frames-per-sec`). */
  ControlFrames: 3,
} as const;

/** One of the values of {@linkcode Verdict}. */
export type VerdictValue = typeof Verdict[keyof typeof Verdict];

/**
 * A client that sends more than this many frames over its budget within
 * one notice period (about a second), per frame its buckets let through at
 * once, is flooding: the connection is dropped (reason `rate_limit_flood`).
 * Dropping excess frames is cheap, but reading and cutting them is not free,
 * and a socket that always has data ready can starve others' reads.
 */
export const FLOOD_FACTOR = 10;

/** Least number of frames over budget within a notice period that counts as a flood. */
export const MIN_FLOOD_FRAMES = 10_000;

/**
 * Whether a frame of this tag is a message: something that makes the
 * server work for others (a relay to a room, presence, a long list). The
 * rest (PING, PONG, CLOSE, AUTH, tags only servers send, unknown tags) are
 * control frames.
 *
 * @param tag The frame's tag.
 * @returns `true` for CHAT, JOIN, NICK, ROOMS, WHO and HISTORY.
 */
export function isMessageTag(tag: number): boolean {
  return tag === Tag.CHAT || tag === Tag.JOIN || tag === Tag.NICK ||
    tag === Tag.ROOMS || tag === Tag.WHO || tag === Tag.HISTORY;
}

/**
 * Everything one client may send, as token buckets: every frame counts
 * against exactly one budget. Messages (see {@linkcode isMessageTag}) take a
 * token from the client's message bucket and one from the bucket its source
 * address shares with its other connections, so reconnecting brings no
 * fresh allowance; control frames take one from the client's own control
 * bucket, so a PING flood is bounded too, while a client that used up its
 * messages can still be pinged and answered.
 *
 * @example Usage
 * ```ts
 * import { Tag } from "../protocol/mod.ts";
 * import { FrameBudget, Verdict } from "./frame_budget.ts";
 * import { TokenBucket } from "./token_bucket.ts";
 * const budget = new FrameBudget(
 *   new TokenBucket(10, 1, 0),
 *   null,
 *   new TokenBucket(10, 1, 0),
 * );
 * console.log(budget.take(Tag.CHAT, 0) === Verdict.Allowed); // true
 * console.log(budget.take(Tag.CHAT, 0) === Verdict.ClientMessages); // true
 * console.log(budget.take(Tag.PING, 0) === Verdict.Allowed); // true
 * ```
 */
export class FrameBudget {
  #messages: TokenBucket;
  #address: TokenBucket | null;
  #control: TokenBucket | null;

  /**
   * @param messages The client's message bucket.
   * @param address The message bucket of its source address, `null` for none.
   * @param control The client's control-frame bucket, `null` for none.
   */
  constructor(
    messages: TokenBucket,
    address: TokenBucket | null,
    control: TokenBucket | null,
  ) {
    this.#messages = messages;
    this.#address = address;
    this.#control = control;
  }

  /**
   * Charge one frame to its budget.
   *
   * @param tag The frame's tag.
   * @param now The current time in ms (the buckets' clock).
   * @param stalls The server's latest stall (see {@linkcode TokenBucket}).
   * @returns {@linkcode Verdict.Allowed}, or which budget it is over (a
   * frame over one budget takes nothing from another).
   */
  take(tag: number, now: number, stalls?: StallHistory): VerdictValue {
    if (!isMessageTag(tag)) {
      return this.#control === null || this.#control.take(now, stalls)
        ? Verdict.Allowed
        : Verdict.ControlFrames;
    }
    if (!this.#messages.take(now, stalls)) return Verdict.ClientMessages;
    if (this.#address !== null && !this.#address.take(now, stalls)) {
      this.#messages.refund();
      return Verdict.AddressMessages;
    }
    return Verdict.Allowed;
  }
}
