import type { DisconnectReasonValue } from "./events.ts";

/**
 * The server's counters. Plain number fields, bumped by the hub on its hot
 * path without allocation; read by the stats and metrics endpoints.
 */
export class Metrics {
  /** Connections accepted (including refused ones). */
  connects = 0;
  /** Disconnects by reason. */
  readonly disconnects = new Map<DisconnectReasonValue, number>();
  /** Frames received from clients. */
  framesIn = 0;
  /** Bytes received from clients. */
  bytesIn = 0;
  /** Frames queued to clients (one per recipient). */
  framesOut = 0;
  /** CHAT frames relayed (each counted once, however many recipients). */
  chatsRelayed = 0;
  /** Event batches the hub has handled. */
  batches = 0;
  /** Events the hub has handled. */
  events = 0;

  /**
   * Count a disconnect.
   *
   * @param reason Why the client left.
   */
  countDisconnect(reason: DisconnectReasonValue): void {
    this.disconnects.set(reason, (this.disconnects.get(reason) ?? 0) + 1);
  }
}
