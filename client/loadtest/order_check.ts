/**
 * The single-order check of the load generator: every member of a room must
 * see the room's messages in one order, whichever server node it is on. Per
 * publisher, {@linkcode DeliveryChecker} already checks the order; across
 * publishers, each receiver folds every delivery's (publisher, sequence)
 * into a running 32-bit hash, in arrival order, and counts its deliveries.
 * At the end, receivers that got the same set of messages (every one
 * published: see {@linkcode OrderHashes.groups}) must have the same hash.
 *
 * The per-delivery cost is two multiplications and two typed-array writes;
 * nothing is allocated.
 *
 * @module
 */

import type { DeliveryChecker } from "./delivery_checker.ts";

/** FNV-1a's 32-bit offset basis: the hash of nothing. */
export const ORDER_HASH_START = 0x811c9dc5 | 0;
/** FNV's 32-bit prime. */
const FNV_PRIME = 0x01000193;

/**
 * One step of the running hash: fold one delivery into it (FNV-1a over the
 * two 32-bit words). Not commutative, so a swapped pair changes the result
 * (but for a 2^-32 chance of collision).
 *
 * @param hash The hash so far (a signed 32-bit integer).
 * @param publisher The delivery's publisher index.
 * @param sequence Its sequence number.
 * @returns The new hash.
 */
export function orderHashStep(
  hash: number,
  publisher: number,
  sequence: number,
): number {
  return Math.imul(
    Math.imul(hash ^ publisher, FNV_PRIME) ^ sequence,
    FNV_PRIME,
  );
}

/**
 * Receivers that ended with the same hash and count: `[hash, deliveries,
 * receivers]`.
 */
export type OrderGroup = [number, number, number];

/** The running hash and count of every receiver of a worker. */
export class OrderHashes {
  /** Running hash of each receiver. */
  readonly hashes: Int32Array;
  /** Deliveries folded into each receiver's hash. */
  readonly counts: Uint32Array;

  /**
   * Every receiver starts at the hash of nothing, with no deliveries.
   *
   * @param receivers Number of receivers (the checker's indexes).
   */
  constructor(receivers: number) {
    this.hashes = new Int32Array(receivers).fill(ORDER_HASH_START);
    this.counts = new Uint32Array(receivers);
  }

  /**
   * Fold one delivery into its receiver's hash. On the hot path.
   *
   * @param receiver The receiver's index.
   * @param publisher The publisher index.
   * @param sequence The sequence number.
   */
  add(receiver: number, publisher: number, sequence: number): void {
    this.hashes[receiver] = orderHashStep(
      this.hashes[receiver],
      publisher,
      sequence,
    );
    this.counts[receiver]++;
  }

  /**
   * Group the receivers that can be compared by their hash and count: those
   * still open at the end that have every message published and nothing
   * twice (so all of them got the same set). A receiver that dropped, or
   * lacks something, may rightly have seen another set and is left out.
   *
   * @param checker The worker's delivery accounting.
   * @param published Messages published per publisher index.
   * @param open Whether each receiver (by index) was open to the end.
   * @returns The groups, and how many receivers were left out.
   */
  groups(
    checker: DeliveryChecker,
    published: ArrayLike<number>,
    open: (receiver: number) => boolean,
  ): { groups: OrderGroup[]; excluded: number } {
    let total = 0;
    for (let index = 0; index < published.length; index++) {
      total += published[index];
    }
    const byKey = new Map<string, OrderGroup>();
    let excluded = 0;
    for (let receiver = 0; receiver < this.hashes.length; receiver++) {
      if (
        !open(receiver) || this.counts[receiver] !== total ||
        !checker.isComplete(receiver, published)
      ) {
        excluded++;
        continue;
      }
      const hash = this.hashes[receiver];
      const key = `${hash}:${total}`;
      const group = byKey.get(key);
      if (group === undefined) byKey.set(key, [hash, total, 1]);
      else group[2]++;
    }
    return { groups: [...byKey.values()], excluded };
  }
}

/** What the single-order check found over the whole run. */
export interface OrderVerdict {
  /** Receivers compared: open to the end, with every message once. */
  compared: number;
  /** Of those, how many saw another order than the most common one. */
  differing: number;
  /** Receivers left out (dropped, or lacking messages). */
  excluded: number;
}

/**
 * Merge the workers' groups and count the receivers whose order differs
 * from the most common one.
 *
 * @param shards Each worker's groups and left-out count.
 * @returns The verdict.
 */
export function compareOrders(
  shards: { groups: OrderGroup[]; excluded: number }[],
): OrderVerdict {
  const merged = new Map<string, number>();
  let excluded = 0;
  let compared = 0;
  for (const shard of shards) {
    excluded += shard.excluded;
    for (const [hash, count, receivers] of shard.groups) {
      const key = `${hash}:${count}`;
      merged.set(key, (merged.get(key) ?? 0) + receivers);
      compared += receivers;
    }
  }
  let largest = 0;
  for (const receivers of merged.values()) {
    if (receivers > largest) largest = receivers;
  }
  return { compared, differing: compared - largest, excluded };
}

/**
 * The single-order check in words, for the summary and the report.
 *
 * @param order The verdict.
 * @returns E.g. "same for all 100 receivers".
 */
export function describeOrder(order: OrderVerdict): string {
  const left = order.excluded > 0
    ? ` (${order.excluded} left out: dropped or lacking messages)`
    : "";
  if (order.differing > 0) {
    return `${order.differing} of ${order.compared} receivers saw another order${left}`;
  }
  return `same for all ${order.compared} receivers${left}`;
}
