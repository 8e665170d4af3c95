/**
 * What a shutdown signal means, given the ones before it. The first SIGINT or
 * SIGTERM asks for a graceful shutdown. Ctrl-C in a terminal and systemd's
 * default `KillMode=control-group` signal the whole process group, so under
 * `deno task serve` the server gets the signal once directly and once more
 * forwarded by `deno task`: a repeat of the same signal within
 * {@linkcode SIGNAL_REPEAT_WINDOW_MS} of the first is that same request.
 * Any other signal after the first — a different one, or the same one later —
 * is a person insisting, and means exit at once.
 *
 * The clock is the caller's (`nowMs`), so the rule is tested without sleeping.
 *
 * @module
 */

/** How long after the first signal a repeat of it counts as the same request. */
export const SIGNAL_REPEAT_WINDOW_MS = 1000;

/**
 * What to do about a signal: start the graceful shutdown, ignore a duplicate
 * of the first signal, or exit at once.
 */
export type SignalAction = "shutdown" | "duplicate" | "exit";

/** Decides, signal by signal, between graceful shutdown and exiting now. */
export class ShutdownSignals {
  #first: { signal: string; atMs: number } | null = null;
  readonly #repeatWindowMs: number;

  /**
   * @param repeatWindowMs How long after the first signal a repeat of the
   * same signal is the same request.
   */
  constructor(repeatWindowMs: number = SIGNAL_REPEAT_WINDOW_MS) {
    this.#repeatWindowMs = repeatWindowMs;
  }

  /**
   * Record a signal and say what it means.
   *
   * @param signal The signal's name, for example `SIGINT`.
   * @param nowMs A monotonic time in milliseconds (`performance.now()`).
   * @returns `shutdown` for the first signal; `duplicate` for the same signal
   * again less than the window after the first; `exit` for anything else.
   */
  decide(signal: string, nowMs: number): SignalAction {
    const first = this.#first;
    if (first === null) {
      this.#first = { signal, atMs: nowMs };
      return "shutdown";
    }
    if (
      signal === first.signal && nowMs - first.atMs < this.#repeatWindowMs
    ) {
      return "duplicate";
    }
    return "exit";
  }
}
