/**
 * The load generator's main thread: start the workers, hand each its share
 * of the connections, set the schedule, merge what they report (exactly:
 * counts are added and HDR histograms merged, never percentiles), and build
 * the {@linkcode LoadTestResult}.
 *
 * @module
 */

import process from "node:process";
import { StartupError, workerUrl } from "../../cli/mod.ts";
import type {
  ConnectFailures,
  FromShard,
  ShardPlan,
  ShardTotals,
  TickReport,
  ToShard,
} from "./_messages.ts";
import {
  describeConnectFailures,
  noConnectFailures,
  openFileLimit,
} from "./connect_failure.ts";
import {
  addEncodedHistogram,
  createHistogram,
  distributionOf,
  encodeHistogram,
  type Histogram,
  percentilesOf,
} from "./latency_histogram.ts";
import { connectionsRequested, type LoadTestOptions } from "./options.ts";
import { sharedClockMs } from "./payload.ts";
import {
  type LoadTestResult,
  type Phase,
  type TimelineEntry,
  verdictOf,
} from "./result.ts";

/** What the main thread tells the caller while a run goes on. */
export interface LoadTestProgress {
  /** Seconds since the run began. */
  elapsedSeconds: number;
  /** The current phase. */
  phase: Phase;
  /** Connections open. */
  connections: number;
  /** Messages sent during the last second. */
  sentPerSecond: number;
  /** Deliveries during the last second. */
  deliveredPerSecond: number;
  /** p99 latency of every delivery so far, ms. */
  p99SoFarMs: number;
}

/** Callbacks and controls of {@linkcode runLoadTest}. */
export interface LoadTestHooks {
  /** Called once a second with the merged figures of that second. */
  onProgress?: (progress: LoadTestProgress) => void;
  /** Called once every connection has been tried. */
  onConnected?: (opened: number, requested: number, seconds: number) => void;
  /** Aborting stops publishing early; the run then drains and reports. */
  signal?: AbortSignal;
}

/** Longest a worker may take to answer a step that has no timing of its own. */
const WORKER_REPLY_TIMEOUT_MS = 30_000;
/** Pause between "connected" and the first send, so every worker is ready. */
const START_DELAY_MS = 100;

/** One step's replies: resolves when every worker has sent one. */
class Gather<T> {
  readonly replies: T[] = [];
  readonly done: Promise<T[]>;
  #expected: number;
  #resolve!: (replies: T[]) => void;

  constructor(expected: number) {
    this.#expected = expected;
    this.done = new Promise((resolve) => this.#resolve = resolve);
    if (expected === 0) this.#resolve(this.replies);
  }

  add(reply: T): void {
    this.replies.push(reply);
    if (this.replies.length === this.#expected) this.#resolve(this.replies);
  }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`Load generator workers did not ${what} in time`)),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function cpuSecondsOfProcess(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

function addFailures(into: ConnectFailures, from: ConnectFailures): void {
  for (const key of Object.keys(into) as (keyof ConnectFailures)[]) {
    into[key] += from[key];
  }
}

function addCounts(
  into: Record<string, number>,
  from: Record<string, number>,
): void {
  for (const [key, count] of Object.entries(from)) {
    into[key] = (into[key] ?? 0) + count;
  }
}

/** Merges the workers' per-second reports into the timeline. */
class Timeline {
  readonly entries: TimelineEntry[] = [];
  readonly soFar: Histogram = createHistogram();
  #pending = new Map<number, TickReport[]>();
  #workers: number;
  #phaseAt: (time: number) => Phase;
  #origin: number;
  #onEntry: (entry: TimelineEntry) => void;

  constructor(
    workers: number,
    origin: number,
    phaseAt: (time: number) => Phase,
    onEntry: (entry: TimelineEntry) => void,
  ) {
    this.#workers = workers;
    this.#origin = origin;
    this.#phaseAt = phaseAt;
    this.#onEntry = onEntry;
  }

  add(report: TickReport): void {
    const reports = this.#pending.get(report.tick) ?? [];
    reports.push(report);
    this.#pending.set(report.tick, reports);
    if (reports.length === this.#workers) {
      this.#pending.delete(report.tick);
      this.#emit(report.tick, reports);
    }
  }

  #emit(tick: number, reports: TickReport[]): void {
    const histogram = createHistogram();
    let cores = 0;
    const entry: TimelineEntry = {
      second: tick + 1,
      phase: this.#phaseAt(this.#origin + tick * 1000 + 500),
      connections: 0,
      sent: 0,
      delivered: 0,
      payloadBytes: 0,
      wireBytes: 0,
      latencyMs: percentilesOf(histogram),
      generatorCores: 0,
      disconnects: 0,
    };
    for (const report of reports) {
      entry.connections += report.connections;
      entry.sent += report.sent;
      entry.delivered += report.delivered;
      entry.payloadBytes += report.payloadBytes;
      entry.wireBytes += report.wireBytes;
      entry.disconnects += report.disconnects;
      if (cores >= 0 && report.cpuSeconds >= 0) cores += report.cpuSeconds;
      else cores = -1;
      addEncodedHistogram(histogram, report.histogram);
    }
    entry.generatorCores = cores < 0 ? -1 : Math.round(cores * 100) / 100;
    entry.latencyMs = percentilesOf(histogram);
    this.soFar.add(histogram);
    histogram.destroy();
    this.entries.push(entry);
    this.#onEntry(entry);
  }
}

/**
 * Run a load test.
 *
 * @param options The settings (see `options.ts`).
 * @param hooks Progress callbacks and an abort signal.
 * @returns Every figure of the run, with the verdict.
 * @throws {StartupError} When no connection could be opened at all.
 *
 * @example Usage
 * ```ts no-eval
 * import { DEFAULT_OPTIONS, runLoadTest } from "./mod.ts";
 * const result = await runLoadTest({ ...DEFAULT_OPTIONS, clients: 20, durationSeconds: 2 });
 * console.log(result.throughput.deliveriesPerSecond, result.delivery.lost);
 * ```
 */
export async function runLoadTest(
  options: LoadTestOptions,
  hooks: LoadTestHooks = {},
): Promise<LoadTestResult> {
  const startedAt = new Date();
  const origin = sharedClockMs();
  const workerCount = options.workers;
  const publisherIndexes = Math.max(
    options.totalPublishers,
    options.publisherOffset + options.publishers,
  );
  const requested = connectionsRequested(options);

  let schedule = {
    start: Infinity,
    measureFrom: Infinity,
    publishUntil: Infinity,
  };
  const phaseAt = (time: number): Phase => {
    if (time < schedule.start) return "connect";
    if (time < schedule.measureFrom) return "warmup";
    if (time < schedule.publishUntil) return "measure";
    return "drain";
  };
  const timeline = new Timeline(workerCount, origin, phaseAt, (entry) => {
    hooks.onProgress?.({
      elapsedSeconds: entry.second,
      phase: entry.phase,
      connections: entry.connections,
      sentPerSecond: entry.sent,
      deliveredPerSecond: entry.delivered,
      p99SoFarMs: percentilesOf(timeline.soFar).p99,
    });
  });

  const connected = new Gather<Extract<FromShard, { kind: "connected" }>>(
    workerCount,
  );
  const published = new Gather<Extract<FromShard, { kind: "published" }>>(
    workerCount,
  );
  const drained = new Gather<true>(workerCount);
  const totals = new Gather<ShardTotals>(workerCount);
  let failWorkers: (error: Error) => void = () => {};
  const workerFailure = new Promise<never>((_, reject) => {
    failWorkers = reject;
  });
  workerFailure.catch(() => {});

  const workers: Worker[] = [];
  const tickers: Worker[] = [];
  const send = (message: ToShard) => {
    for (const worker of workers) worker.postMessage(message);
  };
  for (let shard = 0; shard < workerCount; shard++) {
    const worker = new Worker(workerUrl("worker", import.meta.url), {
      type: "module",
    });
    worker.onmessage = (event: MessageEvent<FromShard>) => {
      const message = event.data;
      switch (message.kind) {
        case "connected":
          connected.add(message);
          break;
        case "tick":
          timeline.add(message.report);
          break;
        case "published":
          published.add(message);
          break;
        case "drained":
          drained.add(true);
          break;
        case "totals":
          totals.add(message.totals);
          break;
        case "failed":
          failWorkers(
            new Error(`Load generator worker failed: ${message.message}`),
          );
          break;
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      failWorkers(new Error(`Load generator worker failed: ${event.message}`));
    };
    workers.push(worker);
    const plan: ShardPlan = {
      shard,
      shards: workerCount,
      target: options.target,
      channel: options.channel,
      hostname: options.host,
      port: options.port,
      clients: options.clients,
      idle: options.idle,
      idleRoom: options.idleRoom,
      stalled: options.stalled,
      publishers: options.publishers,
      publisherOffset: options.publisherOffset,
      publisherIndexes,
      size: options.size,
      rate: options.rate,
      window: options.window,
      connectRate: options.connectRate / workerCount,
      connectTimeoutMs: options.connectTimeoutSeconds * 1000,
      tls: options.tls,
      caCerts: options.caCerts,
      token: options.token,
      transport: options.transport,
      origin,
    };
    let tickerPort: MessagePort | null = null;
    if (options.rate > 0 && options.publishers > 0) {
      // The open-loop ticker: started here, not by the worker (see
      // _ticker_worker.ts), and wired to the worker by a channel.
      const ticker = new Worker(
        workerUrl("_ticker_worker", import.meta.url),
        { type: "module" },
      );
      tickers.push(ticker);
      const channel = new MessageChannel();
      ticker.postMessage({ port: channel.port1 }, [channel.port1]);
      tickerPort = channel.port2;
    }
    worker.postMessage(
      { kind: "plan", plan, tickerPort } satisfies ToShard,
      tickerPort === null ? [] : [tickerPort],
    );
  }

  try {
    return await Promise.race([
      workerFailure,
      drive(),
    ]);
  } finally {
    for (const worker of [...workers, ...tickers]) worker.terminate();
    timeline.soFar.destroy();
  }

  async function drive(): Promise<LoadTestResult> {
    // Connect.
    const connectTimeoutMs = options.connectTimeoutSeconds * 1000;
    const connectBudget = options.connectRate > 0
      ? (requested / options.connectRate) * 1000 + connectTimeoutMs
      : connectTimeoutMs * Math.ceil(requested / 128 / workerCount + 1);
    const connectReplies = await within(
      connected.done,
      connectBudget + WORKER_REPLY_TIMEOUT_MS,
      "finish connecting",
    );
    const opened = connectReplies.reduce((sum, r) => sum + r.connected, 0);
    const connectPhaseSeconds = (sharedClockMs() - origin) / 1000;
    hooks.onConnected?.(opened, requested, connectPhaseSeconds);
    if (opened === 0) {
      send({ kind: "finish" });
      const shardTotals = await within(totals.done, 5000, "stop");
      const failures = noConnectFailures();
      const samples: string[] = [];
      for (const shard of shardTotals) {
        addFailures(failures, shard.connectFailures);
        samples.push(...shard.connectFailureSamples);
      }
      throw new StartupError(
        `Cannot connect to ${options.host}:${options.port}: ${
          describeConnectFailures(failures, openFileLimit(), samples).join(", ")
        }`,
      );
    }

    // Publish.
    const senderIds = new Array<number>(publisherIndexes).fill(0);
    for (const reply of connectReplies) {
      for (const [index, id] of reply.senderIds) senderIds[index] = id;
    }
    const start = Math.max(sharedClockMs() + START_DELAY_MS, options.startAt);
    const measureFrom = start + options.warmupSeconds * 1000;
    const publishUntil = measureFrom + options.durationSeconds * 1000;
    const drainMs = options.drainSeconds * 1000;
    schedule = { start, measureFrom, publishUntil };
    const cpuBefore = cpuSecondsOfProcess();
    send({
      kind: "start",
      schedule: {
        start,
        measureFrom,
        publishUntil,
        sendBacklogUntil: publishUntil + Math.max(1000, drainMs / 2),
        senderIds,
      },
    });
    const onAbort = () => send({ kind: "stop" });
    hooks.signal?.addEventListener("abort", onAbort, { once: true });
    if (hooks.signal?.aborted) onAbort();

    const publishedReplies = await within(
      published.done,
      publishUntil - sharedClockMs() + drainMs + WORKER_REPLY_TIMEOUT_MS,
      "finish publishing",
    );
    hooks.signal?.removeEventListener("abort", onAbort);
    const publishedCounts = new Array<number>(publisherIndexes).fill(0);
    for (const reply of publishedReplies) {
      for (const [index, count] of reply.published) {
        publishedCounts[index] += count;
      }
    }
    const ownFrom = options.publisherOffset;
    const ownUntil = options.publisherOffset + options.publishers;
    for (let index = 0; index < publisherIndexes; index++) {
      if (index >= ownFrom && index < ownUntil) continue;
      // Another process's publisher: the most any receiver saw.
      for (const reply of publishedReplies) {
        publishedCounts[index] = Math.max(
          publishedCounts[index],
          reply.highestSeen[index],
        );
      }
    }

    let silentPublishers = 0;
    if (options.rate === 0) {
      for (let index = ownFrom; index < ownUntil; index++) {
        if (publishedCounts[index] === 0) silentPublishers++;
      }
    }

    // Drain.
    const drainBegan = sharedClockMs();
    send({ kind: "published-totals", published: publishedCounts });
    const drainDeadline = Math.max(publishUntil + drainMs, drainBegan);
    await Promise.race([
      drained.done,
      delay(drainDeadline - sharedClockMs()),
    ]);
    const loadEnded = sharedClockMs();
    const cpuAfter = cpuSecondsOfProcess();
    send({ kind: "finish" });
    const shardTotals = await within(
      totals.done,
      WORKER_REPLY_TIMEOUT_MS,
      "report their totals",
    );
    // Let the last ticks arrive before the workers are terminated.
    await delay(0);
    return buildResult(shardTotals, {
      connectPhaseSeconds,
      start,
      measureFrom,
      publishUntil,
      loadEnded,
      cpuSeconds: cpuAfter - cpuBefore,
    }, silentPublishers);
  }

  function buildResult(
    shardTotals: ShardTotals[],
    timing: {
      connectPhaseSeconds: number;
      start: number;
      measureFrom: number;
      publishUntil: number;
      loadEnded: number;
      cpuSeconds: number;
    },
    silentPublishers: number,
  ): LoadTestResult {
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
      addFailures(failures, shard.connectFailures);
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
      startedAt: startedAt.toISOString(),
      options,
      connections: {
        requested,
        opened,
        failed: requested - opened,
        failures,
        failureText: describeConnectFailures(
          failures,
          openFileLimit(),
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
        silentPublishers,
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
        workers: workerCount,
        cpuSeconds: Math.round(timing.cpuSeconds * 1000) / 1000,
        wallSeconds: Math.round(loadSeconds * 1000) / 1000,
        cores: Math.round(timing.cpuSeconds / loadSeconds * 100) / 100,
        workerBusy,
        limitedByGenerator: workerBusy.every((busy) => busy >= 0)
          ? workerBusy.some((busy) => busy >= 0.9)
          : timing.cpuSeconds / loadSeconds >= 0.9 * workerCount,
      },
      timeline: timeline.entries,
    };
    latency.destroy();
    sendLag.destroy();
    connectTimes.destroy();
    return { ...withoutVerdict, verdict: verdictOf(withoutVerdict) };
  }
}
