/**
 * The frame-rate policy around each client's {@linkcode FrameBudget}: when a
 * budget starts, and what a frame dropped over it costs. A dropped frame is
 * counted; the client hears of it at most once a second (ERROR with the
 * frame's tag as sender id, naming the limit); far more dropped frames than
 * its buckets let through at once within that second are a flood, which
 * costs the connection.
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import { DisconnectReason } from "./events.ts";
import type { Farewell } from "./farewell.ts";
import {
  FLOOD_FACTOR,
  FrameBudget,
  MIN_FLOOD_FRAMES,
  Verdict,
  type VerdictValue,
} from "./frame_budget.ts";
import type { HubOptions } from "./settings.ts";
import type { Metrics } from "./metrics.ts";
import { TokenBucket } from "./token_bucket.ts";

/** Settings of {@linkcode RateLimits}: the hub's own. */
export type RateLimitOptions = Pick<
  HubOptions,
  | "maxMessagesPerSecond"
  | "messageBurst"
  | "maxAddressMessagesPerSecond"
  | "maxControlFramesPerSecond"
>;

/** How long after telling a client of dropped frames it is told again, in ms. */
const NOTICE_PERIOD_MS = 1000;

/**
 * The rate-limit policy. Budgets live on the clients (`Connection.rateLimit`);
 * this keeps the settings and the notices.
 */
export class RateLimits {
  #options: RateLimitOptions;
  #metrics: Metrics;
  /** Frames over budget within a notice period that make a flood. */
  #floodFrames: number;
  #flood: Farewell;
  #notices: Record<VerdictValue, string>;

  /**
   * @param options The rates.
   * @param metrics Where dropped frames are counted.
   */
  constructor(options: RateLimitOptions, metrics: Metrics) {
    this.#options = options;
    this.#metrics = metrics;
    this.#floodFrames = Math.max(
      MIN_FLOOD_FRAMES,
      FLOOD_FACTOR *
        (options.messageBurst + options.maxControlFramesPerSecond),
    );
    this.#flood = {
      reason: DisconnectReason.RateLimitFlood,
      detail:
        `over ${this.#floodFrames} frames beyond the rate limits within a second`,
      error: "rate limit flood",
      warn: true,
    };
    const messages =
      `rate limit of ${options.maxMessagesPerSecond} messages per second exceeded; messages dropped`;
    this.#notices = {
      [Verdict.Allowed]: messages,
      [Verdict.ClientMessages]: messages,
      [Verdict.AddressMessages]:
        `rate limit of ${options.maxAddressMessagesPerSecond} messages per second from your address exceeded; messages dropped`,
      [Verdict.ControlFrames]:
        `rate limit of ${options.maxControlFramesPerSecond} control frames per second exceeded; frames dropped`,
    };
  }

  /**
   * The client's budget, started when it first sends something (full
   * buckets, as they would be after any quiet spell), so that clients that
   * only listen cost nothing for it. Its messages also draw on the bucket
   * its address shares (`Connection.address`).
   *
   * @param client The client.
   * @param now The hub's time in ms.
   * @returns Its budget, or `null` when frame rates are not limited.
   */
  budget(client: Connection, now: number): FrameBudget | null {
    if (client.rateLimit !== null) return client.rateLimit;
    const options = this.#options;
    if (options.maxMessagesPerSecond <= 0) return null;
    const control = options.maxControlFramesPerSecond;
    client.rateLimit = new FrameBudget(
      new TokenBucket(options.maxMessagesPerSecond, options.messageBurst, now),
      client.address?.messages ?? null,
      control > 0 ? new TokenBucket(control, control, now) : null,
    );
    return client.rateLimit;
  }

  /**
   * A frame of `client` was dropped over its budget: count it, and say what
   * the client is owed.
   *
   * @param client The client.
   * @param verdict Which budget the frame was over.
   * @param now The hub's time in ms.
   * @returns The notice to refuse the frame with (once per notice period),
   * the {@linkcode Farewell} of a flood, or `null` for nothing more.
   */
  dropped(
    client: Connection,
    verdict: VerdictValue,
    now: number,
  ): string | Farewell | null {
    client.rateLimitedFrames++;
    this.#metrics.rateLimitedFrames++;
    if (++client.framesOverSinceNotice > this.#floodFrames) return this.#flood;
    if (now - client.lastRateNoticeAt < NOTICE_PERIOD_MS) return null;
    client.lastRateNoticeAt = now;
    client.framesOverSinceNotice = 0;
    return this.#notices[verdict];
  }
}
