/**
 * How long the terminal client waits before each reconnection attempt.
 *
 * @module
 */

/** Settings of {@linkcode ReconnectBackoff}. */
export interface BackoffOptions {
  /** The ceiling of the first wait, in ms. Default 500. */
  initialMs?: number;
  /** The ceiling never grows past this, in ms. Default 30,000. */
  maxMs?: number;
  /** A number in [0, 1), like `Math.random` (the default); tests fix it. */
  random?: () => number;
  /**
   * A connection that lasted this long (ms) starts the waits over; a
   * shorter one (a server that greets and drops at once) does not, so such
   * a server is not hammered. Default 10,000.
   */
  stableMs?: number;
}

/**
 * Exponential backoff with "equal jitter": the n-th wait (from 0) is
 * drawn uniformly from [c/2, c), where c = min(maxMs, initialMs × 2^n). The
 * random half keeps the clients of a restarted server from coming back in
 * one wave; the fixed half keeps a client from hammering it. Time comes in
 * as arguments (`now` in ms), so tests need no clock.
 *
 * @example Usage
 * ```ts
 * import { ReconnectBackoff } from "./reconnect_backoff.ts";
 * const backoff = new ReconnectBackoff({ random: () => 0 });
 * console.log(backoff.nextDelayMs(0), backoff.nextDelayMs(0)); // 250 500
 * backoff.connected(1_000); // greeted by the server at t = 1 s
 * console.log(backoff.nextDelayMs(60_000)); // 250: it lasted, start over
 * ```
 */
export class ReconnectBackoff {
  #initialMs: number;
  #maxMs: number;
  #random: () => number;
  #stableMs: number;
  #attempts = 0;
  #connectedAt: number | null = null;

  /** @param options Ceilings and the random source. */
  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 500;
    this.#maxMs = options.maxMs ?? 30_000;
    this.#random = options.random ?? Math.random;
    this.#stableMs = options.stableMs ?? 10_000;
  }

  /** How many waits have been handed out since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }

  /**
   * The wait before the next attempt, and count it.
   *
   * @param now The time the connection was lost or the attempt failed, ms.
   * @returns Milliseconds to wait.
   */
  nextDelayMs(now: number): number {
    if (
      this.#connectedAt !== null && now - this.#connectedAt >= this.#stableMs
    ) {
      this.#attempts = 0;
    }
    this.#connectedAt = null;
    // Past 2^30 the ceiling is long since maxMs; capping the exponent keeps
    // the arithmetic finite however many attempts fail.
    const growth = 2 ** Math.min(this.#attempts, 30);
    const ceiling = Math.min(this.#maxMs, this.#initialMs * growth);
    this.#attempts++;
    return ceiling / 2 + this.#random() * (ceiling / 2);
  }

  /**
   * The server greeted us: if the connection lasts `stableMs`, the next
   * wait is the shortest again.
   *
   * @param now The time of the greeting, ms.
   */
  connected(now: number): void {
    this.#connectedAt = now;
  }
}
