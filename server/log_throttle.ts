/** Options of {@linkcode LogThrottle}. */
export interface LogThrottleOptions {
  /** Lines of one kind admitted per window. Default 5. */
  perWindow?: number;
  /** Window length in ms. Default 1000. */
  windowMs?: number;
  /**
   * Most kinds tracked at once; past it, new kinds share one window per
   * message, so many addresses cannot grow the table. Default 1024.
   */
  maxKinds?: number;
}

/** A kind of line whose window ended with lines suppressed. */
export interface SuppressedLines {
  /** The kind, as given to {@linkcode LogThrottle.admit}. */
  kind: string;
  /** Lines of it suppressed in the window. */
  suppressed: number;
}

interface Window {
  start: number;
  count: number;
  suppressed: number;
}

const OVERFLOW = "\0other";

/**
 * Rate limit for log lines a client can cause: at most `perWindow` lines of
 * one kind (for example one warning from one address) per window, the rest
 * suppressed and counted. When a window with suppressed lines ends, the count
 * is handed back once (by {@linkcode admit} or {@linkcode sweep}) for a
 * summary line. Time is passed in, so tests drive it.
 *
 * @example Usage
 * ```ts
 * import { LogThrottle } from "./log_throttle.ts";
 * const throttle = new LogThrottle({ perWindow: 1, windowMs: 1000 });
 * console.log(throttle.admit("warn 10.0.0.1", 0)); // true
 * console.log(throttle.admit("warn 10.0.0.1", 10)); // false
 * console.log(throttle.sweep(1000)); // [{ kind: "warn 10.0.0.1", suppressed: 1 }]
 * ```
 */
export class LogThrottle {
  #perWindow: number;
  #windowMs: number;
  #maxKinds: number;
  #windows = new Map<string, Window>();
  #suppressed = 0;
  /** No window ends before this; a sweep earlier finds nothing. */
  #earliestEnd = Infinity;

  /** @param options Rate and table size. */
  constructor(options: LogThrottleOptions = {}) {
    this.#perWindow = options.perWindow ?? 5;
    this.#windowMs = options.windowMs ?? 1000;
    this.#maxKinds = options.maxKinds ?? 1024;
  }

  /** Lines suppressed so far. */
  get suppressed(): number {
    return this.#suppressed;
  }

  /**
   * Whether a line of `kind` may be written at `now`. Counts it when not.
   *
   * @param kind What the line is and who caused it.
   * @param now The time, in ms.
   * @param overflowKind The kind to count it under when the table is full.
   * @returns `true` to write the line.
   */
  admit(kind: string, now: number, overflowKind = OVERFLOW): boolean {
    let window = this.#windows.get(kind);
    if (window === undefined && this.#windows.size >= this.#maxKinds) {
      kind = overflowKind;
      window = this.#windows.get(kind);
    }
    if (window === undefined) {
      this.#windows.set(kind, { start: now, count: 1, suppressed: 0 });
      this.#earliestEnd = Math.min(this.#earliestEnd, now + this.#windowMs);
      return true;
    }
    if (now - window.start >= this.#windowMs) {
      // The summary of the ended window is left to sweep, which runs first.
      window.start = now;
      window.count = 0;
    }
    if (window.count < this.#perWindow) {
      window.count++;
      return true;
    }
    window.suppressed++;
    this.#suppressed++;
    return false;
  }

  /**
   * End the windows that are over at `now` (or all of them with `force`),
   * and return those that suppressed lines. Cheap when none can be over.
   *
   * @param now The time, in ms.
   * @param force End every window, over or not (at shutdown).
   * @returns Kinds and how many of their lines were suppressed.
   */
  sweep(now: number, force = false): SuppressedLines[] {
    if (!force && now < this.#earliestEnd) return [];
    this.#earliestEnd = Infinity;
    const ended: SuppressedLines[] = [];
    for (const [kind, window] of this.#windows) {
      if (force || now - window.start >= this.#windowMs) {
        if (window.suppressed > 0) {
          ended.push({ kind, suppressed: window.suppressed });
        }
        this.#windows.delete(kind);
      } else {
        this.#earliestEnd = Math.min(
          this.#earliestEnd,
          window.start + this.#windowMs,
        );
      }
    }
    return ended;
  }
}
