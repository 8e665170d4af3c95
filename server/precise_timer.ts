import { workerUrl } from "../cli/worker_url.ts";

/**
 * A one-shot timer with sub-millisecond resolution.
 *
 * Deno's `setTimeout` fires a millisecond or two late at best, too coarse to
 * hold frames back for a tenth of a millisecond. This timer hands the waiting
 * to a worker thread that sleeps in `Atomics.wait` for the delay and then
 * posts a message to wake the event loop. Both wake-ups cost time, so a
 * hold lasts somewhat longer than asked (docs/BENCHMARKS.md).
 * The worker starts on the first `schedule`, so a timer that is never used
 * costs no thread; until it is up (loading it takes a while on a busy
 * process), delays fall back to `setTimeout`.
 *
 * @example Usage
 * ```ts no-eval
 * const timer = new PreciseTimer(() => console.log("0.1 ms later"));
 * timer.schedule(0.1);
 * // …
 * timer.close();
 * ```
 */
export class PreciseTimer {
  #callback: () => void;
  #cells = new Int32Array(
    new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT),
  );
  #worker: Worker | null = null;
  #scheduled = false;
  #closed = false;
  #ready = false;
  #fallback: ReturnType<typeof setTimeout> | undefined;

  /** @param callback Called on the event loop each time a delay has passed. */
  constructor(callback: () => void) {
    this.#callback = callback;
  }

  /** True while a delay is running. */
  get scheduled(): boolean {
    return this.#scheduled;
  }

  /**
   * Call the callback after `delayMs`, unless a delay is already running
   * (then nothing changes).
   *
   * @param delayMs The delay in milliseconds (fractions allowed).
   */
  schedule(delayMs: number): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    this.#worker ??= this.#start();
    if (!this.#ready) {
      this.#fallback = setTimeout(() => this.#fire(), delayMs);
      return;
    }
    const cells = this.#cells!;
    Atomics.store(cells, 1, Math.max(0, Math.round(delayMs * 1000)));
    Atomics.add(cells, 0, 1);
    Atomics.notify(cells, 0);
  }

  /** Cancel any delay and stop the worker. */
  close(): void {
    this.#closed = true;
    this.#scheduled = false;
    clearTimeout(this.#fallback);
    const cells = this.#cells;
    if (cells !== null) {
      Atomics.store(cells, 2, 1);
      Atomics.notify(cells, 0);
      Atomics.notify(cells, 2);
    }
    this.#worker?.terminate();
    this.#worker = null;
  }

  #fire(): void {
    if (!this.#scheduled) return;
    this.#scheduled = false;
    this.#callback();
  }

  #start(): Worker {
    // Created only now: the shared memory, like the thread, is paid for
    // only by a timer that is used.
    this.#cells = new Int32Array(
      new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT),
    );
    const worker = new Worker(
      workerUrl("_precise_timer_worker", import.meta.url).href,
      { type: "module" },
    );
    worker.onmessage = (event: MessageEvent<number>) => {
      if (event.data === -1) this.#ready = true;
      else this.#fire();
    };
    worker.postMessage(this.#cells.buffer);
    return worker;
  }
}
