/**
 * What a {@linkcode TokenBucket} needs to know about server stalls: the
 * latest one (`StallClock` in `stall_clock.ts` provides exactly this).
 */
export interface StallHistory {
  /** Length of the latest stall in ms (0 before any). */
  readonly lastStallMs: number;
  /** When it ended, on the bucket's clock (-Infinity before any). */
  readonly lastStallEndedAt: number;
}

/**
 * A token bucket: `rate` tokens a second, holding at most `burst`. Each
 * message takes one token; without one, the message is over the limit.
 *
 * **Server stalls.** While the server cannot read (stopped, event loop
 * blocked), what a client sends queues in the kernel and arrives at once
 * afterwards. A plain bucket would cap its refill over the stall at `burst`
 * and drop the backlog of a client that kept to its rate. Given the
 * {@linkcode StallHistory}, the bucket instead credits the stalled time in
 * full: the tokens a continuously running bucket could have granted over
 * it, above `burst` if need be. Those extra tokens last only as long as the
 * stall did (time to read the backlog), so, counted from before the stall,
 * a client never gets more than a server that kept running would have
 * granted: `burst + rate × elapsed`.
 *
 * @example Usage
 * ```ts
 * import { TokenBucket } from "./token_bucket.ts";
 * const bucket = new TokenBucket(10, 2, 0);
 * console.log(bucket.take(0), bucket.take(0), bucket.take(0)); // true true false
 * console.log(bucket.take(100)); // true: 100 ms refilled one token
 * ```
 */
export class TokenBucket {
  #perMillisecond: number;
  #burst: number;
  #tokens: number;
  #updatedAt: number;
  /** Tokens above `burst` (a stall's credit) count until then. */
  #excessUntil = -Infinity;

  /**
   * @param rate Tokens added per second.
   * @param burst Most tokens held; the bucket starts full.
   * @param now The current time in milliseconds (any monotonic clock).
   * @throws {RangeError} When rate or burst is not positive.
   */
  constructor(rate: number, burst: number, now: number) {
    if (!(rate > 0) || !(burst > 0)) {
      throw new RangeError("Rate and burst must be positive");
    }
    this.#perMillisecond = rate / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#updatedAt = now;
  }

  /**
   * Take one token if there is one.
   *
   * @param now The current time in milliseconds, same clock as the constructor's.
   * @param stalls The server's latest stall, if it tracks them.
   * @returns `true` when a token was taken.
   */
  take(now: number, stalls?: StallHistory): boolean {
    if (now > this.#updatedAt) this.#refill(now, stalls);
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  /** Give back the token of the last successful {@linkcode take}. */
  refund(): void {
    this.#tokens++;
  }

  /**
   * Whether the bucket would be full at `now` (and so no different from a
   * new one).
   *
   * @param now The current time in milliseconds.
   * @returns `true` when it holds `burst` tokens or more.
   */
  isFull(now: number): boolean {
    const since = Math.max(0, now - this.#updatedAt);
    return this.#tokens + since * this.#perMillisecond >= this.#burst;
  }

  #refill(now: number, stalls: StallHistory | undefined): void {
    let from = this.#updatedAt;
    if (stalls !== undefined && stalls.lastStallEndedAt > from) {
      // The server was away for part of the time since the last look: run
      // normally until the stall began, then credit the stall uncapped.
      const end = Math.min(stalls.lastStallEndedAt, now);
      const start = Math.max(from, end - stalls.lastStallMs);
      this.#refillRunning(start - from, start);
      this.#tokens += (end - start) * this.#perMillisecond;
      this.#excessUntil = end + (end - start);
      from = end;
    }
    this.#refillRunning(now - from, now);
    this.#updatedAt = now;
  }

  /** Refill over `ms` of normal running, ending at `at`: capped at `burst`. */
  #refillRunning(ms: number, at: number): void {
    if (this.#tokens < this.#burst) {
      this.#tokens = Math.min(
        this.#burst,
        this.#tokens + ms * this.#perMillisecond,
      );
    } else if (at > this.#excessUntil) {
      this.#tokens = this.#burst;
    }
  }
}
