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
 * How long the hub holds small batches back when coalescing, in ms: a trade
 * between the CPU one write per delivery costs and the latency a hold adds,
 * chosen by A/B runs against Redis (docs/BENCHMARKS.md, "Where the time
 * goes"). Longer holds put more deliveries in a write and raise p99.
 */
export const COALESCE_DELAY_MS = 0.1;
/**
 * Flush rounds of more writes than this on average (big rooms: a write per
 * member) are not held back by {@linkcode COALESCE_DELAY_MS}: a round lasts
 * longer than that anyway. Under load they are spaced instead (see
 * {@linkcode ROUND_WRITE_COST_MS}).
 */
export const MAX_COALESCED_ROUND_WRITES = 256;
/**
 * Spacing of busy big rooms' flush rounds per write of a round, in ms:
 * about twice what a socket write costs the server, counting everything it
 * does per write, so that a round's writes have left, with time to spare
 * for reading, before the next round starts. Without spacing, every batch
 * starts another round to whichever writers are idle, a batch or two per
 * write, and a saturated server's latency climbs; spacing by one write's
 * cost is not enough (docs/BENCHMARKS.md, "Big rooms"). An isolated message
 * (after a pause of a round's length) still leaves at once.
 */
export const ROUND_WRITE_COST_MS = 0.02;
/**
 * Longest spacing of flush rounds, in ms. The spacing holds back every
 * client's output, small rooms' and replies included, so it is capped:
 * rooms of more than 2,500 busy members get rounds that may overlap rather
 * than holds of a tenth of a second and more.
 */
export const MAX_ROUND_INTERVAL_MS = 50;

/**
 * Decides whether the hub writes each batch's output at once or holds it for
 * a moment to send several batches in one write per client.
 *
 * A socket write costs a few microseconds however few bytes it carries, so a
 * steady stream of small messages to a large room (say 2,000 a second to
 * 100 members) costs one write per member per message and most of a core.
 * When the last window shows many writes per second *and* small batches,
 * the policy says coalesce: the hub then flushes on a short timer and each
 * write carries several messages. When the rounds are hundreds of writes
 * (big rooms) and many, whatever the batches hold, the policy instead
 * spaces the rounds by what one costs ({@linkcode ROUND_WRITE_COST_MS} a
 * write, at most {@linkcode MAX_ROUND_INTERVAL_MS}), leading edge: a batch
 * after a quiet spell still leaves at once. Either hold applies to the whole
 * flush round, every client's output. The policy measures the input
 * (batches as they arrive, and the writes flushing each alone would make),
 * not the effect of its own decision, so it does not oscillate. A quiet
 * server, or one whose batches to rooms of up to 256 members are already
 * large (throughput runs, bursts), writes at once.
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
  #roundInterval = 0;

  /**
   * @param writeRate Writes per second (if every batch were flushed at once)
   * above which small batches are coalesced and big rounds spaced; 0 turns
   * both off.
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
   * Shortest time between two flush rounds while big rooms are busy, in ms
   * (0 otherwise): the last window's writes per batch ×
   * {@linkcode ROUND_WRITE_COST_MS}, at most
   * {@linkcode MAX_ROUND_INTERVAL_MS}.
   */
  get roundInterval(): number {
    return this.#roundInterval;
  }

  /**
   * How long to hold the output of the batch just observed before flushing.
   * While coalescing, {@linkcode COALESCE_DELAY_MS}; while big rooms are
   * busy, whatever is left of {@linkcode roundInterval} since the last
   * round; else 0 (flush at once).
   *
   * @param sinceLastFlush Milliseconds since the last flush round began.
   * @returns The delay in ms.
   */
  holdFor(sinceLastFlush: number): number {
    if (this.#coalescing) return COALESCE_DELAY_MS;
    return Math.max(0, this.#roundInterval - sinceLastFlush);
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
    const busy = this.#writeRate > 0 && writeRate > this.#writeRate;
    this.#coalescing = busy && messagesPerBatch < SMALL_BATCH_MESSAGES &&
      writesPerBatch <= MAX_COALESCED_ROUND_WRITES;
    this.#roundInterval = busy && writesPerBatch > MAX_COALESCED_ROUND_WRITES
      ? Math.min(writesPerBatch * ROUND_WRITE_COST_MS, MAX_ROUND_INTERVAL_MS)
      : 0;
    this.#windowStart = now;
    this.#batches = 0;
    this.#messages = 0;
    this.#writes = 0;
  }
}
