/**
 * The figures of a load test run (what `--json` writes) and the verdict
 * that decides the exit status.
 *
 * @module
 */

import type { ConnectFailures, ShardTotals } from "./_messages.ts";
import {
  addConnectFailures,
  describeConnectFailures,
  noConnectFailures,
} from "./connect_failure.ts";
import { formatCount } from "./format.ts";
import {
  addEncodedHistogram,
  createHistogram,
  distributionOf,
  type DistributionPoint,
  encodeHistogram,
  type LatencyPercentiles,
  percentilesOf,
} from "./latency_histogram.ts";
import { endpointName, endpointsOf, type LoadTestOptions } from "./options.ts";
import { compareOrders, type OrderVerdict } from "./order_check.ts";

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
    /**
     * Connections that joined, per server node (`--targets`, or the one of
     * `--host`/`--port`), in the order given.
     */
    perTarget: { target: string; opened: number }[];
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
   * The single-order check: every receiver that got every message once,
   * open to the end, must have seen them all in one order (the same order
   * hash, see order_check.ts), whichever node it is on.
   */
  order: OrderVerdict;
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
 * lost (unless allowed), duplicated, reordered or from a stranger, one
 * order for every receiver compared, every
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
  if (result.order.differing > 0) {
    failures.push(
      `order: ${formatCount(result.order.differing)} of ${
        formatCount(result.order.compared)
      } receivers saw the messages in another order than the rest`,
    );
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

/** When the phases of a run began and ended, and what the run cost. */
export interface RunTiming {
  /** Wall time of the connect phase, seconds. */
  connectPhaseSeconds: number;
  /** When publishing started (shared clock, ms). */
  start: number;
  /** When the measured window began. */
  measureFrom: number;
  /** When publishing stopped. */
  publishUntil: number;
  /** When the drain ended. */
  loadEnded: number;
  /** The process's CPU seconds from the start to the end of the drain. */
  cpuSeconds: number;
}

/** Everything a run gathered, from which {@linkcode buildResult} works. */
export interface RunRecord {
  /** The settings of the run. */
  options: LoadTestOptions;
  /** When the run began. */
  startedAt: Date;
  /** Connections asked for (see `connectionsRequested`). */
  requested: number;
  /** What each worker counted. */
  shardTotals: ShardTotals[];
  /** The phases' times. */
  timing: RunTiming;
  /** Closed loop: this process's publishers that sent nothing. */
  silentPublishers: number;
  /** The per-second figures. */
  timeline: TimelineEntry[];
  /** The process's open-file limit, for the connect failures' wording. */
  openFileLimit: number | undefined;
}

function addCounts(
  into: Record<string, number>,
  from: Record<string, number>,
): void {
  for (const [key, count] of Object.entries(from)) {
    into[key] = (into[key] ?? 0) + count;
  }
}

/**
 * The figures of a run, with its verdict, from what the workers counted:
 * counts are added and histograms merged, never percentiles. Pure: reads no
 * clock and no system state.
 *
 * @param record What the run gathered.
 * @returns The result, as `--json` writes it.
 */
export function buildResult(record: RunRecord): LoadTestResult {
  const { options, shardTotals, timing } = record;
  const latency = createHistogram();
  const sendLag = createHistogram();
  const connectTimes = createHistogram();
  const failures = noConnectFailures();
  const samples: string[] = [];
  const serverErrors: Record<string, number> = {};
  const disconnects: Record<string, number> = {};
  const sum = (pick: (totals: ShardTotals) => number) =>
    shardTotals.reduce((total, shard) => total + pick(shard), 0);
  for (const shard of shardTotals) {
    addEncodedHistogram(latency, shard.histogram);
    addEncodedHistogram(sendLag, shard.sendLagHistogram);
    addEncodedHistogram(connectTimes, shard.connectHistogram);
    addConnectFailures(failures, shard.connectFailures);
    for (const sample of shard.connectFailureSamples) {
      if (!samples.includes(sample)) samples.push(sample);
    }
    addCounts(serverErrors, shard.serverErrors);
    addCounts(disconnects, shard.disconnects);
  }
  const measuredSeconds = (timing.publishUntil - timing.measureFrom) / 1000;
  const loadSeconds = (timing.loadEnded - timing.start) / 1000;
  const opened = sum((s) => s.connected);
  const publishedMeasured = sum((s) => s.publishedMeasured);
  const deliveredMeasured = sum((s) => s.deliveredMeasured);
  const workerBusy = shardTotals.map((s) =>
    s.cpuSeconds < 0 ? -1 : Math.round(s.cpuSeconds / loadSeconds * 100) / 100
  );
  const withoutVerdict: Omit<LoadTestResult, "verdict"> = {
    tool: "hubbub loadtest",
    formatVersion: 1,
    startedAt: record.startedAt.toISOString(),
    options,
    connections: {
      requested: record.requested,
      opened,
      failed: record.requested - opened,
      perTarget: endpointsOf(options).map((endpoint, index) => ({
        target: endpointName(endpoint),
        opened: sum((s) => s.connectedPerEndpoint[index] ?? 0),
      })),
      failures,
      failureText: describeConnectFailures(
        failures,
        record.openFileLimit,
        samples,
      ),
      connectTimeMs: percentilesOf(connectTimes),
      connectPhaseSeconds: Math.round(timing.connectPhaseSeconds * 1000) /
        1000,
      originalProtocolPublishers: sum((s) => s.originalProtocolPublishers),
    },
    throughput: {
      mode: options.rate > 0 ? "open" : "closed",
      measuredSeconds,
      published: sum((s) => s.published),
      silentPublishers: record.silentPublishers,
      publishedMeasured,
      publishedPerSecond: Math.round(publishedMeasured / measuredSeconds),
      deliveredMeasured,
      deliveriesPerSecond: Math.round(deliveredMeasured / measuredSeconds),
      payloadBytesPerSecond: Math.round(
        sum((s) => s.payloadBytesMeasured) / measuredSeconds,
      ),
      wireBytesPerSecond: Math.round(
        sum((s) => s.wireBytesMeasured) / measuredSeconds,
      ),
      unsent: sum((s) => s.unsent),
    },
    sendLagMs: percentilesOf(sendLag),
    latencyMs: percentilesOf(latency),
    latencyDistribution: distributionOf(latency),
    latencyHistogram: encodeHistogram(latency),
    delivery: {
      expected: sum((s) => s.expected),
      delivered: sum((s) => s.delivered),
      lost: sum((s) => s.lost),
      duplicates: sum((s) => s.duplicates),
      reordered: sum((s) => s.reordered),
      unexpected: sum((s) => s.unexpected),
      wrongSender: sum((s) => s.wrongSender),
      publishReplyMismatches: sum((s) => s.publishReplyMismatches),
      refusalNotices: sum((s) => s.refusalNotices),
      unrelayed: sum((s) => s.unrelayed),
    },
    order: compareOrders(shardTotals.map((s) => s.order)),
    stalled: {
      joined: sum((s) => s.stalled),
      droppedByServer: sum((s) => s.stalledDropped),
    },
    errors: {
      serverErrors,
      disconnects,
      disconnectCount: Object.values(disconnects).reduce((a, b) => a + b, 0),
    },
    generator: {
      workers: options.workers,
      cpuSeconds: Math.round(timing.cpuSeconds * 1000) / 1000,
      wallSeconds: Math.round(loadSeconds * 1000) / 1000,
      cores: Math.round(timing.cpuSeconds / loadSeconds * 100) / 100,
      workerBusy,
      limitedByGenerator: workerBusy.every((busy) => busy >= 0)
        ? workerBusy.some((busy) => busy >= 0.9)
        : timing.cpuSeconds / loadSeconds >= 0.9 * options.workers,
    },
    timeline: record.timeline,
  };
  latency.destroy();
  sendLag.destroy();
  connectTimes.destroy();
  return { ...withoutVerdict, verdict: verdictOf(withoutVerdict) };
}
