/**
 * Ids unique across the cluster. Each node takes a node number n from a
 * shared counter at startup, and its client ids are n * 2^32 + a local
 * counter: unique without a round trip per client, and below 2^53 (safe
 * integers, exact in a frame's u64 and in JSON) while n < 2^21.
 *
 * @module
 */

import type { Redis } from "ioredis";
import { NODE_SEQ_KEY } from "./keys.ts";

/** Node numbers stay below this, so that every client id is below 2^53. */
export const MAX_NODE_NUMBER = 2 ** 21;

/** Local counters stay below this: the low 32 bits of a client id. */
export const IDS_PER_NODE = 2 ** 32;

/**
 * Take this node's number: `INCR hubbub:node-seq`.
 *
 * @param redis The command connection.
 * @returns The number, 1 or more.
 * @throws {Error} When the counter has passed {@linkcode MAX_NODE_NUMBER}.
 */
export async function claimNodeNumber(redis: Redis): Promise<number> {
  const n = await redis.incr(NODE_SEQ_KEY);
  if (n >= MAX_NODE_NUMBER) {
    throw new Error(
      `${NODE_SEQ_KEY} is ${n}, past the last node number ${
        MAX_NODE_NUMBER - 1
      }; reset it when no node is running`,
    );
  }
  return n;
}

/**
 * A node's client ids: n * 2^32 + 1, + 2, ...
 *
 * @example Usage
 * ```ts
 * import { ClusterIds } from "./node_id.ts";
 * const ids = new ClusterIds(3);
 * console.log(ids.next()); // 12884901889 (3 * 2^32 + 1)
 * ```
 */
export class ClusterIds {
  /** The node number. */
  readonly node: number;
  #base: number;
  #counter = 0;

  /**
   * The ids of node `node`.
   *
   * @param node The node number, 0 < node < {@linkcode MAX_NODE_NUMBER}.
   * @throws {RangeError} When it is out of range.
   */
  constructor(node: number) {
    if (!Number.isInteger(node) || node < 0 || node >= MAX_NODE_NUMBER) {
      throw new RangeError(`node number ${node} out of range`);
    }
    this.node = node;
    this.#base = node * IDS_PER_NODE;
  }

  /**
   * The next id.
   *
   * @returns A safe integer no other node gives.
   * @throws {RangeError} After 2^32 - 1 ids (a restart takes a new number).
   */
  next(): number {
    if (this.#counter >= IDS_PER_NODE - 1) {
      throw new RangeError(`node ${this.node} has used all its client ids`);
    }
    return this.#base + ++this.#counter;
  }

  /**
   * The node number of a client id.
   *
   * @param id A client id.
   * @returns Its node's number.
   */
  static nodeOf(id: number): number {
    return Math.floor(id / IDS_PER_NODE);
  }
}
