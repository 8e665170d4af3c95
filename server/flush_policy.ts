/** Length of the window over which the policy measures the load, in ms. */
export const FLUSH_WINDOW_MS = 100;
/**
 * Socket writes per second, if every batch were flushed at once, above which
 * the policy batches: about a quarter of a core at a few microseconds a write.
 */
export const COALESCE_WRITE_RATE = 50_000;
/**
 * Messages per hub batch under which batches count as small. Under a
 * saturating or pipelined load batches already hold dozens of messages each
 * and every write is large, so waiting would only add latency.
 */
export const SMALL_BATCH_MESSAGES = 16;
/**
 * How long the hub holds small batches back when coalescing, in ms. A
 * trade: at 2,000 messages a second to 100 members, 0.5 ms made about four
 * deliveries per write and 0.25 ms about three, for 0.25 ms less latency at
 * the median and 20% more CPU (still 0.8x Redis's for the same deliveries).
 */
export const COALESCE_DELAY_MS = 0.25;
/**
 * Flush rounds of more writes than this on average (big rooms: a write per
 * member, a few microseconds each) already batch naturally, since batches
 * pile up while a round runs; holding them back longer only adds latency
 * (measured: p99 0.5-0.8 s instead of 0.3-0.5 s at 1,000 members and 2,000
 * messages a second), so the policy leaves them alone.
 */
export const MAX_COALESCED_ROUND_WRITES = 256;

/**
 * Decides whether the hub writes each batch's output at once or holds it for
 * a moment to send several batches in one write per client.
 *
 * A socket write costs a few microseconds however few bytes it carries, so a
 * steady stream of small messages to a large room (say 2,000 a second to
 * 100 members) costs one write per member per message and most of a core.
 * When the last window shows many writes per second *and* small batches,
 * the policy says coalesce: the hub then flushes on a short timer and each
 * write carries several messages. Rooms so big that one round is hundreds
 * of writes are left alone: batches pile up while a round runs anyway, and
 * holding them back longer only adds latency. It measures the input (batches as they
 * arrive, and what flushing each at once would cost), not the effect of its
 * own decision, so it does not oscillate. A quiet server, or one whose
 * batches are already large (throughput runs, bursts), writes at once.
 *
 * @example Usage
 * ```ts
 * import { FlushPolicy } from "./flush_policy.ts";
 * const policy = new FlushPolicy();
 * for (let ms = 0; ms <= 100; ms += 0.5) policy.observeBatch(ms, 1, 100);
 * console.log(policy.coalescing); // true: 200 batches of one message to 100 clients in 100 ms
 * ```
 */
export class FlushPolicy {
  #writeRate: number;
  #windowStart = 0;
  #batches = 0;
  #messages = 0;
  #writes = 0;
  #coalescing = false;

  /**
   * @param writeRate Writes per second (if every batch were flushed at once)
   * above which small batches are coalesced; 0 never coalesces.
   */
  constructor(writeRate: number = COALESCE_WRITE_RATE) {
    this.#writeRate = writeRate;
  }

  /** Whether the hub should hold output back for {@linkcode COALESCE_DELAY_MS}. */
  get coalescing(): boolean {
    return this.#coalescing;
  }

  /**
   * Account for one hub batch that has output to flush.
   *
   * @param now The hub clock, in ms.
   * @param messages CHAT messages the batch relayed.
   * @param recipients Clients with output after the batch (the writes an
   * immediate flush would make).
   */
  observeBatch(now: number, messages: number, recipients: number): void {
    this.#batches++;
    this.#messages += messages;
    this.#writes += recipients;
    this.tick(now);
  }

  /**
   * How long to hold output back now: {@linkcode COALESCE_DELAY_MS} while
   * coalescing, else 0.
   *
   * @returns The delay in ms.
   */
  delay(): number {
    return this.#coalescing ? COALESCE_DELAY_MS : 0;
  }

  /**
   * Close the measuring window if it is over, and decide again. Called with
   * every batch, and periodically so that a server that fell quiet stops
   * coalescing even when no batch comes.
   *
   * @param now The hub clock, in ms.
   */
  tick(now: number): void {
    const elapsed = now - this.#windowStart;
    if (elapsed < FLUSH_WINDOW_MS) return;
    const writeRate = this.#writes * 1000 / elapsed;
    const messagesPerBatch = this.#batches === 0
      ? 0
      : this.#messages / this.#batches;
    const writesPerBatch = this.#batches === 0
      ? 0
      : this.#writes / this.#batches;
    this.#coalescing = this.#writeRate > 0 && writeRate > this.#writeRate &&
      messagesPerBatch < SMALL_BATCH_MESSAGES &&
      writesPerBatch <= MAX_COALESCED_ROUND_WRITES;
    this.#windowStart = now;
    this.#batches = 0;
    this.#messages = 0;
    this.#writes = 0;
  }
}
