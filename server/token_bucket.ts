/**
 * A token bucket: `rate` tokens a second, holding at most `burst`. Each
 * message takes one token; without one, the message is over the limit.
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
   * @returns `true` when a token was taken.
   */
  take(now: number): boolean {
    let tokens = this.#tokens;
    if (now > this.#updatedAt) {
      tokens = Math.min(
        this.#burst,
        tokens + (now - this.#updatedAt) * this.#perMillisecond,
      );
      this.#updatedAt = now;
    }
    if (tokens < 1) {
      this.#tokens = tokens;
      return false;
    }
    this.#tokens = tokens - 1;
    return true;
  }
}
