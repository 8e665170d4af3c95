/**
 * Keepalive: whether a client is still there. A client silent for
 * `--ping-interval` gets a PING (once per interval; original clients get
 * none, as they do not know the tag), one silent for `--idle-timeout` is
 * dropped, and one whose frame, once begun, is not complete within
 * `--frame-timeout` is dropped whatever the idle timeout says (slowloris).
 * Only what a client sends counts: receiving proves nothing.
 *
 * {@linkcode Keepalive} keeps no timers: the hub's tick asks it about each
 * client ({@linkcode Keepalive.check}) and carries out the answer, and the
 * hub tells it when a client was heard from ({@linkcode Keepalive.seen}).
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import { DisconnectReason } from "./events.ts";
import type { Farewell } from "./farewell.ts";
import type { HubOptions } from "./settings.ts";

/** Settings of {@linkcode Keepalive}: the hub's own (ms; 0 turns a rule off). */
export type KeepaliveOptions = Pick<
  HubOptions,
  "pingIntervalMs" | "idleTimeoutMs" | "frameTimeoutMs"
>;

/** The server's latest stall (see `StallClock`), not counted against a frame. */
export interface LatestStall {
  /** Length of the latest stall, in ms. */
  readonly lastStallMs: number;
  /** When it ended (hub clock, ms). */
  readonly lastStallEndedAt: number;
}

/** Answer of {@linkcode Keepalive.check}: send the client a PING. */
export const SEND_PING = "ping";

/** What to do about a client: nothing (`null`), a PING, or drop it so. */
export type KeepaliveDue = typeof SEND_PING | Farewell | null;

/**
 * The keepalive rules over the clients' `lastInboundAt`, `lastPingAt` and
 * `partialFrameSince` (all on the hub clock).
 *
 * @example Usage
 * ```ts no-eval
 * keepalive.seen(client, now); // on every chunk of frames
 * const due = keepalive.check(client, now); // on every tick
 * if (due === SEND_PING) send(client, PING);
 * else if (due !== null) drop(client, due);
 * ```
 */
export class Keepalive {
  #options: KeepaliveOptions;
  #stalls: LatestStall;

  /**
   * @param options The intervals.
   * @param stalls When the server could not read: a pause since a frame
   * began is not the client's delay.
   */
  constructor(options: KeepaliveOptions, stalls: LatestStall) {
    this.#options = options;
    this.#stalls = stalls;
  }

  /**
   * The client sent something at `now`.
   *
   * @param client The client.
   * @param now The hub's time in ms.
   */
  seen(client: Connection, now: number): void {
    client.lastInboundAt = now;
  }

  /**
   * What keepalive wants done about `client` at `now`. A PING answer
   * counts as sent: the next comes an interval later at the earliest.
   *
   * @param client A registered client.
   * @param now The hub's time in ms.
   * @returns `null`, {@linkcode SEND_PING}, or the {@linkcode Farewell} to drop it with.
   */
  check(client: Connection, now: number): KeepaliveDue {
    const { pingIntervalMs, idleTimeoutMs, frameTimeoutMs } = this.#options;
    if (frameTimeoutMs > 0 && client.partialFrameSince >= 0) {
      let partialFor = now - client.partialFrameSince;
      const stalls = this.#stalls;
      // A server pause since the frame began is not the client's delay.
      if (partialFor > 0 && stalls.lastStallEndedAt > now - partialFor) {
        partialFor -= stalls.lastStallMs;
      }
      if (partialFor >= frameTimeoutMs) {
        return {
          reason: DisconnectReason.FrameTimeout,
          detail: `frame incomplete for ${Math.round(partialFor)} ms`,
          error: "frame timeout",
          warn: true,
        };
      }
    }
    const silentFor = now - client.lastInboundAt;
    if (idleTimeoutMs > 0 && silentFor >= idleTimeoutMs) {
      return {
        reason: DisconnectReason.IdleTimeout,
        detail: `silent for ${Math.round(silentFor)} ms`,
        error: "idle timeout",
      };
    }
    if (
      pingIntervalMs > 0 && !client.original &&
      silentFor >= pingIntervalMs &&
      now - client.lastPingAt >= pingIntervalMs
    ) {
      client.lastPingAt = now;
      return SEND_PING;
    }
    return null;
  }
}
