/**
 * A {@linkcode Clock} for tests: time stands still until the test advances
 * it, and then every timer that falls due runs, in order, at its own time.
 *
 * @module
 */

import type { Clock, ClockTimer } from "../server/clock.ts";

interface Pending {
  due: number;
  /** Order of scheduling, to break ties between timers due at once. */
  seq: number;
  run: () => void;
  cancelled: boolean;
}

/**
 * A clock whose time moves only by {@linkcode FakeClock.advance}.
 *
 * @example Usage
 * ```ts
 * import { FakeClock } from "./_fake_clock.ts";
 * const clock = new FakeClock();
 * const stop = clock.every(100, () => console.log("tick at", clock.now()));
 * clock.advance(250); // tick at 100, tick at 200
 * stop();
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #pending: Pending[] = [];

  /** @param start The time the clock shows at first, in ms. */
  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  every(periodMs: number, callback: () => void): () => void {
    const period = Math.max(periodMs, 1);
    let entry: Pending;
    const arm = (from: number) => {
      entry = this.#add(from + period, () => {
        arm(entry.due);
        callback();
      });
    };
    arm(this.#now);
    return () => {
      entry.cancelled = true;
    };
  }

  timer(callback: () => void): ClockTimer {
    let entry: Pending | null = null;
    let closed = false;
    const schedule = (delayMs: number) => {
      if (entry !== null || closed) return;
      entry = this.#add(this.#now + Math.max(0, delayMs), () => {
        entry = null;
        callback();
      });
    };
    return {
      get scheduled() {
        return entry !== null;
      },
      schedule,
      close() {
        closed = true;
        if (entry !== null) entry.cancelled = true;
        entry = null;
      },
    };
  }

  /** Timers scheduled and not yet run or cancelled. */
  get pendingTimers(): number {
    return this.#pending.filter((entry) => !entry.cancelled).length;
  }

  /**
   * Move time forward by `ms`, running every timer that falls due on the
   * way, earliest first (ties in the order they were scheduled), each with
   * the clock showing its due time. Timers they schedule run too if they
   * fall due within the same advance.
   *
   * @param ms How far to move, in ms (0 runs what is due now).
   */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      const next = this.#takeNext(until);
      if (next === null) break;
      this.#now = Math.max(this.#now, next.due);
      next.run();
    }
    this.#now = until;
  }

  #add(due: number, run: () => void): Pending {
    const entry = { due, seq: this.#seq++, run, cancelled: false };
    this.#pending.push(entry);
    return entry;
  }

  #takeNext(until: number): Pending | null {
    let best = -1;
    const pending = this.#pending;
    for (let i = 0; i < pending.length; i++) {
      const entry = pending[i];
      if (entry.cancelled || entry.due > until) continue;
      if (
        best < 0 || entry.due < pending[best].due ||
        (entry.due === pending[best].due && entry.seq < pending[best].seq)
      ) best = i;
    }
    this.#pending = pending.filter((entry, i) =>
      i !== best && !entry.cancelled
    );
    return best < 0 ? null : pending[best];
  }
}
