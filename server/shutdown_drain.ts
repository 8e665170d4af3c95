import { HEADER_SIZE, readBodyLength, readTag, Tag } from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import type { Clock } from "./clock.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";

/**
 * The end of a shutdown: the hub has dropped everyone, and the connections
 * whose last frames are still leaving close once flushed or when the grace
 * period runs out; then what was left undelivered is counted and logged.
 *
 * The hub tells it of every dropped connection that is still flushing
 * ({@linkcode ShutdownDrain.lingering}), shutdown or not, since a client
 * dropped just before the shutdown must be waited for too.
 *
 * @example
 * ```ts ignore
 * drain.lingering(client); // in the hub's drop, while its writer is open
 * drain.start(graceMs, done); // after the hub has dropped everyone
 * ```
 */
export class ShutdownDrain {
  #clock: Clock;
  #metrics: Metrics;
  #logger: Logger;
  /** Dropped clients whose last frames are still leaving. */
  #closing = new Set<Connection>();

  /**
   * @param clock Times the grace period.
   * @param metrics Where the shutdown's losses are counted.
   * @param logger Where the end of the drain is logged.
   */
  constructor(clock: Clock, metrics: Metrics, logger: Logger) {
    this.#clock = clock;
    this.#metrics = metrics;
    this.#logger = logger;
  }

  /**
   * A dropped client's writer is still flushing its last frames: a shutdown
   * waits for it until it closes.
   *
   * @param client The dropped client.
   */
  lingering(client: Connection): void {
    const closing = this.#closing;
    closing.add(client);
    client.writer.whenClosed().then(() => closing.delete(client));
  }

  /**
   * Frames read before the shutdown closed their connection, never to be
   * relayed: count the CHATs among the whole frames of `bytes[0..end)`.
   *
   * @param bytes A chunk of whole frames.
   * @param end Where the frames end.
   */
  unrelayed(bytes: Uint8Array, end: number): void {
    let chats = 0;
    for (let offset = 0; offset < end;) {
      if (readTag(bytes, offset) === Tag.CHAT) chats++;
      offset += HEADER_SIZE + readBodyLength(bytes, offset);
    }
    this.#metrics.shutdownUnrelayedChats += chats;
  }

  /**
   * Everyone has been dropped: close each connection still flushing once it
   * is flushed or after `graceMs`, whichever is first, then report.
   *
   * @param graceMs How long the last frames may take to leave.
   * @param done Called once every connection is closed.
   */
  start(graceMs: number, done: () => void): void {
    const closing = [...this.#closing];
    const grace = this.#clock.timer(() => {
      for (const client of closing) client.writer.close();
    });
    grace.schedule(graceMs);
    Promise.all(closing.map((client) => client.writer.whenClosed())).then(
      () => {
        grace.close();
        this.#report(closing);
        done();
      },
    );
  }

  /**
   * Every connection is closed: count and log what the shutdown left
   * undelivered (at warn level when anything was, so `--quiet` shows it).
   */
  #report(closed: Connection[]): void {
    const metrics = this.#metrics;
    let undelivered = 0;
    for (const client of closed) undelivered += client.writer.unsentAtClose;
    metrics.shutdownUndeliveredFrames += undelivered;
    const unrelayed = metrics.shutdownUnrelayedChats;
    this.#logger.log(
      undelivered + unrelayed > 0 ? "warn" : "info",
      "Every connection closed",
      { undelivered_frames: undelivered, unrelayed_chats: unrelayed },
    );
  }
}
