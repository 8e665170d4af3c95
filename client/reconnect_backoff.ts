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
}

/**
 * Exponential backoff with "equal jitter": the n-th wait (from 0) is
 * drawn uniformly from [c/2, c), where c = min(maxMs, initialMs × 2^n). The
 * random half keeps the clients of a restarted server from coming back in
 * one wave; the fixed half keeps a client from hammering it.
 *
 * @example Usage
 * ```ts
 * import { ReconnectBackoff } from "./reconnect_backoff.ts";
 * const backoff = new ReconnectBackoff({ random: () => 0 });
 * console.log(backoff.nextDelayMs(), backoff.nextDelayMs()); // 250 500
 * backoff.reset(); // after a connection that worked
 * ```
 */
export class ReconnectBackoff {
  #initialMs: number;
  #maxMs: number;
  #random: () => number;
  #attempts = 0;

  /** @param options Ceilings and the random source. */
  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 500;
    this.#maxMs = options.maxMs ?? 30_000;
    this.#random = options.random ?? Math.random;
  }

  /** How many waits have been handed out since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }

  /**
   * The wait before the next attempt, and count it.
   *
   * @returns Milliseconds to wait.
   */
  nextDelayMs(): number {
    // Past 2^30 the ceiling is long since maxMs; capping the exponent keeps
    // the arithmetic finite however many attempts fail.
    const growth = 2 ** Math.min(this.#attempts, 30);
    const ceiling = Math.min(this.#maxMs, this.#initialMs * growth);
    this.#attempts++;
    return ceiling / 2 + this.#random() * (ceiling / 2);
  }

  /** A connection worked: start again from the shortest wait. */
  reset(): void {
    this.#attempts = 0;
  }
}
