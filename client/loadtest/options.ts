/**
 * The load generator's settings: the command-line table (`--help` is
 * generated from it) and the checks that turn parsed flags into
 * {@linkcode LoadTestOptions}.
 *
 * @module
 */

import { defineCommand, type OptionValues, UsageError } from "../../cli/mod.ts";
import {
  MAX_PAYLOAD_SIZE,
  MAX_PUBLISHER_INDEXES,
  MIN_PAYLOAD_SIZE,
} from "./payload.ts";
import { TARGET_NAMES, type TargetName } from "./targets/mod.ts";

/** Everything a load test run needs to know. */
export interface LoadTestOptions {
  /** The server's wire format. */
  target: TargetName;
  /** Server host. */
  host: string;
  /** Server port. */
  port: number;
  /**
   * Server nodes (`--targets`) the connections are spread over, round-robin
   * by connection number; empty: the one of `--host`/`--port`.
   */
  targets: Endpoint[];
  /** Receiving connections; every delivery to them is checked. */
  clients: number;
  /** Extra connections that join and read but are not checked. */
  idle: number;
  /** Room (Redis: channel) the idle connections join; "": the test's room. */
  idleRoom: string;
  /**
   * Extra connections that join the test's room and then stop reading, to
   * show the server's slow-consumer policy.
   */
  stalled: number;
  /** How many of the clients publish. */
  publishers: number;
  /** Messages per second over all publishers (open loop); 0: closed loop. */
  rate: number;
  /** Closed loop: messages outstanding per publisher. */
  window: number;
  /** Payload bytes per message. */
  size: number;
  /** Measured seconds of publishing. */
  durationSeconds: number;
  /** Seconds of publishing before measurement starts. */
  warmupSeconds: number;
  /** Longest wait after the last send for deliveries to arrive, seconds. */
  drainSeconds: number;
  /** New connections per second; 0: as fast as possible. */
  connectRate: number;
  /** Connect (and join) timeout, seconds. */
  connectTimeoutSeconds: number;
  /** Worker threads the connections are spread over. */
  workers: number;
  /** Redis channel. */
  channel: string;
  /** Payload index of this process's first publisher (for multi-process runs). */
  publisherOffset: number;
  /** Publisher indexes over every process in the run. */
  totalPublishers: number;
  /** Shared-clock time (ms since the epoch) to start publishing; 0: now. */
  startAt: number;
  /** Do not fail the run for lost deliveries. */
  allowLoss: boolean;
  /** Fail the run when the p99 latency is over this many ms; 0: no limit. */
  maxP99Ms: number;
  /** Connect with TLS. */
  tls: boolean;
  /** PEM certificates to trust for TLS besides the system's. */
  caCerts: string[];
  /** hubbub: authenticate every connection with this token ("" for none). */
  token: string;
  /**
   * `tcp`, or `ws`: each connection is a WebSocket to `ws://HOST:PORT/ws`
   * (hubbub's gateway on its `--http-port`), one frame per message.
   */
  transport: Transport;
}

/** One server node: an address and port. */
export interface Endpoint {
  /** Host name or address. */
  host: string;
  /** Port. */
  port: number;
}

/** The transports `--transport` names. */
export const TRANSPORTS = ["tcp", "ws"] as const;
/** A transport `--transport` names. */
export type Transport = typeof TRANSPORTS[number];

/** The defaults of {@linkcode LoadTestOptions}, as on the command line. */
export const DEFAULT_OPTIONS: LoadTestOptions = {
  target: "hubbub",
  host: "127.0.0.1",
  port: 9000,
  targets: [],
  clients: 100,
  idle: 0,
  idleRoom: "",
  stalled: 0,
  publishers: 10,
  rate: 1000,
  window: 16,
  size: 64,
  durationSeconds: 10,
  warmupSeconds: 1,
  drainSeconds: 5,
  connectRate: 0,
  connectTimeoutSeconds: 5,
  workers: 1,
  channel: "hubbub-loadtest",
  publisherOffset: 0,
  totalPublishers: 0,
  startAt: 0,
  allowLoss: false,
  maxP99Ms: 0,
  tls: false,
  caCerts: [],
  token: "",
  transport: "tcp",
};

/** The `deno task loadtest` command: usage, summary and every flag. */
export const loadtestCommand = defineCommand({
  usage: "deno task loadtest [options]",
  name: "hubbub loadtest",
  summary:
    "Open many connections to a chat server and stress its broadcast path: publishers send CHAT frames, every client receives them, and every delivery is checked (loss, duplicates, order) and timed.",
  options: {
    target: {
      type: "string",
      default: DEFAULT_OPTIONS.target,
      choices: TARGET_NAMES,
      valueName: "NAME",
      description:
        "Wire format: hubbub (ours or the original Rust server) or redis (pub/sub, for comparison)",
    },
    host: {
      type: "string",
      default: DEFAULT_OPTIONS.host,
      valueName: "HOST",
      description: "Server address",
    },
    port: {
      type: "integer",
      default: DEFAULT_OPTIONS.port,
      min: 1,
      max: 65535,
      valueName: "PORT",
      description: "Server port (Redis usually listens on 6379)",
    },
    targets: {
      type: "string",
      valueName: "HOST:PORT,...",
      description:
        "hubbub: spread the connections (receivers and publishers) over these server nodes, round-robin, instead of --host/--port, each receiver waiting for its join confirmation; IPv6 as [::1]:9000",
    },
    clients: {
      type: "integer",
      default: DEFAULT_OPTIONS.clients,
      min: 1,
      max: 1_000_000,
      valueName: "N",
      description:
        "Connections that receive; every delivery to them is checked",
    },
    publishers: {
      type: "integer",
      default: DEFAULT_OPTIONS.publishers,
      min: 0,
      valueName: "P",
      description:
        "How many of the clients also publish (at least 1; 0 only for a receive-only process with --total-publishers)",
    },
    idle: {
      type: "integer",
      default: DEFAULT_OPTIONS.idle,
      min: 0,
      max: 1_000_000,
      valueName: "N",
      description:
        "Extra connections that join and read without being checked (on Redis they subscribe to the same channel)",
    },
    "idle-room": {
      type: "string",
      valueName: "NAME",
      description:
        "Room the idle connections JOIN (Redis: channel they SUBSCRIBE to), so they hold a connection but receive nothing; default: the test's room",
    },
    stalled: {
      type: "integer",
      default: DEFAULT_OPTIONS.stalled,
      min: 0,
      max: 10_000,
      valueName: "N",
      description:
        "Extra connections that join the test's room (Redis: subscribe to its channel) and then stop reading, like hung clients; the summary says how many the server dropped",
    },
    rate: {
      type: "number",
      default: DEFAULT_OPTIONS.rate,
      min: 0,
      valueName: "R",
      description:
        "Messages per second over all publishers, open loop (latency counts from each message's intended send time); 0 runs closed loop at maximum throughput",
    },
    window: {
      type: "integer",
      default: DEFAULT_OPTIONS.window,
      min: 1,
      max: 100_000,
      valueName: "W",
      description:
        "Closed loop (--rate 0): messages per publisher in flight until every receiver (of its worker) has each one",
    },
    size: {
      type: "integer",
      default: DEFAULT_OPTIONS.size,
      min: MIN_PAYLOAD_SIZE,
      max: MAX_PAYLOAD_SIZE,
      valueName: "BYTES",
      description:
        `Payload bytes per message (${MIN_PAYLOAD_SIZE} to ${MAX_PAYLOAD_SIZE}: publisher, sequence and send time in printable base-64 digits, then filler x)`,
    },
    duration: {
      type: "number",
      default: DEFAULT_OPTIONS.durationSeconds,
      min: 0.1,
      max: 86_400,
      valueName: "SECONDS",
      description: "Measured time of publishing",
    },
    warmup: {
      type: "number",
      default: DEFAULT_OPTIONS.warmupSeconds,
      min: 0,
      max: 3600,
      valueName: "SECONDS",
      description:
        "Publishing before measurement starts (checked for loss, left out of the figures)",
    },
    drain: {
      type: "number",
      default: DEFAULT_OPTIONS.drainSeconds,
      min: 0,
      max: 3600,
      valueName: "SECONDS",
      description:
        "Longest wait after the last send for deliveries to arrive (ends early once all have)",
    },
    "connect-rate": {
      type: "number",
      default: DEFAULT_OPTIONS.connectRate,
      min: 0,
      valueName: "PER_SECOND",
      description: "New connections per second; 0 connects as fast as possible",
    },
    "connect-timeout": {
      type: "number",
      default: DEFAULT_OPTIONS.connectTimeoutSeconds,
      min: 0.01,
      max: 600,
      valueName: "SECONDS",
      description: "Time allowed to connect and be accepted into the room",
    },
    workers: {
      type: "integer",
      default: DEFAULT_OPTIONS.workers,
      min: 1,
      max: 64,
      valueName: "K",
      description:
        "Worker threads to spread the connections over (figures are merged exactly)",
    },
    transport: {
      type: "string",
      default: DEFAULT_OPTIONS.transport,
      choices: TRANSPORTS,
      valueName: "NAME",
      description:
        "tcp, or ws: every connection is a WebSocket to ws://HOST:PORT/ws (hubbub's gateway: --port is the server's --http-port), one frame per message",
    },
    tls: {
      type: "boolean",
      description: "Connect with TLS",
    },
    ca: {
      type: "string",
      valueName: "FILE",
      description: "Also trust the PEM certificate(s) in FILE (implies --tls)",
    },
    token: {
      type: "string",
      valueName: "TOKEN",
      description:
        "hubbub: authenticate every connection with AUTH TOKEN (servers with --token-file)",
    },
    channel: {
      type: "string",
      default: DEFAULT_OPTIONS.channel,
      valueName: "NAME",
      description: "Redis channel to SUBSCRIBE and PUBLISH to (--target redis)",
    },
    "publisher-offset": {
      type: "integer",
      default: DEFAULT_OPTIONS.publisherOffset,
      min: 0,
      valueName: "N",
      description:
        "Several generator processes on one room: publisher index of this process's first publisher",
    },
    "total-publishers": {
      type: "integer",
      default: DEFAULT_OPTIONS.totalPublishers,
      min: 0,
      valueName: "N",
      description:
        "Several generator processes on one room: publishers over all of them (0: this process's own)",
    },
    "start-at": {
      type: "number",
      default: DEFAULT_OPTIONS.startAt,
      min: 0,
      valueName: "EPOCH_MS",
      description:
        "Start publishing at this time (ms since the Unix epoch) so several processes start together; 0: as soon as connected",
    },
    json: {
      type: "string",
      valueName: "FILE",
      description: "Write every figure and the per-second timeline as JSON",
    },
    report: {
      type: "string",
      valueName: "FILE.html",
      description:
        "Write a self-contained HTML report with plots of throughput and latency",
    },
    "max-p99": {
      type: "number",
      default: DEFAULT_OPTIONS.maxP99Ms,
      min: 0,
      valueName: "MS",
      description:
        "Exit 1 when the p99 latency is over MS milliseconds (0: no limit)",
    },
    "allow-loss": {
      type: "boolean",
      description:
        "Do not exit 1 for lost deliveries (duplicates, reordering and strangers still fail the run)",
    },
    quiet: {
      type: "boolean",
      description: "No progress line on standard error",
    },
  },
  epilog:
    `Exit status: 0 when every delivery arrived once and in order (and p99 is
within --max-p99); 1 when deliveries were lost, duplicated or reordered,
messages came from unknown senders, connections failed or dropped, p99
was over the limit, or a --json/--report file cannot be written (checked
before the run); 2 for a bad flag.

Examples:
  deno task loadtest --clients 1000 --publishers 10 --rate 2000 --duration 10
  deno task loadtest --rate 0 --window 32 --workers 2 --json out.json --report out.html
  deno task loadtest --target redis --port 6379 --clients 100 --rate 0`,
});

/** The parsed flags of {@linkcode loadtestCommand}. */
export type LoadtestFlags = OptionValues<typeof loadtestCommand.options>;

/**
 * Check the flags against each other and turn them into options.
 *
 * @param flags The parsed flags.
 * @returns The options of the run.
 * @throws {UsageError} When flags contradict each other.
 */
export function optionsFromFlags(flags: LoadtestFlags): LoadTestOptions {
  const options: LoadTestOptions = {
    target: flags.target as TargetName,
    host: flags.host,
    port: flags.port,
    targets: flags.targets === undefined ? [] : parseTargets(flags.targets),
    clients: flags.clients,
    idle: flags.idle,
    idleRoom: flags["idle-room"] ?? "",
    stalled: flags.stalled,
    publishers: flags.publishers,
    rate: flags.rate,
    window: flags.window,
    size: flags.size,
    durationSeconds: flags.duration,
    warmupSeconds: flags.warmup,
    drainSeconds: flags.drain,
    connectRate: flags["connect-rate"],
    connectTimeoutSeconds: flags["connect-timeout"],
    workers: flags.workers,
    channel: flags.channel,
    publisherOffset: flags["publisher-offset"],
    totalPublishers: flags["total-publishers"],
    startAt: flags["start-at"],
    allowLoss: flags["allow-loss"],
    maxP99Ms: flags["max-p99"],
    tls: flags.tls || flags.ca !== undefined,
    caCerts: [],
    token: flags.token ?? "",
    transport: flags.transport as Transport,
  };
  validateOptions(options);
  return options;
}

/**
 * The server nodes a run connects to: `--targets`, or `--host`/`--port`.
 *
 * @param options The run's settings.
 * @returns At least one endpoint.
 */
export function endpointsOf(options: LoadTestOptions): Endpoint[] {
  return options.targets.length > 0
    ? options.targets
    : [{ host: options.host, port: options.port }];
}

/**
 * One node as `host:port` (`[v6]:port`).
 *
 * @param endpoint The node.
 * @returns Its name.
 */
export function endpointName(endpoint: Endpoint): string {
  const { host, port } = endpoint;
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * The server nodes as `host:port` words, for the summary and errors.
 *
 * @param options The run's settings.
 * @returns E.g. `127.0.0.1:9000, 127.0.0.1:9001`.
 */
export function describeEndpoints(options: LoadTestOptions): string {
  return endpointsOf(options).map(endpointName).join(", ");
}

/**
 * Parse `--targets`: `host:port` entries separated by commas.
 *
 * @param text The flag's value.
 * @returns The endpoints, in order.
 * @throws {UsageError} When an entry is not `host:port` with a port of
 * 1 to 65535.
 */
export function parseTargets(text: string): Endpoint[] {
  const endpoints: Endpoint[] = [];
  for (const entry of text.split(",")) {
    const match = /^(?:\[([^\]]+)\]|([^:\[\]\s]+)):(\d{1,5})$/.exec(
      entry.trim(),
    );
    const port = match === null ? 0 : Number(match[3]);
    if (match === null || port < 1 || port > 65535) {
      throw new UsageError(
        `--targets needs host:port entries separated by commas (port 1 to 65535), got '${entry}'`,
      );
    }
    endpoints.push({ host: match[1] ?? match[2], port });
  }
  return endpoints;
}

/**
 * Check options that depend on each other.
 *
 * @param options The options.
 * @throws {UsageError} When they contradict each other.
 */
export function validateOptions(options: LoadTestOptions): void {
  if (
    options.publishers === 0 &&
    options.totalPublishers <= options.publisherOffset
  ) {
    // A run without publishers checks nothing, and would pass.
    throw new UsageError(
      "--publishers must be at least 1 (0 only for a receive-only process of a multi-process run, with --total-publishers)",
    );
  }
  const indexes = Math.max(
    options.totalPublishers,
    options.publisherOffset + options.publishers,
  );
  if (indexes > MAX_PUBLISHER_INDEXES) {
    throw new UsageError(
      `Publisher indexes (--publisher-offset + --publishers, or --total-publishers) must be at most ${MAX_PUBLISHER_INDEXES}: the payload names them in 16 bits`,
    );
  }
  if (options.publishers > options.clients) {
    throw new UsageError(
      `--publishers (${options.publishers}) cannot exceed --clients (${options.clients}): publishers are clients that also send`,
    );
  }
  if (
    options.totalPublishers !== 0 &&
    options.totalPublishers < options.publisherOffset + options.publishers
  ) {
    throw new UsageError(
      `--total-publishers must be at least --publisher-offset + --publishers (${
        options.publisherOffset + options.publishers
      })`,
    );
  }
  if (options.workers > options.clients + options.idle) {
    throw new UsageError(
      `--workers (${options.workers}) cannot exceed the number of connections (${
        options.clients + options.idle
      })`,
    );
  }
  if (options.idleRoom !== "" && options.idleRoom === options.channel) {
    throw new UsageError("--idle-room must differ from --channel");
  }
  if (options.token !== "" && options.target !== "hubbub") {
    throw new UsageError("--token is for --target hubbub");
  }
  if (options.targets.length > 1 && options.target !== "hubbub") {
    throw new UsageError("--targets with several nodes is for --target hubbub");
  }
  if (options.transport === "ws") {
    if (options.target !== "hubbub") {
      throw new UsageError("--transport ws is for --target hubbub");
    }
    if (options.tls) {
      throw new UsageError("--transport ws connects without TLS (ws://)");
    }
  }
  if (options.channel === "" || /[\r\n]/.test(options.channel)) {
    throw new UsageError("--channel must be a non-empty name on one line");
  }
}

/**
 * The connections a run opens: receivers, idle and stalled ones, and (Redis)
 * a connection of its own for each publisher.
 *
 * @param options The run's settings.
 * @returns The count.
 */
export function connectionsRequested(options: LoadTestOptions): number {
  return options.clients + options.idle + options.stalled +
    (options.target === "redis" ? options.publishers : 0);
}
