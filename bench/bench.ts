/**
 * `deno task bench`: start our server and Redis, run a fixed matrix through
 * the load generator against both in the same invocation, and write
 * `docs/BENCHMARKS.md` and `bench/results.json`.
 *
 * Every row runs against hubbub and against Redis pub/sub (the generator's
 * `--target redis`: every receiver SUBSCRIBEs to one channel, publishers
 * PUBLISH), so each figure comes with Redis's and the ratio; the WebSocket
 * rows run our server alone, over TCP and over its WebSocket gateway (the
 * generator's `--transport ws`); the cluster rows run one node against
 * three on one Redis (the generator's `--targets`). With `taskset`, each
 * server runs on core 0 and the generator on core 1.
 *
 * @module
 */

import { defineCommand, runCommand, StartupError } from "../cli/mod.ts";
import { describeMachine } from "./machine.ts";
import { renderMarkdown } from "./markdown.ts";
import { canPin, freePort } from "./process_stats.ts";
import {
  clusterTargetArgs,
  type ClusterUnderTest,
  serverHasClusterMode,
  startCluster,
} from "./cluster.ts";
import type {
  BenchResults,
  ClusterResults,
  HistoryResults,
  MatrixRow,
  SlowConsumerResults,
  WebSocketResults,
} from "./results.ts";
import {
  measureBroadcast,
  measureIdleMemory,
  measureRun,
  type Placement,
  type RunFigures,
} from "./scenarios.ts";
import {
  ensureRedis,
  type ServerUnderTest,
  startHubbub,
  startRedis,
} from "./servers.ts";

const command = defineCommand({
  usage: "deno task bench [options]",
  name: "hubbub bench",
  summary:
    "Benchmark our server against Redis pub/sub with the load generator and write docs/BENCHMARKS.md and bench/results.json.",
  options: {
    duration: {
      type: "number",
      default: 5,
      min: 0.5,
      max: 120,
      valueName: "SECONDS",
      description: "Measured seconds per run",
    },
    warmup: {
      type: "number",
      // Two seconds: both JIT-compiled processes (our server and the
      // generator) show a tail in the second after a one-second warmup.
      default: 2,
      min: 0,
      max: 60,
      valueName: "SECONDS",
      description: "Warmup seconds per run",
    },
    window: {
      type: "integer",
      default: 64,
      min: 1,
      valueName: "W",
      description: "Closed loop: messages outstanding per publisher",
    },
    rate: {
      type: "number",
      default: 2000,
      min: 1,
      valueName: "MSGS",
      description: "Open loop: messages per second",
    },
    repeat: {
      type: "integer",
      default: 5,
      min: 1,
      max: 9,
      valueName: "N",
      description:
        "Open loop: runs per row and server, alternating servers; the run with the median p99 is reported",
    },
    workers: {
      type: "integer",
      default: 1,
      min: 1,
      max: 16,
      valueName: "K",
      description: "Generator worker threads",
    },
    "no-pin": {
      type: "boolean",
      description: "Do not pin the server and the generator to separate cores",
    },
    "skip-large": {
      type: "boolean",
      description:
        "Skip the 10,000-idle row, the memory test and the 19,000-connection broadcast",
    },
    only: {
      type: "string",
      choices: [
        "matrix",
        "websocket",
        "history",
        "cluster",
        "slow-consumer",
        "large",
      ],
      valueName: "PART",
      description:
        "Run only this part of the benchmark and leave the others empty (use with --out elsewhere, so the full results stay)",
    },
    "markdown-only": {
      type: "boolean",
      description:
        "Run nothing: rewrite docs/BENCHMARKS.md from the existing bench/results.json",
    },
    out: {
      type: "string",
      default: ".",
      valueName: "DIR",
      description:
        "Project directory to write docs/BENCHMARKS.md and bench/results.json under",
    },
  },
});

const PAYLOAD_BYTES = 64;
const PUBLISHERS = 10;
const IDLE_CONNECTIONS = 10_000;
/** Room (Redis: channel) the idle connections wait in, receiving nothing. */
const IDLE_ROOM = "idle";
const MEMORY_CONNECTIONS = 10_000;
const BROADCAST_CONNECTIONS = 19_000;
const BROADCAST_PROCESSES = 2;
const BROADCAST_COUNT = 3;
/**
 * The slow-consumer runs: 100 clients at the open-loop rate, with payloads
 * large enough (about 1 MB/s to each client at 2,000 msg/s) that a
 * connection which stops reading fills the kernel's buffers (about 4 MB on
 * loopback) and a server's queue for it within the run.
 */
const SLOW_CONSUMER_CLIENTS = 100;
const SLOW_CONSUMER_PAYLOAD_BYTES = 488;
const SLOW_CONSUMER_SECONDS = 8;
const SLOW_CONSUMER_STALLED = 1;
const SLOW_CONSUMER_REPEAT = 5;
/** The WebSocket runs: our server over WebSocket against TCP, 100 clients. */
const WEBSOCKET_CLIENTS = 100;
/** The history runs: our server with history off and on, 100 clients. */
const HISTORY_CLIENTS = 100;
/** The cluster runs: one node against this many on one Redis, 100 clients. */
const CLUSTER_NODES = 3;
const CLUSTER_CLIENTS = 100;

const began = Date.now();

function log(line: string): void {
  const seconds = ((Date.now() - began) / 1000).toFixed(0).padStart(4);
  console.error(`[${seconds}s] ${line}`);
}

function describeFigures(figures: RunFigures): string {
  const busy = figures.generatorBusiest >= 0
    ? `${Math.round(figures.generatorBusiest * 100)}%`
    : `${figures.generatorCores} cores`;
  return `${
    (figures.deliveriesPerSecond / 1e6).toFixed(2)
  }M deliveries/s, p99 ${figures.latencyMs.p99} ms, lost ${figures.lost}, server ${figures.serverCpuPerMillionDeliveries} CPU s/M, generator busy ${busy}${
    figures.passed ? "" : ` (FAILED: ${figures.failures.join("; ")})`
  }`;
}

function matrix(
  rate: number,
  window: number,
  skipLarge: boolean,
): MatrixRow[] {
  const rows: MatrixRow[] = [];
  const sizes: [number, number][] = [[10, 0], [100, 0], [1000, 0]];
  if (!skipLarge) sizes.push([1000, IDLE_CONNECTIONS]);
  for (const mode of ["closed", "open"] as const) {
    for (const [clients, idle] of sizes) {
      rows.push({
        id: `${mode}-${clients}${idle > 0 ? `+${idle}idle` : ""}`,
        mode,
        clients,
        idle,
        publishers: PUBLISHERS,
        rate: mode === "open" ? rate : 0,
        window,
        hubbub: null,
        redis: null,
      });
    }
  }
  return rows;
}

/**
 * The run with the median p99 (lower middle for an even count), carrying the
 * p99 and the stalled connections dropped of every run, so the spread is on
 * record.
 */
function medianRun(runs: RunFigures[]): RunFigures {
  const sorted = [...runs].sort((a, b) => a.latencyMs.p99 - b.latencyMs.p99);
  const median = sorted[(sorted.length - 1) >> 1];
  return {
    ...median,
    p99Runs: runs.map((run) => run.latencyMs.p99),
    stalledDroppedRuns: runs.map((run) => run.stalledDropped),
  };
}

/**
 * A server configuration a row runs against: how to start it, which port
 * the generator connects to, and the generator's arguments for it.
 */
interface Variant<Name extends string> {
  name: Name;
  start: () => Promise<ServerUnderTest>;
  port: (server: ServerUnderTest) => number;
  extraArgs: string[];
  /** More generator arguments that depend on the started server. */
  argsFor?: (server: ServerUnderTest) => string[];
}

/**
 * The cluster part's variants: one node without Redis, one on Redis, and
 * {@linkcode CLUSTER_NODES} on one Redis with the generator's connections
 * spread over them; none (with a line saying why) without `redis-server`
 * or without cluster mode in the server.
 */
function clusterVariantsIfPossible(
  haveRedis: boolean,
  core: number | null,
): Variant<"alone" | "one" | "three">[] {
  if (!haveRedis) {
    log("Cluster part skipped: redis-server is missing");
    return [];
  }
  if (!serverHasClusterMode()) {
    log("Cluster part skipped: the server has no --redis flag (cluster mode)");
    return [];
  }
  const onRedis = (nodes: number) => ({
    start: () => startCluster(core, nodes),
    port: (server: ServerUnderTest) => server.port,
    extraArgs: [],
    argsFor: (server: ServerUnderTest) =>
      clusterTargetArgs(server as ClusterUnderTest),
  });
  return [
    {
      name: "alone",
      start: () => startHubbub(core),
      port: (server) => server.port,
      extraArgs: [],
    },
    { name: "one", ...onRedis(1) },
    { name: "three", ...onRedis(CLUSTER_NODES) },
  ];
}

async function withServer<T>(
  start: () => Promise<ServerUnderTest>,
  body: (server: ServerUnderTest) => Promise<T>,
): Promise<T> {
  const server = await start();
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

await runCommand(command, Deno.args, async (options) => {
  if (options["markdown-only"]) {
    let results: BenchResults;
    try {
      results = JSON.parse(
        await Deno.readTextFile(`${options.out}/bench/results.json`),
      );
      await Deno.writeTextFile(
        `${options.out}/docs/BENCHMARKS.md`,
        renderMarkdown(results),
      );
    } catch (error) {
      throw new StartupError(
        `Cannot rewrite the Markdown: ${(error as Error).message}`,
        { cause: error },
      );
    }
    log(`Wrote ${options.out}/docs/BENCHMARKS.md`);
    return;
  }
  const pinned = !options["no-pin"] && canPin() &&
    navigator.hardwareConcurrency >= 2;
  const placement: Placement = pinned
    ? { serverCore: 0, generatorCore: 1 }
    : { serverCore: null, generatorCore: null };
  const haveRedis = await ensureRedis(log);
  if (!haveRedis) {
    log("Redis could not be installed: its columns stay empty");
  }
  const machine = describeMachine();
  log(
    `${machine.cores} cores, ${machine.memoryGiB} GiB, Deno ${machine.deno}, Redis ${machine.redis}; ${
      pinned ? "servers on core 0, generator on core 1" : "no core pinning"
    }`,
  );
  const inThisRun = (part: string) =>
    options.only === undefined || options.only === part;
  const rows = inThisRun("matrix")
    ? matrix(options.rate, options.window, options["skip-large"])
    : [];
  const generatorArgs = (payloadBytes: number, seconds: number) => [
    "--publishers",
    `${PUBLISHERS}`,
    "--size",
    `${payloadBytes}`,
    "--duration",
    `${seconds}`,
    "--warmup",
    `${options.warmup}`,
    "--drain",
    "5",
    "--workers",
    `${options.workers}`,
    "--connect-timeout",
    "30",
  ];
  const targets: ["hubbub" | "redis", () => Promise<ServerUnderTest>][] = [[
    "hubbub",
    () => startHubbub(placement.serverCore),
  ]];
  if (haveRedis) {
    targets.push(["redis", () => startRedis(placement.serverCore)]);
  }
  let step = 0;
  const runsOf = (row: MatrixRow) => row.mode === "open" ? options.repeat : 1;
  const serverRuns = rows.reduce((sum, row) => sum + runsOf(row), 0) +
    (inThisRun("slow-consumer") ? 2 * SLOW_CONSUMER_REPEAT : 0);
  const clusterVariants = inThisRun("cluster")
    ? clusterVariantsIfPossible(haveRedis, placement.serverCore)
    : [];
  const transportRuns =
    (inThisRun("websocket") ? 2 * (1 + options.repeat) : 0) +
    (inThisRun("history") ? 2 * (1 + options.repeat) : 0) +
    clusterVariants.length * (1 + options.repeat);
  const steps = serverRuns * targets.length + transportRuns;
  /**
   * Run the generator with `args` against each variant `repeats` times,
   * alternating the variants run by run (so that a slow spell of the machine
   * does not land on one variant's runs only), each against a fresh server
   * (so that no run pays for the previous one's teardown).
   */
  const measureAlternating = async <Name extends string>(
    id: string,
    variants: Variant<Name>[],
    args: string[],
    repeats: number,
    singleThreadedGc: boolean,
  ) => {
    const runs = new Map<Name, RunFigures[]>();
    for (let repetition = 0; repetition < repeats; repetition++) {
      for (const { name, start, port, extraArgs, argsFor } of variants) {
        step++;
        const label = `[${step}/${steps}] ${name}: ${id}`;
        log(`${label} ...`);
        try {
          const { figures } = await withServer(
            start,
            (server) =>
              measureRun(
                server,
                [...args, ...extraArgs, ...(argsFor?.(server) ?? [])],
                placement,
                singleThreadedGc,
                port(server),
              ),
          );
          runs.set(name, [...(runs.get(name) ?? []), figures]);
          log(`${label}: ${describeFigures(figures)}`);
        } catch (error) {
          log(`${label} failed: ${(error as Error).message}`);
        }
      }
    }
    return (name: Name) => {
      const figures = runs.get(name);
      return figures === undefined
        ? null
        : repeats === 1
        ? figures[0]
        : medianRun(figures);
    };
  };
  const serverVariants: Variant<"hubbub" | "redis">[] = targets.map((
    [name, start],
  ) => ({ name, start, port: (server) => server.port, extraArgs: [] }));
  /** {@linkcode measureAlternating} over our server and Redis. */
  const measureBoth = async (
    id: string,
    args: string[],
    repeats: number,
    singleThreadedGc: boolean,
  ) => {
    const median = await measureAlternating(
      id,
      serverVariants,
      args,
      repeats,
      singleThreadedGc,
    );
    return { hubbub: median("hubbub"), redis: median("redis") };
  };
  /**
   * A closed-loop run (once) and open-loop runs (`--repeat` times, median
   * p99) of `clients` clients against each variant, alternating; the
   * figures per variant name with the run's settings.
   */
  const closedAndOpen = async <Name extends string>(
    what: string,
    variants: Variant<Name>[],
    clients: number,
  ) => {
    const args = [
      ...generatorArgs(PAYLOAD_BYTES, options.duration),
      "--clients",
      `${clients}`,
    ];
    const closed = await measureAlternating(
      `closed-${clients}, ${what}`,
      variants,
      [...args, "--rate", "0", "--window", `${options.window}`],
      1,
      false,
    );
    const open = await measureAlternating(
      `open-${clients}, ${what}`,
      variants,
      [...args, "--rate", `${options.rate}`],
      options.repeat,
      true,
    );
    const perVariant = (median: (name: Name) => RunFigures | null) =>
      Object.fromEntries(
        variants.map(({ name }) => [name, median(name)]),
      ) as Record<Name, RunFigures | null>;
    return {
      clients,
      publishers: PUBLISHERS,
      window: options.window,
      rate: options.rate,
      closed: perVariant(closed),
      open: perVariant(open),
    };
  };
  for (const row of rows) {
    const args = [
      ...generatorArgs(PAYLOAD_BYTES, options.duration),
      "--clients",
      `${row.clients}`,
      "--idle",
      `${row.idle}`,
      ...(row.idle > 0 ? ["--idle-room", IDLE_ROOM] : []),
      ...(row.mode === "closed"
        ? ["--rate", "0", "--window", `${row.window}`]
        : ["--rate", `${row.rate}`]),
    ];
    Object.assign(
      row,
      await measureBoth(row.id, args, runsOf(row), row.mode === "open"),
    );
  }

  let webSocket: WebSocketResults | null = null;
  if (inThisRun("websocket")) {
    // Both variants run against a server with the WebSocket gateway on, so
    // the only difference is the transport.
    let httpPort = 0;
    const startWithGateway = () => {
      httpPort = freePort();
      return startHubbub(placement.serverCore, ["--http-port", `${httpPort}`]);
    };
    const variants: Variant<"tcp" | "ws">[] = [
      {
        name: "tcp",
        start: startWithGateway,
        port: (server) => server.port,
        extraArgs: [],
      },
      {
        name: "ws",
        start: startWithGateway,
        port: () => httpPort,
        extraArgs: ["--transport", "ws"],
      },
    ];
    webSocket = await closedAndOpen(
      "TCP and WebSocket",
      variants,
      WEBSOCKET_CLIENTS,
    );
  }

  let history: HistoryResults | null = null;
  if (inThisRun("history")) {
    // The same server with history off and on (a fresh database file in a
    // temporary folder per run), so the only difference is the recording.
    const folders: string[] = [];
    const startWithHistory = async () => {
      const folder = await Deno.makeTempDir({ prefix: "hubbub-bench-" });
      folders.push(folder);
      return startHubbub(placement.serverCore, [], `${folder}/history.db`);
    };
    const variants: Variant<"off" | "on">[] = [
      {
        name: "off",
        start: () => startHubbub(placement.serverCore),
        port: (server) => server.port,
        extraArgs: [],
      },
      {
        name: "on",
        start: startWithHistory,
        port: (server) => server.port,
        extraArgs: [],
      },
    ];
    try {
      history = await closedAndOpen(
        "history off and on",
        variants,
        HISTORY_CLIENTS,
      );
    } finally {
      for (const folder of folders) {
        await Deno.remove(folder, { recursive: true }).catch(() => {});
      }
    }
  }

  const cluster: ClusterResults | null = clusterVariants.length > 0
    ? {
      nodes: CLUSTER_NODES,
      ...await closedAndOpen(
        `one node and ${CLUSTER_NODES} on Redis`,
        clusterVariants,
        CLUSTER_CLIENTS,
      ),
    }
    : null;

  const slowConsumer: SlowConsumerResults | null = inThisRun("slow-consumer")
    ? {
      clients: SLOW_CONSUMER_CLIENTS,
      rate: options.rate,
      payloadBytes: SLOW_CONSUMER_PAYLOAD_BYTES,
      durationSeconds: SLOW_CONSUMER_SECONDS,
      stalled: SLOW_CONSUMER_STALLED,
      without: { hubbub: null, redis: null },
      with: { hubbub: null, redis: null },
    }
    : null;
  for (const stalled of slowConsumer ? [0, SLOW_CONSUMER_STALLED] : []) {
    const args = [
      ...generatorArgs(SLOW_CONSUMER_PAYLOAD_BYTES, SLOW_CONSUMER_SECONDS),
      "--clients",
      `${SLOW_CONSUMER_CLIENTS}`,
      "--rate",
      `${options.rate}`,
      "--stalled",
      `${stalled}`,
    ];
    slowConsumer![stalled === 0 ? "without" : "with"] = await measureBoth(
      `open-${SLOW_CONSUMER_CLIENTS}, ${SLOW_CONSUMER_PAYLOAD_BYTES}-byte payloads${
        stalled === 0 ? "" : ` + ${stalled} stalled`
      }`,
      args,
      SLOW_CONSUMER_REPEAT,
      true,
    );
  }

  let memory: BenchResults["memory"] = null;
  let broadcast: BenchResults["broadcast"] = null;
  if (!options["skip-large"] && inThisRun("large")) {
    memory = { hubbub: null, redis: null };
    broadcast = { hubbub: null, redis: null };
    for (const [target, start] of targets) {
      log(
        `${target}: memory per idle connection (${MEMORY_CONNECTIONS} connections) ...`,
      );
      try {
        const figures = await withServer(
          start,
          (server) => measureIdleMemory(server, MEMORY_CONNECTIONS, placement),
        );
        memory[target] = figures;
        log(
          `${target}: ${figures.opened} connections cost ${figures.bytesPerConnection} bytes each`,
        );
      } catch (error) {
        log(`${target}: memory test failed: ${(error as Error).message}`);
      }
      log(
        `${target}: ${BROADCAST_COUNT} broadcasts to ${BROADCAST_CONNECTIONS} connections from ${BROADCAST_PROCESSES} processes ...`,
      );
      try {
        const figures = await withServer(
          target === "redis"
            ? () =>
              startRedis(placement.serverCore, BROADCAST_CONNECTIONS + 500)
            : start,
          (server) =>
            measureBroadcast(
              server,
              BROADCAST_CONNECTIONS,
              BROADCAST_PROCESSES,
              BROADCAST_COUNT,
              placement,
            ),
        );
        broadcast[target] = figures;
        log(
          `${target}: ${figures.opened} connections, last delivery after ${figures.lastDeliveryMs} ms, lost ${figures.lost}`,
        );
      } catch (error) {
        log(`${target}: broadcast test failed: ${(error as Error).message}`);
      }
    }
  }

  const results: BenchResults = {
    machine,
    settings: {
      durationSeconds: options.duration,
      warmupSeconds: options.warmup,
      window: options.window,
      openLoopRate: options.rate,
      workers: options.workers,
      payloadBytes: PAYLOAD_BYTES,
      pinned,
    },
    rows,
    slowConsumer,
    webSocket,
    history,
    cluster,
    memory,
    broadcast,
    elapsedSeconds: Math.round((Date.now() - began) / 1000),
  };
  const root = options.out;
  try {
    await Deno.mkdir(`${root}/docs`, { recursive: true });
    await Deno.mkdir(`${root}/bench`, { recursive: true });
    await Deno.writeTextFile(
      `${root}/bench/results.json`,
      JSON.stringify(results, null, 2) + "\n",
    );
    await Deno.writeTextFile(
      `${root}/docs/BENCHMARKS.md`,
      renderMarkdown(results),
    );
  } catch (error) {
    throw new StartupError(
      `Cannot write the results: ${(error as Error).message}`,
      { cause: error },
    );
  }
  log(
    `Wrote ${root}/docs/BENCHMARKS.md and ${root}/bench/results.json in ${results.elapsedSeconds} s`,
  );
});
