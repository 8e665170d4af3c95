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
  FromShard,
  ShardPlan,
  ShardTotals,
  TickReport,
  ToShard,
} from "./_messages.ts";
import {
  addConnectFailures,
  describeConnectFailures,
  noConnectFailures,
  openFileLimit,
} from "./connect_failure.ts";
import {
  addEncodedHistogram,
  createHistogram,
  type Histogram,
  percentilesOf,
} from "./latency_histogram.ts";
import {
  connectionsRequested,
  describeEndpoints,
  endpointsOf,
  type LoadTestOptions,
} from "./options.ts";
import { sharedClockMs } from "./payload.ts";
import {
  buildResult,
  type LoadTestResult,
  type Phase,
  type TimelineEntry,
} from "./result.ts";
import { withinTime } from "./_time_limit.ts";

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
  return withinTime(
    promise,
    ms,
    () => new Error(`Load generator workers did not ${what} in time`),
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function cpuSecondsOfProcess(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
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
      endpoints: endpointsOf(options).map(({ host, port }) => ({
        hostname: host,
        port,
      })),
      awaitJoinConfirmation: options.targets.length > 0 &&
        options.target === "hubbub",
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
        addConnectFailures(failures, shard.connectFailures);
        samples.push(...shard.connectFailureSamples);
      }
      throw new StartupError(
        `Cannot connect to ${describeEndpoints(options)}: ${
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
    return buildResult({
      options,
      startedAt,
      requested,
      shardTotals,
      timing: {
        connectPhaseSeconds,
        start,
        measureFrom,
        publishUntil,
        loadEnded,
        cpuSeconds: cpuAfter - cpuBefore,
      },
      silentPublishers,
      timeline: timeline.entries,
      openFileLimit: openFileLimit(),
    });
  }
}
