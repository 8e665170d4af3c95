/**
 * A precise ticker for the open-loop scheduler, run in a worker of its own.
 *
 * Deno's timers fire a millisecond or two late, which would show up as
 * latency in an open-loop run. This thread instead sleeps in `Atomics.wait`
 * (no spinning) until each tick's exact time and posts a message, which wakes
 * the shard within about a tenth of a millisecond.
 *
 * The main thread starts it and sends it a `MessagePort` whose other end the
 * shard holds (a worker started by a worker gets its first messages hundreds
 * of milliseconds late in Deno, so the shard does not start it itself). On
 * that port it posts -2 once ready, each tick's due time, and -1 when done.
 *
 * Shared cells (Int32): [0] stop flag, set by the shard (with a notify);
 * [1] tick pending, set here and cleared by the shard when it has handled the
 * tick, so a busy shard is never flooded: ticks that find one pending are
 * skipped (the shard sends everything due when it gets to it).
 *
 * @module
 */

/// <reference lib="deno.worker" />

/** The ticker's instructions. */
export interface TickerPlan {
  /** Two Int32 cells: stop flag and tick pending. */
  cells: SharedArrayBuffer;
  /** Shared-clock time of the first tick, ms. */
  start: number;
  /** Time between ticks, ms. */
  period: number;
  /** No ticks at or after this time. */
  until: number;
}

function run(port: MessagePort, plan: TickerPlan): void {
  const { cells, start, period, until } = plan;
  const cell = new Int32Array(cells);
  for (let tick = 0;; tick++) {
    const due = start + tick * period;
    if (due >= until || Atomics.load(cell, 0) !== 0) break;
    for (;;) {
      const wait = due - (performance.timeOrigin + performance.now());
      if (wait <= 0 || Atomics.load(cell, 0) !== 0) break;
      Atomics.wait(cell, 0, 0, wait);
    }
    if (Atomics.compareExchange(cell, 1, 0, 1) === 0) port.postMessage(due);
  }
  port.postMessage(-1);
}

self.onmessage = (event: MessageEvent<{ port: MessagePort }>) => {
  const port = event.data.port;
  port.onmessage = (message: MessageEvent<TickerPlan>) =>
    run(port, message.data);
  port.postMessage(-2);
};
