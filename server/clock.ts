/**
 * The server's one source of time. The hub, its writers, the readers' frame
 * deadline and the stall heartbeat all read and wait through a `Clock`, so
 * deadlines compare times taken on one scale, and a test can run every
 * timer on a fake clock it advances by hand instead of sleeping.
 *
 * @module
 */

import { PreciseTimer } from "./precise_timer.ts";

/** A one-shot timer that can be scheduled again once it has fired. */
export interface ClockTimer {
  /** True while a delay is running. */
  readonly scheduled: boolean;
  /**
   * Call the timer's callback after `delayMs`, unless a delay is already
   * running (then nothing changes) or the timer is closed.
   *
   * @param delayMs The delay in milliseconds (fractions allowed).
   */
  schedule(delayMs: number): void;
  /** Cancel any delay; the timer never fires again. */
  close(): void;
}

/** Time and timers, on one monotonic scale in milliseconds. */
export interface Clock {
  /**
   * The current time in milliseconds (fractions allowed). Monotonic: only
   * differences between two readings mean anything.
   */
  now(): number;
  /**
   * Call `callback` every `periodMs` until the returned function is called.
   *
   * @param periodMs The period in milliseconds.
   * @param callback Called on the event loop at each period.
   * @returns A function that stops the calls.
   */
  every(periodMs: number, callback: () => void): () => void;
  /**
   * A one-shot timer for `callback`.
   *
   * @param callback Called on the event loop each time a delay has passed.
   * @param precise Whether the delays are fractions of a millisecond that
   * must be kept (`setTimeout` fires a millisecond or two late): costs a
   * thread on the system clock.
   * @returns A timer, not scheduled yet.
   */
  timer(callback: () => void, precise?: boolean): ClockTimer;
}

/** A {@linkcode ClockTimer} on `setTimeout`. */
class CoarseTimer implements ClockTimer {
  #callback: () => void;
  #handle: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(callback: () => void) {
    this.#callback = callback;
  }

  get scheduled(): boolean {
    return this.#handle !== undefined;
  }

  schedule(delayMs: number): void {
    if (this.#handle !== undefined || this.#closed) return;
    this.#handle = setTimeout(() => {
      this.#handle = undefined;
      this.#callback();
    }, delayMs);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#handle);
    this.#handle = undefined;
  }
}

/**
 * The real clock: `performance.now()`, `setInterval`, `setTimeout`, and a
 * {@linkcode PreciseTimer} for precise delays.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  every(periodMs, callback) {
    const handle = setInterval(callback, periodMs);
    return () => clearInterval(handle);
  },
  timer(callback, precise = false) {
    return precise ? new PreciseTimer(callback) : new CoarseTimer(callback);
  },
};
