/**
 * Exact delivery accounting for the load generator: for every pair of a
 * receiving connection and a publisher, which sequence numbers arrived, so
 * that lost, duplicated and reordered deliveries are counted exactly rather
 * than estimated.
 *
 * @module
 */

/** What {@linkcode DeliveryChecker.record} concluded about one delivery. */
export const DeliveryOutcome = {
  /** The next sequence number expected: the common case. */
  InOrder: 0,
  /** Later than expected: the numbers skipped are now missing. */
  AheadOfGap: 1,
  /** A number that was missing arrived late: reordered. */
  Reordered: 2,
  /** A number that had already arrived: duplicate. */
  Duplicate: 3,
} as const;

/** One of the values of {@linkcode DeliveryOutcome}. */
export type DeliveryOutcomeValue =
  typeof DeliveryOutcome[keyof typeof DeliveryOutcome];

/**
 * Per (receiver, publisher) sequence tracking.
 *
 * Keeps the next expected sequence number of each pair in one flat typed
 * array; a set of missing numbers is allocated for a pair only when a gap
 * appears, so a clean run allocates nothing per delivery. At the end,
 * {@linkcode lost} adds the numbers still missing to the tails that never
 * arrived (published minus the next expected number).
 *
 * @example Usage
 * ```ts
 * import { DeliveryChecker } from "./delivery_checker.ts";
 * const checker = new DeliveryChecker(1, 1);
 * for (const sequence of [0, 1, 3, 2, 2]) checker.record(0, 0, sequence);
 * console.log(checker.reordered, checker.duplicates, checker.lost([5])); // 1 1 1
 * ```
 */
export class DeliveryChecker {
  /** Number of receivers tracked. */
  readonly receivers: number;
  /** Number of publisher indexes tracked. */
  readonly publishers: number;
  /** Deliveries of a number that had already arrived. */
  duplicates = 0;
  /** Deliveries of a number that had been skipped (arrived late). */
  reordered = 0;
  /** Distinct (receiver, publisher, sequence) deliveries seen. */
  unique = 0;
  #expected: Uint32Array;
  #missing = new Map<number, Set<number>>();
  #missingCount = 0;

  /**
   * @param receivers Number of receiving connections.
   * @param publishers Number of publisher indexes (`0..publishers-1`).
   */
  constructor(receivers: number, publishers: number) {
    this.receivers = receivers;
    this.publishers = publishers;
    this.#expected = new Uint32Array(receivers * publishers);
  }

  /** Sequence numbers skipped and not (yet) delivered, over all pairs. */
  get missing(): number {
    return this.#missingCount;
  }

  /**
   * Account for one delivery.
   *
   * @param receiver The receiver's index, `0..receivers-1`.
   * @param publisher The publisher's index, `0..publishers-1`.
   * @param sequence The message's sequence number.
   * @returns What the delivery was (see {@linkcode DeliveryOutcome}).
   */
  record(
    receiver: number,
    publisher: number,
    sequence: number,
  ): DeliveryOutcomeValue {
    const pair = receiver * this.publishers + publisher;
    const expected = this.#expected[pair];
    if (sequence === expected) {
      this.#expected[pair] = expected + 1;
      this.unique++;
      return DeliveryOutcome.InOrder;
    }
    return this.#recordOutOfOrder(pair, expected, sequence);
  }

  #recordOutOfOrder(
    pair: number,
    expected: number,
    sequence: number,
  ): DeliveryOutcomeValue {
    if (sequence > expected) {
      let missing = this.#missing.get(pair);
      if (missing === undefined) {
        missing = new Set();
        this.#missing.set(pair, missing);
      }
      for (let skipped = expected; skipped < sequence; skipped++) {
        missing.add(skipped);
      }
      this.#missingCount += sequence - expected;
      this.#expected[pair] = sequence + 1;
      this.unique++;
      return DeliveryOutcome.AheadOfGap;
    }
    const missing = this.#missing.get(pair);
    if (missing !== undefined && missing.delete(sequence)) {
      this.#missingCount--;
      if (missing.size === 0) this.#missing.delete(pair);
      this.reordered++;
      this.unique++;
      return DeliveryOutcome.Reordered;
    }
    this.duplicates++;
    return DeliveryOutcome.Duplicate;
  }

  /**
   * The next sequence number expected from a publisher by a receiver.
   *
   * @param receiver The receiver's index.
   * @param publisher The publisher's index.
   * @returns One more than the highest number seen, 0 when none was.
   */
  nextExpected(receiver: number, publisher: number): number {
    return this.#expected[receiver * this.publishers + publisher];
  }

  /**
   * Whether a receiver has every message that was published, nothing missing.
   *
   * @param receiver The receiver's index.
   * @param published Messages published by each publisher index.
   * @returns `true` when nothing is outstanding for this receiver.
   */
  isComplete(receiver: number, published: ArrayLike<number>): boolean {
    const base = receiver * this.publishers;
    for (let publisher = 0; publisher < this.publishers; publisher++) {
      if (this.#expected[base + publisher] < published[publisher]) {
        return false;
      }
      if (this.#missing.has(base + publisher)) return false;
    }
    return true;
  }

  /**
   * The highest sequence number any receiver saw from a publisher, plus one:
   * a lower bound of what it published, for publishers in other processes.
   *
   * @param publisher The publisher's index.
   * @returns 0 when nothing from it arrived.
   */
  highestSeen(publisher: number): number {
    let highest = 0;
    for (let receiver = 0; receiver < this.receivers; receiver++) {
      const next = this.#expected[receiver * this.publishers + publisher];
      if (next > highest) highest = next;
    }
    return highest;
  }

  /**
   * Messages of a publisher that no receiver got at all: the ones the server
   * relayed to nobody (refused, as a rate limit does). Candidates are the
   * numbers `candidate` (the publisher's own connection) lacks; each is
   * checked against every other receiver.
   *
   * @param publisher The publisher's index.
   * @param published Messages it published.
   * @param candidate The receiver whose gaps are the candidates.
   * @returns How many of its messages reached no receiver.
   */
  unreceived(publisher: number, published: number, candidate: number): number {
    const publishers = this.publishers;
    const expected: number[] = [];
    const missing: (Set<number> | undefined)[] = [];
    let highest = 0;
    for (let receiver = 0; receiver < this.receivers; receiver++) {
      const pair = receiver * publishers + publisher;
      expected.push(this.#expected[pair]);
      missing.push(this.#missing.get(pair));
      if (this.#expected[pair] > highest) highest = this.#expected[pair];
    }
    const receivedBySomeone = (sequence: number) => {
      for (let receiver = 0; receiver < expected.length; receiver++) {
        if (
          sequence < expected[receiver] &&
          !(missing[receiver]?.has(sequence) ?? false)
        ) {
          return true;
        }
      }
      return false;
    };
    let count = Math.max(0, published - highest);
    for (const sequence of missing[candidate] ?? []) {
      if (sequence < published && !receivedBySomeone(sequence)) count++;
    }
    const end = Math.min(highest, published);
    for (let sequence = expected[candidate]; sequence < end; sequence++) {
      if (!receivedBySomeone(sequence)) count++;
    }
    return count;
  }

  /**
   * Deliveries that never arrived: numbers still missing plus, for each pair,
   * the messages published after the highest one that arrived.
   *
   * @param published Messages published by each publisher index.
   * @param receivers How many receivers to count, from index 0; all by
   * default.
   * @returns The number of lost deliveries.
   */
  lost(published: ArrayLike<number>, receivers = this.receivers): number {
    let lost = 0;
    for (let receiver = 0; receiver < receivers; receiver++) {
      const base = receiver * this.publishers;
      for (let publisher = 0; publisher < this.publishers; publisher++) {
        const next = this.#expected[base + publisher];
        if (published[publisher] > next) lost += published[publisher] - next;
        lost += this.#missing.get(base + publisher)?.size ?? 0;
      }
    }
    return lost;
  }
}
