/**
 * A single-consumer, in-process event queue: the channel that feeds the
 * central event handler.
 *
 * Producers call {@linkcode Channel.push}, which never blocks and never
 * allocates a promise. The consumer awaits {@linkcode Channel.receive}, which
 * hands over *everything* queued so far as one batch, so the cost of waking
 * the consumer is paid once per batch, not once per event (the same idea as
 * nats.deno's QueuedIterator). Each event carries a weight (bytes, say);
 * producers that see {@linkcode Channel.full} await
 * {@linkcode Channel.whenNotFull} before producing more, which is how readers
 * stop reading (and let TCP slow the senders) when the consumer falls behind.
 *
 * @example Usage
 * ```ts
 * import { Channel } from "./channel.ts";
 * const channel = new Channel<string>(1024);
 * channel.push("a", 1);
 * channel.push("b", 1);
 * const batch = await channel.receive();
 * console.log(batch); // ["a", "b"]
 * ```
 */
export class Channel<T> {
  #queue: T[] = [];
  #spare: T[] = [];
  #weight = 0;
  #highWater: number;
  #closed = false;
  #wakeConsumer: (() => void) | null = null;
  #notFull: PromiseWithResolvers<void> | null = null;

  /**
   * @param highWater Total weight of queued events at or above which
   * {@linkcode full} is true.
   * @throws {RangeError} When `highWater` is not a positive number.
   */
  constructor(highWater: number) {
    if (!(highWater > 0)) {
      throw new RangeError("High-water mark must be a positive number");
    }
    this.#highWater = highWater;
  }

  /** Number of events waiting for the consumer. */
  get length(): number {
    return this.#queue.length;
  }

  /** Total weight of the events waiting for the consumer. */
  get weight(): number {
    return this.#weight;
  }

  /** True when producers should wait before producing more. */
  get full(): boolean {
    return this.#weight >= this.#highWater;
  }

  /** True once {@linkcode close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queue an event for the consumer. Events pushed after {@linkcode close}
   * are dropped.
   *
   * @param event The event.
   * @param weight Its weight toward the high-water mark.
   */
  push(event: T, weight = 1): void {
    if (this.#closed) return;
    this.#queue.push(event);
    this.#weight += weight;
    const wake = this.#wakeConsumer;
    if (wake !== null) {
      this.#wakeConsumer = null;
      wake();
    }
  }

  /**
   * Wait until at least one event is queued, then take all queued events.
   *
   * The returned array belongs to the channel and is reused: it is valid
   * until the next call to `receive`.
   *
   * @returns The batch, in push order; `null` once the channel is closed and
   * empty.
   * @throws {Error} When another `receive` is already waiting.
   */
  async receive(): Promise<T[] | null> {
    if (this.#queue.length === 0) {
      if (this.#closed) return null;
      if (this.#wakeConsumer !== null) {
        throw new Error("Channel has a single consumer");
      }
      await new Promise<void>((resolve) => this.#wakeConsumer = resolve);
      if (this.#queue.length === 0) return null;
    }
    const batch = this.#queue;
    this.#spare.length = 0;
    this.#queue = this.#spare;
    this.#spare = batch;
    this.#weight = 0;
    const notFull = this.#notFull;
    if (notFull !== null) {
      this.#notFull = null;
      notFull.resolve();
    }
    return batch;
  }

  /**
   * A promise that settles as soon as the channel is no longer full (at
   * once when it is not full now). Every waiting producer shares it.
   *
   * @returns A promise resolved when producers may go on.
   */
  whenNotFull(): Promise<void> {
    if (!this.full || this.#closed) return Promise.resolve();
    this.#notFull ??= Promise.withResolvers<void>();
    return this.#notFull.promise;
  }

  /**
   * Stop accepting events. The consumer still receives what is queued, then
   * `null`; waiting producers are released.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const wake = this.#wakeConsumer;
    this.#wakeConsumer = null;
    wake?.();
    this.#notFull?.resolve();
    this.#notFull = null;
  }
}
