/**
 * The benchmark's runs: one load-generator run against a server with the
 * server's CPU time measured around it; memory per idle connection; and a
 * broadcast to 19,000 connections from two generator processes.
 *
 * @module
 */

import type { LoadTestResult } from "../client/loadtest/mod.ts";
import {
  addEncodedHistogram,
  createHistogram,
  percentilesOf,
} from "../client/loadtest/mod.ts";
import { startGenerator } from "./generator.ts";
import type { ServerUnderTest } from "./servers.ts";

/** Where the generator and the server run. */
export interface Placement {
  /** Core for the server, or null for no pinning. */
  serverCore: number | null;
  /** Core for the generator, or null for no pinning. */
  generatorCore: number | null;
}

/** The figures of one run against one server. */
export interface RunFigures {
  /** Deliveries per second over the measured window. */
  deliveriesPerSecond: number;
  /** Messages published per second over the measured window. */
  publishedPerSecond: number;
  /** Latency percentiles, ms. */
  latencyMs: {
    p50: number;
    p90: number;
    p99: number;
    p99_9: number;
    max: number;
  };
  /** Deliveries lost, duplicated, out of order (whole run). */
  lost: number;
  /** Deliveries duplicated. */
  duplicates: number;
  /** Deliveries out of order. */
  reordered: number;
  /** Connections dropped during the run. */
  disconnects: number;
  /** The generator's verdict. */
  passed: boolean;
  /** Why it failed, if it did. */
  failures: string[];
  /** Server CPU seconds over the whole generator run. */
  serverCpuSeconds: number;
  /** Deliveries the server made (published × the connections in the room). */
  serverDeliveries: number;
  /** Server CPU seconds per million deliveries. */
  serverCpuPerMillionDeliveries: number;
  /** Generator cores used during the load phase. */
  generatorCores: number;
  /** Busiest generator worker's share of the load phase (-1: unknown). */
  generatorBusiest: number;
  /** True when the generator may have been the limit. */
  limitedByGenerator: boolean;
  /** Connections that joined and then stopped reading (`--stalled`). */
  stalledJoined: number;
  /** Of those, the ones the server dropped during the run. */
  stalledDropped: number;
  /** The server's peak resident memory by the end of the run, bytes. */
  serverPeakResidentBytes: number;
  /** Open loop, repeated rows: the p99 of every run, in run order. */
  p99Runs?: number[];
  /** Repeated rows: the stalled connections dropped in every run, in run order. */
  stalledDroppedRuns?: number[];
}

function round(value: number, digits = 3): number {
  const factor = Math.pow(10, digits);
  return Math.round(value * factor) / factor;
}

/**
 * Run the generator once against a server and measure the server's CPU.
 *
 * @param server The server under test.
 * @param args Generator arguments besides target, port and `--json`.
 * @param placement Core pinning.
 * @param singleThreadedGc Latency runs: see {@linkcode startGenerator}.
 * @param port The port the generator connects to (the server's WebSocket
 * gateway's, with `--transport ws` in `args`).
 * @returns The run's figures and the generator's full result.
 */
export async function measureRun(
  server: ServerUnderTest,
  args: string[],
  placement: Placement,
  singleThreadedGc = false,
  port: number = server.port,
): Promise<{ figures: RunFigures; result: LoadTestResult }> {
  const cpuBefore = server.cpuSeconds();
  const run = startGenerator(
    [
      "--target",
      server.target,
      "--port",
      `${port}`,
      "--quiet",
      ...args,
    ],
    placement.generatorCore,
    singleThreadedGc,
  );
  const { result } = await run.finished;
  const serverCpu = server.cpuSeconds() - cpuBefore;
  const serverPeakResidentBytes = server.peakResidentBytes();
  // Idle connections in a room of their own receive nothing. (Stalled ones
  // are left out: how much they were sent depends on when they were dropped.)
  const room = result.options.clients +
    (result.options.idleRoom === "" ? result.options.idle : 0);
  const serverDeliveries = result.throughput.published * room;
  const busiest = Math.max(...result.generator.workerBusy);
  return {
    result,
    figures: {
      deliveriesPerSecond: result.throughput.deliveriesPerSecond,
      publishedPerSecond: result.throughput.publishedPerSecond,
      latencyMs: {
        p50: result.latencyMs.p50,
        p90: result.latencyMs.p90,
        p99: result.latencyMs.p99,
        p99_9: result.latencyMs.p99_9,
        max: result.latencyMs.max,
      },
      lost: result.delivery.lost,
      duplicates: result.delivery.duplicates,
      reordered: result.delivery.reordered,
      disconnects: result.errors.disconnectCount,
      passed: result.verdict.passed,
      failures: result.verdict.failures,
      serverCpuSeconds: round(serverCpu, 2),
      serverDeliveries,
      serverCpuPerMillionDeliveries: serverDeliveries > 0
        ? round(serverCpu / (serverDeliveries / 1e6))
        : 0,
      generatorCores: result.generator.cores,
      generatorBusiest: busiest,
      limitedByGenerator: result.generator.limitedByGenerator,
      stalledJoined: result.stalled.joined,
      stalledDropped: result.stalled.droppedByServer,
      serverPeakResidentBytes,
    },
  };
}

/** Memory a server spends per idle connection. */
export interface MemoryFigures {
  /** Connections held. */
  connections: number;
  /** Connections that actually joined. */
  opened: number;
  /** Resident memory before, bytes. */
  residentBefore: number;
  /** Resident memory with every connection open, bytes. */
  residentAfter: number;
  /** (after − before) / connections, bytes. */
  bytesPerConnection: number;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Hold `connections` idle connections to a fresh server and measure its
 * resident memory before and after.
 *
 * @param server A freshly started server.
 * @param connections How many to hold.
 * @param placement Core pinning.
 * @returns The memory figures.
 */
export async function measureIdleMemory(
  server: ServerUnderTest,
  connections: number,
  placement: Placement,
): Promise<MemoryFigures> {
  await delay(1000);
  const residentBefore = server.residentBytes();
  const run = startGenerator(
    [
      "--target",
      server.target,
      "--port",
      `${server.port}`,
      "--clients",
      `${connections}`,
      "--publishers",
      "0",
      // Receive-only (the generator refuses 0 publishers otherwise).
      "--total-publishers",
      "1",
      "--warmup",
      "0",
      "--duration",
      "4",
      "--drain",
      "0",
      "--connect-timeout",
      "30",
      "--allow-loss",
    ],
    placement.generatorCore,
  );
  await run.connected(120_000);
  // Let the server settle (and collect garbage) with everything open.
  await delay(2000);
  const residentAfter = server.residentBytes();
  const { result } = await run.finished;
  return {
    connections,
    opened: result.connections.opened,
    residentBefore,
    residentAfter,
    bytesPerConnection: Math.round(
      (residentAfter - residentBefore) / connections,
    ),
  };
}

/** One broadcast reaching connections spread over several processes. */
export interface BroadcastFigures {
  /** Connections asked for over every process. */
  connections: number;
  /** Receiving connections that joined. */
  opened: number;
  /** Generator processes. */
  processes: number;
  /** Broadcasts sent. */
  broadcasts: number;
  /** Deliveries expected and received. */
  expected: number;
  /** Deliveries received. */
  delivered: number;
  /** Deliveries lost. */
  lost: number;
  /** Median time from send to a delivery, ms. */
  p50Ms: number;
  /** 99th percentile time from send to a delivery, ms. */
  p99Ms: number;
  /** Longest time from a send to its last delivery, ms. */
  lastDeliveryMs: number;
}

/**
 * Spread `connections` over `processes` generator processes (each under the
 * open-file cap), send a few broadcasts from one of them, and time the last
 * delivery of each.
 *
 * @param server A freshly started server.
 * @param connections Connections over all processes.
 * @param processes Generator processes.
 * @param broadcasts Broadcasts to send, one a second.
 * @param placement Core pinning.
 * @returns The broadcast figures.
 */
export async function measureBroadcast(
  server: ServerUnderTest,
  connections: number,
  processes: number,
  broadcasts: number,
  placement: Placement,
): Promise<BroadcastFigures> {
  const perProcess = Math.ceil(connections / processes);
  // Every process connects first; publishing starts together.
  const startAt = Date.now() + 20_000;
  const runs = [];
  for (let index = 0; index < processes; index++) {
    const clients = Math.min(perProcess, connections - index * perProcess);
    runs.push(startGenerator(
      [
        "--target",
        server.target,
        "--port",
        `${server.port}`,
        "--clients",
        `${clients}`,
        "--publishers",
        index === 0 ? "1" : "0",
        "--total-publishers",
        "1",
        "--rate",
        "1",
        "--warmup",
        "0",
        "--duration",
        `${broadcasts}`,
        "--drain",
        "10",
        "--connect-timeout",
        "30",
        "--start-at",
        `${startAt}`,
        "--quiet",
      ],
      placement.generatorCore,
    ));
  }
  const results = await Promise.all(runs.map((run) => run.finished));
  const merged = createHistogram();
  let opened = 0;
  let expected = 0;
  let delivered = 0;
  let lost = 0;
  let published = 0;
  for (const { result } of results) {
    addEncodedHistogram(merged, result.latencyHistogram);
    // Receivers only: Redis publishers have a connection of their own.
    opened += result.connections.opened -
      (result.options.target === "redis" ? result.options.publishers : 0);
    delivered += result.delivery.delivered;
    lost += result.delivery.lost;
    published = Math.max(published, result.throughput.published);
  }
  for (const { result } of results) {
    // Receivers only: Redis publishers have a connection of their own.
    const publishOnly = result.options.target === "redis"
      ? result.options.publishers
      : 0;
    expected += published * (result.connections.opened - publishOnly);
  }
  const percentiles = percentilesOf(merged);
  merged.destroy();
  return {
    connections,
    opened,
    processes,
    broadcasts: published,
    expected,
    delivered,
    lost: Math.max(lost, expected - delivered),
    p50Ms: percentiles.p50,
    p99Ms: percentiles.p99,
    lastDeliveryMs: percentiles.max,
  };
}
