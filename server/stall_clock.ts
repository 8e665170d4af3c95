import type { Clock } from "./clock.ts";

/**
 * Period of the hub's heartbeat that measures server stalls: pauses longer
 * than about one and a half of it are credited to rate limits.
 */
export const STALL_HEARTBEAT_MS = 100;

/**
 * How long the server was unable to read, measured from its own wake-ups.
 *
 * While the process is stopped (SIGSTOP, a VM pause) or its event loop is
 * blocked, whatever clients send waits in the kernel and arrives all at
 * once afterwards. A rate limit that sees only arrival times would take that
 * backlog for a burst; the stall clock tells it how much of the time since
 * it last looked the server was away, so it can credit that time in full
 * (see {@linkcode TokenBucket.take}).
 *
 * The server observes the clock on a heartbeat of `periodMs` and at the
 * start of every batch of events (before handling it, so the first frames
 * read after a pause already see the pause). A gap between observations
 * longer than the period (plus a tolerance for timer jitter) is a stall of
 * the excess. Stalls separated by less than a period of normal running merge
 * into one: the backlog of a long pause may take a few slow batches to read,
 * and those must not hide the pause.
 *
 * @example Usage
 * ```ts
 * import { StallClock } from "./stall_clock.ts";
 * const clock = new StallClock(100, 0);
 * clock.observe(100);
 * clock.observe(5200); // stopped for about 5 s
 * console.log(clock.lastStallMs, clock.lastStallEndedAt); // 5000 5200
 * ```
 */
export class StallClock {
  /** Length of the latest stall, in ms (0 before any). */
  lastStallMs = 0;
  /** Every stall so far, in ms. */
  totalStalledMs = 0;
  /** When the latest stall ended (same clock as `observe`), -Infinity before any. */
  lastStallEndedAt = -Infinity;
  #periodMs: number;
  #toleranceMs: number;
  #lastSeenAt: number;

  /**
   * @param periodMs The heartbeat period: the longest normal gap between observations.
   * @param now The current time in ms (any monotonic clock).
   * @param toleranceMs Lateness not counted as a stall (timer jitter).
   */
  constructor(periodMs: number, now: number, toleranceMs = periodMs / 2) {
    this.#periodMs = periodMs;
    this.#toleranceMs = toleranceMs;
    this.#lastSeenAt = now;
  }

  /**
   * Start the heartbeat: observe `clock` every period.
   *
   * @param clock The clock the observations are taken on (the one given to
   * the constructor's `now`).
   * @returns A function that stops the heartbeat.
   */
  beat(clock: Clock): () => void {
    return clock.every(this.#periodMs, () => this.observe(clock.now()));
  }

  /** The heartbeat period in ms. */
  get periodMs(): number {
    return this.#periodMs;
  }

  /**
   * Record that the server is running at `now`.
   *
   * @param now The current time in ms, same clock as the constructor's.
   */
  observe(now: number): void {
    const gap = now - this.#lastSeenAt;
    if (gap <= 0) return;
    this.#lastSeenAt = now;
    const stalled = gap - this.#periodMs;
    if (stalled <= this.#toleranceMs) return;
    this.totalStalledMs += stalled;
    const runningBetween = now - stalled - this.lastStallEndedAt;
    this.lastStallMs = runningBetween <= this.#periodMs
      ? this.lastStallMs + stalled
      : stalled;
    this.lastStallEndedAt = now;
  }
}
