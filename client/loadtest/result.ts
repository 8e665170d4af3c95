/**
 * The figures of a load test run (what `--json` writes) and the verdict
 * that decides the exit status.
 *
 * @module
 */

import type { ConnectFailures } from "./_messages.ts";
import { formatCount } from "./format.ts";
import type {
  DistributionPoint,
  LatencyPercentiles,
} from "./latency_histogram.ts";
import type { LoadTestOptions } from "./options.ts";

/** Where in the run a second of the timeline falls. */
export type Phase = "connect" | "warmup" | "measure" | "drain";

/** One second of the run. */
export interface TimelineEntry {
  /** Seconds since the run began (the end of this second). */
  second: number;
  /** The phase this second mostly belongs to. */
  phase: Phase;
  /** Connections open at the end of the second. */
  connections: number;
  /** Messages sent during the second. */
  sent: number;
  /** Deliveries received during the second. */
  delivered: number;
  /** Payload bytes delivered during the second. */
  payloadBytes: number;
  /** Bytes read from sockets during the second. */
  wireBytes: number;
  /** Latency of the second's deliveries (all of them, warmup included). */
  latencyMs: LatencyPercentiles;
  /** Generator worker threads' CPU use during the second, in cores (-1: unknown). */
  generatorCores: number;
  /** Connections lost during the second. */
  disconnects: number;
}

/** Every figure of a run. */
export interface LoadTestResult {
  /** Which tool wrote this. */
  tool: "hubbub loadtest";
  /** Version of this layout. */
  formatVersion: 1;
  /** When the run began (ISO 8601). */
  startedAt: string;
  /** The settings of the run. */
  options: LoadTestOptions;
  /** The connect phase. */
  connections: {
    /** Connections asked for: clients, idle, stalled, and separate publisher connections. */
    requested: number;
    /** Connections that joined. */
    opened: number;
    /** Connections that did not. */
    failed: number;
    /** Failures by cause. */
    failures: ConnectFailures;
    /** The failures in plain words. */
    failureText: string[];
    /** Time to connect and join, per connection. */
    connectTimeMs: LatencyPercentiles;
    /** Wall time of the whole connect phase, seconds. */
    connectPhaseSeconds: number;
    /**
     * hubbub target: publishers whose server never sent a tag above CLOSE
     * (no answer to the PING every connection sends: the original Rust
     * server), so they sent one frame per write, each once a receiver had
     * the last.
     */
    originalProtocolPublishers: number;
  };
  /** Throughput over the measured window. */
  throughput: {
    /** `open` (fixed rate) or `closed` (window per publisher). */
    mode: "open" | "closed";
    /** Length of the measured window, seconds. */
    measuredSeconds: number;
    /** Messages published in all, warmup included. */
    published: number;
    /**
     * Closed loop: this process's publishers that sent nothing in the whole
     * run (a window that never opened); always 0 in open loop.
     */
    silentPublishers: number;
    /** Messages published in the measured window. */
    publishedMeasured: number;
    /** Messages published per second. */
    publishedPerSecond: number;
    /** Deliveries of measured messages. */
    deliveredMeasured: number;
    /** Deliveries per second (every receiver counts). */
    deliveriesPerSecond: number;
    /**
     * Payload bytes delivered per second, over the measured window (bytes
     * that arrived in it, as for the wire figure).
     */
    payloadBytesPerSecond: number;
    /**
     * Bytes read from sockets per second over the same window: payloads,
     * framing, other frames and idle connections' bytes.
     */
    wireBytesPerSecond: number;
    /** Open loop: messages that were due but never sent (the rate was not kept). */
    unsent: number;
  };
  /**
   * Open loop: how late the generator sent each batch after its intended
   * time (its own timer plus the server pushing back); included in the
   * latency. Empty in closed loop.
   */
  sendLagMs: LatencyPercentiles;
  /** End-to-end latency of measured deliveries, from the intended send time. */
  latencyMs: LatencyPercentiles;
  /** Percentile spectrum of the same latencies. */
  latencyDistribution: DistributionPoint[];
  /** The same latencies as an encoded HDR histogram (µs), to merge runs. */
  latencyHistogram: string;
  /** Exact delivery accounting over the whole run, warmup included. */
  delivery: {
    /** Deliveries expected: messages published × receivers that joined. */
    expected: number;
    /** Deliveries received. */
    delivered: number;
    /** Expected deliveries that never arrived. */
    lost: number;
    /** Deliveries that arrived more than once. */
    duplicates: number;
    /** Deliveries that arrived after a later one from the same publisher. */
    reordered: number;
    /** Deliveries from publishers outside the run, or not our payload. */
    unexpected: number;
    /** Deliveries stamped with another sender id than the publisher's. */
    wrongSender: number;
    /** Redis: PUBLISH replies reporting fewer subscribers than expected. */
    publishReplyMismatches: number;
    /**
     * hubbub: ERROR notices about refused CHAT frames (its rate limit sends
     * one a second, however many it drops).
     */
    refusalNotices: number;
    /**
     * hubbub: published messages no receiver got, the publisher's own
     * connection (open to the end) included: the server relayed them to
     * nobody (with refusal notices: its rate limit refused them). Exact.
     */
    unrelayed: number;
  };
  /**
   * The connections that stopped reading once joined (`--stalled`): not
   * checked, and their end is not a failure; the server is expected to drop
   * them once their queue is full (slow-consumer policy).
   */
  stalled: {
    /** Stalled connections that joined. */
    joined: number;
    /**
     * Those the server no longer served at the end of the run: after the
     * run each reads again and probes the server (hubbub PING, Redis PING);
     * counted here when no answer came, because the server closed it or it
     * fell silent.
     */
    droppedByServer: number;
  };
  /** What went wrong on the connections. */
  errors: {
    /** Error texts the server sent, with counts. */
    serverErrors: Record<string, number>;
    /** Connections lost during the run, by cause. */
    disconnects: Record<string, number>;
    /** Connections lost during the run. */
    disconnectCount: number;
  };
  /** The generator's own cost, to tell when it, not the server, was the limit. */
  generator: {
    /** Worker threads. */
    workers: number;
    /** CPU seconds of the whole generator process during the load phase. */
    cpuSeconds: number;
    /** Wall seconds of the load phase. */
    wallSeconds: number;
    /** Average cores the generator used during the load phase. */
    cores: number;
    /**
     * Each worker thread's busy share of the load phase, 0 to 1; -1 where
     * it could not be read (a runtime without `process.threadCpuUsage()`
     * and without access to `/proc/thread-self`).
     */
    workerBusy: number[];
    /**
     * True when a worker was busy 90% of the time or more (or, without
     * per-thread figures, the process used 90% of a core per worker).
     */
    limitedByGenerator: boolean;
  };
  /** One entry per second. */
  timeline: TimelineEntry[];
  /** Pass or fail, and why. */
  verdict: {
    /** True when the run met every requirement. */
    passed: boolean;
    /** What failed, in plain words. */
    failures: string[];
  };
}

/**
 * hubbub's default per-client message rate (`--max-msgs-per-sec` in
 * server/server.ts; a test keeps the two equal): runs faster per publisher
 * meet it first.
 */
export const HUBBUB_DEFAULT_MESSAGES_PER_SECOND = 1000;

/** The flag and value that lift hubbub's rate limits. */
const RATE_LIMIT_FIX = "--max-msgs-per-sec 0";

/**
 * Why published messages reached no receiver, with the fix, in one
 * sentence; `null` when every one reached someone.
 *
 * @param result The figures.
 * @returns The explanation, or `null`.
 */
export function unrelayedExplanation(
  result: Pick<
    LoadTestResult,
    "delivery" | "options" | "errors" | "throughput"
  >,
): string | null {
  const { delivery, options, throughput } = result;
  if (delivery.unrelayed === 0) return null;
  const messages = `${
    formatCount(delivery.unrelayed)
  } published messages reached no receiver`;
  if (delivery.refusalNotices === 0) {
    return `${messages}: the server relayed them to nobody`;
  }
  const notice = Object.keys(result.errors.serverErrors).find((text) =>
    /rate limit/i.test(text)
  );
  const perPublisher = Math.round(
    (options.rate > 0 ? options.rate : throughput.publishedPerSecond) /
      Math.max(1, options.publishers),
  );
  return `${messages}: the server refused them (${
    formatCount(delivery.refusalNotices)
  } ERROR notices${
    notice === undefined ? "" : `: '${notice}'`
  }), its per-client rate limit (hubbub's default: ${
    formatCount(HUBBUB_DEFAULT_MESSAGES_PER_SECOND)
  } msg/s; this run sent ${
    formatCount(perPublisher)
  } msg/s per publisher); start the server with ${RATE_LIMIT_FIX}`;
}

/**
 * A warning before the run when each publisher is to send more than hubbub
 * lets one client send by default; `null` otherwise.
 *
 * @param options The run's settings.
 * @returns The warning, or `null`.
 */
export function rateLimitWarning(options: LoadTestOptions): string | null {
  if (options.target !== "hubbub" || options.publishers === 0) return null;
  const perPublisher = options.rate / options.publishers;
  if (options.rate > 0 && perPublisher <= HUBBUB_DEFAULT_MESSAGES_PER_SECOND) {
    return null;
  }
  const pace = options.rate > 0
    ? `${formatCount(Math.round(perPublisher))} msg/s per publisher is`
    : "closed loop sends as fast as the server takes, likely";
  return `Warning: ${pace} over hubbub's default per-client limit of ${
    formatCount(HUBBUB_DEFAULT_MESSAGES_PER_SECOND)
  } msg/s: unless the server runs with ${RATE_LIMIT_FIX} it refuses the excess and every receiver loses it`;
}

/**
 * Decide whether a run passed: every publisher sent (closed loop), nothing
 * lost (unless allowed), duplicated, reordered or from a stranger, every
 * connection open to the end, the rate kept, and p99 within the limit.
 *
 * @param result The figures (its `verdict` is ignored).
 * @returns The verdict.
 */
export function verdictOf(
  result: Omit<LoadTestResult, "verdict">,
): LoadTestResult["verdict"] {
  const failures: string[] = [];
  const { delivery, options } = result;
  if (result.throughput.silentPublishers > 0) {
    failures.push(
      `${result.throughput.silentPublishers} of ${options.publishers} publishers sent nothing`,
    );
  }
  if (delivery.lost > 0 && !options.allowLoss) {
    const explanation = unrelayedExplanation(result);
    failures.push(
      `${formatCount(delivery.lost)} deliveries lost${
        explanation === null ? "" : ` (${explanation})`
      }`,
    );
  }
  if (delivery.duplicates > 0) {
    failures.push(`${delivery.duplicates} deliveries duplicated`);
  }
  if (delivery.reordered > 0) {
    failures.push(`${delivery.reordered} deliveries out of order`);
  }
  if (delivery.unexpected > 0) {
    failures.push(`${delivery.unexpected} messages from unexpected senders`);
  }
  if (delivery.wrongSender > 0) {
    failures.push(
      `${delivery.wrongSender} deliveries stamped with the wrong sender id`,
    );
  }
  if (result.connections.failed > 0) {
    failures.push(`${result.connections.failed} connections failed`);
  }
  if (result.errors.disconnectCount > 0 && !options.allowLoss) {
    failures.push(`${result.errors.disconnectCount} connections dropped`);
  }
  if (result.throughput.unsent > 0 && !options.allowLoss) {
    failures.push(
      `${result.throughput.unsent} messages were due but never sent (the rate was not kept)`,
    );
  }
  if (options.maxP99Ms > 0 && result.latencyMs.p99 > options.maxP99Ms) {
    failures.push(
      `p99 latency ${result.latencyMs.p99} ms is over the ${options.maxP99Ms} ms limit`,
    );
  }
  return { passed: failures.length === 0, failures };
}
