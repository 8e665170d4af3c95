/**
 * The thread behind {@linkcode PreciseTimer}: it sleeps in `Atomics.wait`
 * (no spinning) until a delay is requested, waits that long, and posts a
 * message (-1 once, when it is ready; then the request count it served).
 * Shared cells (Int32): [0] request count, [1] delay in µs, [2] stop.
 *
 * @module
 */

/// <reference lib="deno.worker" />

self.onmessage = (event: MessageEvent<SharedArrayBuffer>) => {
  const cells = new Int32Array(event.data);
  self.postMessage(-1); // Ready.
  let handled = 0;
  for (;;) {
    Atomics.wait(cells, 0, handled);
    if (Atomics.load(cells, 2) !== 0) break;
    handled = Atomics.load(cells, 0);
    const due = performance.now() + Atomics.load(cells, 1) / 1000;
    for (
      let left = due - performance.now();
      left > 0;
      left = due - performance.now()
    ) {
      Atomics.wait(cells, 2, 0, left);
      if (Atomics.load(cells, 2) !== 0) return;
    }
    self.postMessage(handled);
  }
};
