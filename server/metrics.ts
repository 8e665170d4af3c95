import type { AcceptErrorKindValue } from "./transport/tcp/accept_loop.ts";
import type { DisconnectReasonValue } from "./events.ts";

/** Upper bounds (seconds) of the handler batch-duration histogram buckets. */
export const BATCH_SECONDS_BUCKETS: readonly number[] = [
  0.00001,
  0.00005,
  0.0001,
  0.0005,
  0.001,
  0.005,
  0.01,
  0.05,
  0.1,
  0.5,
  1,
];

/**
 * A cumulative-bucket histogram in the Prometheus style: fixed upper bounds,
 * a count per bucket, a sum and a total count.
 */
export class BucketHistogram {
  /** The upper bounds, ascending. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last is +Inf. */
  readonly counts: number[];
  /** Sum of every observation. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  /** @param bounds Upper bounds, ascending. */
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array(bounds.length + 1).fill(0);
  }

  /**
   * Record one observation.
   *
   * @param value The value, in the unit of the bounds.
   */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/**
 * The server's counters. Plain number fields, bumped by the hub on its hot
 * path without allocation; read by the `/metrics` and `/stats` endpoints.
 */
export class Metrics {
  /** Connections accepted (including refused ones). */
  connects = 0;
  /** Disconnects by reason. */
  readonly disconnects = new Map<DisconnectReasonValue, number>();
  /** Failed accepts by kind (see `AcceptErrorKind`). */
  readonly acceptErrors = new Map<AcceptErrorKindValue, number>();
  /** Frames received from clients. */
  framesIn = 0;
  /** Bytes received from clients. */
  bytesIn = 0;
  /** Frames queued to clients (one per recipient). */
  framesOut = 0;
  /** Bytes written to clients. */
  bytesOut = 0;
  /** Socket writes made (each carries every frame pending for a client). */
  writes = 0;
  /** CHAT frames accepted for relay (each once, however many recipients). */
  chatsRelayed = 0;
  /** CHAT frames queued to recipients (one per recipient). */
  deliveries = 0;
  /** Frames dropped by rate limits (per client, per address, control frames). */
  rateLimitedFrames = 0;
  /** AUTH frames with a wrong token. */
  authFailures = 0;
  /**
   * Frames queued to clients that had not been written when a shutdown
   * closed their connections (the grace ran out, or the peer went away).
   */
  shutdownUndeliveredFrames = 0;
  /** CHAT frames read from clients but not relayed because a shutdown had begun. */
  shutdownUnrelayedChats = 0;
  /** Event batches the hub has handled. */
  batches = 0;
  /** Events the hub has handled. */
  events = 0;
  /** How long the hub took per batch, in seconds. */
  readonly batchSeconds = new BucketHistogram(BATCH_SECONDS_BUCKETS);

  /**
   * Count a disconnect.
   *
   * @param reason Why the client left.
   */
  countDisconnect(reason: DisconnectReasonValue): void {
    this.disconnects.set(reason, (this.disconnects.get(reason) ?? 0) + 1);
  }

  /**
   * Count a failed accept.
   *
   * @param kind What it failed on.
   */
  countAcceptError(kind: AcceptErrorKindValue): void {
    this.acceptErrors.set(kind, (this.acceptErrors.get(kind) ?? 0) + 1);
  }
}
