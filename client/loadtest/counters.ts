/**
 * What one worker of the load generator counts: messages sent, deliveries,
 * bytes, latencies, and the problems it saw, for the whole run and for the
 * current one-second tick. Connections and publishers report through its
 * methods; the worker reads it once a tick and once at the end.
 *
 * The delivery path calls these methods for every message, so each is a few
 * field updates that V8 inlines, and nothing here allocates per message.
 *
 * @module
 */

import type { ShardTotals, TickReport } from "./_messages.ts";
import {
  createHistogram,
  encodeHistogram,
  type Histogram,
  LatencyTally,
  recordMilliseconds,
} from "./latency_histogram.ts";

/** The figures of one tick, as {@linkcode TickReport} carries them. */
export type TickFigures = Pick<
  TickReport,
  | "sent"
  | "delivered"
  | "payloadBytes"
  | "wireBytes"
  | "histogram"
  | "disconnects"
>;

/** The figures of the run, as {@linkcode ShardTotals} carries them. */
export type CountedTotals = Pick<
  ShardTotals,
  | "histogram"
  | "sendLagHistogram"
  | "published"
  | "publishedMeasured"
  | "delivered"
  | "deliveredMeasured"
  | "payloadBytesMeasured"
  | "wireBytes"
  | "wireBytesMeasured"
  | "unexpected"
  | "wrongSender"
  | "serverErrors"
  | "disconnects"
  | "publishReplyMismatches"
  | "refusalNotices"
>;

/** Longest server error text kept as a key; longer ones are cut. */
const MAX_ERROR_KEY = 200;

/**
 * One worker's counters.
 *
 * Each delivery's latency is recorded once: in the tick's measured histogram
 * when its intended time is in the measured window, else in the tick's
 * other one; at each tick the measured part joins the run's histogram, and
 * both go into the tick's report.
 *
 * @example Usage
 * ```ts
 * import { ShardCounters } from "./counters.ts";
 * const counters = new ShardCounters();
 * counters.published(3, 3);
 * counters.received(64);
 * counters.latency(1500, true);
 * console.log(counters.tick().delivered, counters.totals().deliveredMeasured); // 1 1
 * counters.destroy();
 * ```
 */
export class ShardCounters {
  #sent = 0;
  #publishedMeasured = 0;
  #delivered = 0;
  #deliveredMeasured = 0;
  #payloadBytesMeasured = 0;
  #wireBytes = 0;
  #wireBytesMeasured = 0;
  #unexpected = 0;
  #wrongSender = 0;
  #publishReplyMismatches = 0;
  #refusalNotices = 0;
  #tickSent = 0;
  #tickDelivered = 0;
  #tickPayloadBytes = 0;
  #tickWireBytes = 0;
  #tickDisconnects = 0;
  #serverErrors = new Map<string, number>();
  #disconnects = new Map<string, number>();
  /** Measured deliveries' latencies, up to the last tick. */
  #histogram: Histogram = createHistogram();
  /** This tick's latencies outside the measured window. */
  #tickHistogram: Histogram = createHistogram();
  /** This tick's latencies in the measured window. */
  #tickMeasuredHistogram: Histogram = createHistogram();
  /** Counts in front of {@linkcode ShardCounters.#tickHistogram}. */
  #tickTally = new LatencyTally(this.#tickHistogram);
  /** Counts in front of {@linkcode ShardCounters.#tickMeasuredHistogram}. */
  #tickMeasuredTally = new LatencyTally(this.#tickMeasuredHistogram);
  /** How late each batch left after its first message's intended time. */
  #sendLagHistogram: Histogram = createHistogram();

  /**
   * Bytes read from a socket.
   *
   * @param count How many.
   * @param measured Whether they arrived in the measured window.
   */
  wireRead(count: number, measured: boolean): void {
    this.#wireBytes += count;
    this.#tickWireBytes += count;
    if (measured) this.#wireBytesMeasured += count;
  }

  /**
   * Messages written.
   *
   * @param count How many.
   * @param measured How many of them have an intended time in the measured
   * window.
   */
  published(count: number, measured: number): void {
    this.#sent += count;
    this.#tickSent += count;
    this.#publishedMeasured += measured;
  }

  /**
   * How late a batch left after its first message's intended time.
   *
   * @param milliseconds The lag.
   */
  sendLag(milliseconds: number): void {
    recordMilliseconds(this.#sendLagHistogram, milliseconds);
  }

  /**
   * A delivery to a receiver, whatever its payload.
   *
   * @param payloadLength Its payload's size.
   */
  received(payloadLength: number): void {
    this.#delivered++;
    this.#tickDelivered++;
    this.#tickPayloadBytes += payloadLength;
  }

  /**
   * A well-formed delivery's latency.
   *
   * @param microseconds From its intended send time to its arrival.
   * @param measured Whether its intended time is in the measured window.
   */
  latency(microseconds: number, measured: boolean): void {
    if (measured) {
      this.#tickMeasuredTally.record(microseconds);
      this.#deliveredMeasured++;
    } else {
      this.#tickTally.record(microseconds);
    }
  }

  /**
   * Payload bytes of a well-formed delivery that arrived in the measured
   * window (counted, like wire bytes, by arrival).
   *
   * @param payloadLength The payload's size.
   */
  measuredPayload(payloadLength: number): void {
    this.#payloadBytesMeasured += payloadLength;
  }

  /** A delivery that is not one of the generator's messages. */
  unexpectedDelivery(): void {
    this.#unexpected++;
  }

  /** A delivery stamped with another id than its publisher's. */
  wrongSenderId(): void {
    this.#wrongSender++;
  }

  /** A server's notice that it refused a message. */
  refusalNotice(): void {
    this.#refusalNotices++;
  }

  /** A publish reply (Redis) that reached fewer subscribers than joined. */
  publishReplyMismatch(): void {
    this.#publishReplyMismatches++;
  }

  /**
   * A connection that was in the test ended.
   *
   * @param reason Why, in words.
   */
  disconnect(reason: string): void {
    this.#countInto(this.#disconnects, reason);
    this.#tickDisconnects++;
  }

  /**
   * A publisher's write failed.
   *
   * @param reason Why, in words.
   */
  sendFailure(reason: string): void {
    this.#countInto(this.#disconnects, `send failed: ${reason}`);
  }

  /**
   * An error message from the server.
   *
   * @param text Its text; a long one is cut.
   */
  serverError(text: string): void {
    this.#countInto(
      this.#serverErrors,
      text.length > MAX_ERROR_KEY ? `${text.slice(0, MAX_ERROR_KEY)}…` : text,
    );
  }

  /**
   * The current tick's figures; starts the next tick.
   *
   * @returns The figures, the histogram encoded.
   */
  tick(): TickFigures {
    this.#foldMeasuredTick();
    const figures: TickFigures = {
      sent: this.#tickSent,
      delivered: this.#tickDelivered,
      payloadBytes: this.#tickPayloadBytes,
      wireBytes: this.#tickWireBytes,
      histogram: encodeHistogram(this.#tickHistogram),
      disconnects: this.#tickDisconnects,
    };
    this.#tickSent = 0;
    this.#tickDelivered = 0;
    this.#tickPayloadBytes = 0;
    this.#tickWireBytes = 0;
    this.#tickDisconnects = 0;
    this.#tickHistogram.reset();
    return figures;
  }

  /**
   * The run's figures so far, the current tick's measured deliveries
   * included.
   *
   * @returns The figures, histograms encoded.
   */
  totals(): CountedTotals {
    this.#foldMeasuredTick();
    return {
      histogram: encodeHistogram(this.#histogram),
      sendLagHistogram: encodeHistogram(this.#sendLagHistogram),
      published: this.#sent,
      publishedMeasured: this.#publishedMeasured,
      delivered: this.#delivered,
      deliveredMeasured: this.#deliveredMeasured,
      payloadBytesMeasured: this.#payloadBytesMeasured,
      wireBytes: this.#wireBytes,
      wireBytesMeasured: this.#wireBytesMeasured,
      unexpected: this.#unexpected,
      wrongSender: this.#wrongSender,
      serverErrors: Object.fromEntries(this.#serverErrors),
      disconnects: Object.fromEntries(this.#disconnects),
      publishReplyMismatches: this.#publishReplyMismatches,
      refusalNotices: this.#refusalNotices,
    };
  }

  /** Free the histograms' memory; the counters are not used after this. */
  destroy(): void {
    this.#histogram.destroy();
    this.#tickHistogram.destroy();
    this.#tickMeasuredHistogram.destroy();
    this.#sendLagHistogram.destroy();
  }

  /**
   * Move the tick's measured latencies into the run's histogram and into
   * the tick's other one, which then holds all of the tick's.
   */
  #foldMeasuredTick(): void {
    this.#tickTally.flush();
    this.#tickMeasuredTally.flush();
    this.#histogram.add(this.#tickMeasuredHistogram);
    this.#tickHistogram.add(this.#tickMeasuredHistogram);
    this.#tickMeasuredHistogram.reset();
  }

  #countInto(counts: Map<string, number>, key: string): void {
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
}
