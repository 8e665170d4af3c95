/**
 * The hub's periodic housekeeping: how often it ticks, and what each tick
 * asks of every registered client (keepalive and the write deadline).
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import { slowConsumer } from "./farewell.ts";
import { type Keepalive, type KeepaliveDue, SEND_PING } from "./keepalive.ts";
import type { HubOptions } from "./settings.ts";

/** The timers the tick must serve: the hub's own settings (ms; 0 is off). */
export type TickTimers = Pick<
  HubOptions,
  | "pingIntervalMs"
  | "idleTimeoutMs"
  | "frameTimeoutMs"
  | "writeDeadlineMs"
  | "handshakeTimeoutMs"
  | "tokens"
>;

/**
 * Period of the hub's housekeeping tick (keepalive, handshake and write
 * deadlines, idle buffer release): a quarter of the shortest timer in
 * force, between 10 ms and 1 s, so each deadline is seen soon after it
 * passes.
 *
 * @param options The hub's timers.
 * @returns The period in ms.
 */
export function tickPeriod(options: TickTimers): number {
  const periods = [
    options.pingIntervalMs,
    options.idleTimeoutMs,
    options.frameTimeoutMs,
    options.writeDeadlineMs,
    options.tokens ? options.handshakeTimeoutMs : 0,
  ].filter((ms) => ms > 0);
  const shortest = Math.min(4000, ...periods);
  return Math.max(10, Math.min(1000, Math.floor(shortest / 4)));
}

/**
 * What the hub's tick does about one registered client: keepalive's
 * answer ({@linkcode Keepalive.check}), or a drop when a write to it has made
 * no progress for `--write-deadline`.
 *
 * @example Usage
 * ```ts no-eval
 * const due = housekeeping.check(client, now);
 * if (due === SEND_PING) send(client, PING);
 * else if (due !== null) drop(client, due);
 * ```
 */
export class Housekeeping {
  #keepalive: Keepalive;
  #writeDeadlineMs: number;

  /**
   * @param keepalive The keepalive rules.
   * @param writeDeadlineMs How long a write may stall, 0 for no limit.
   */
  constructor(keepalive: Keepalive, writeDeadlineMs: number) {
    this.#keepalive = keepalive;
    this.#writeDeadlineMs = writeDeadlineMs;
  }

  /**
   * What is due for `client` at `now`.
   *
   * @param client A registered client.
   * @param now The hub's time in ms.
   * @returns Nothing (`null`), a PING, or the farewell to drop it with.
   */
  check(client: Connection, now: number): KeepaliveDue {
    const due = this.#keepalive.check(client, now);
    if (due !== null && due !== SEND_PING) return due;
    const writer = client.writer;
    const deadline = this.#writeDeadlineMs;
    if (
      deadline > 0 && writer.writeStartedAt >= 0 &&
      now - writer.writeStartedAt >= deadline
    ) {
      return slowConsumer(
        `write stalled with ${writer.pendingBytes} bytes pending`,
      );
    }
    return due;
  }
}
