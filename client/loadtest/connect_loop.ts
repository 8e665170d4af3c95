/**
 * The load generator's connect loop: opens a worker's connections, a bounded
 * number at once and at an optional rate, has each join the test's room
 * within the connect timeout, and counts how long that took and why the
 * failures failed.
 *
 * @module
 */

import type { ConnectFailures, ShardPlan, ShardTotals } from "./_messages.ts";
import { withinTime } from "./_time_limit.ts";
import { writeAll } from "./_write_all.ts";
import { type ByteConnection, connectWebSocket } from "./_ws_connection.ts";
import {
  classifyConnectError,
  ConnectTimeoutError,
  noConnectFailures,
} from "./connect_failure.ts";
import {
  createHistogram,
  encodeHistogram,
  type Histogram,
  recordMilliseconds,
} from "./latency_histogram.ts";
import { sharedClockMs } from "./payload.ts";
import type { Target } from "./targets/target.ts";

/** Connects in flight at once per worker. */
const CONNECT_CONCURRENCY = 128;
/** Unusual connect errors kept word for word, for the summary. */
const MAX_FAILURE_SAMPLES = 3;

/** What the connect loop needs of a connection. */
export interface Connectable {
  /** Index of the server node (the plan's endpoints) it connects to. */
  readonly endpoint: number;
  /** Joins no room (a publish-only connection): joined once connected. */
  readonly publishOnly: boolean;
  /** The room to move to once joined, `null` to stay in the test's. */
  readonly moveTo: string | null;
  /** Take over the connected socket and start reading it. */
  attach(conn: ByteConnection): void;
  /** Send the target's identify request, if it has one. */
  identify(): Promise<void>;
  /** Resolves once the server has accepted the connection into the room. */
  whenJoined(): Promise<void>;
  /** Whether it waits for its join confirmation (a receiver, with `--targets`). */
  readonly awaitsConfirmation: boolean;
  /** Resolves once the server has confirmed its own join. */
  whenConfirmed(): Promise<void>;
  /** Mark the connection joined. */
  joined(id: number): void;
  /** Close the socket. */
  close(): void;
}

/** Connect, or reject with {@linkcode ConnectTimeoutError} after `ms`. */
function connectWithin(
  plan: ShardPlan,
  endpoint: number,
  ms: number,
): Promise<ByteConnection> {
  const { hostname, port } = plan.endpoints[endpoint];
  if (plan.transport === "ws") {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    return connectWebSocket(`ws://${host}:${port}/ws`, ms);
  }
  const connecting: Promise<ByteConnection> = plan.tls
    ? Deno.connectTls({ hostname, port, caCerts: plan.caCerts })
    : Deno.connect({ hostname, port, transport: "tcp" });
  return withinTime(
    connecting,
    ms,
    () => new ConnectTimeoutError(ms),
    (late) => late.close(),
  );
}

/** One worker's connect loop and its figures. */
export class ConnectLoop {
  #plan: ShardPlan;
  #target: Target;
  #connected = 0;
  #connectedPerEndpoint: number[];
  #histogram: Histogram = createHistogram();
  #failures: ConnectFailures = noConnectFailures();
  #samples: string[] = [];

  /**
   * @param plan The worker's plan (nodes, TLS, transport, timeout, rate).
   * @param target The wire format's join and move requests.
   */
  constructor(plan: ShardPlan, target: Target) {
    this.#plan = plan;
    this.#target = target;
    this.#connectedPerEndpoint = plan.endpoints.map(() => 0);
  }

  /** Connections that joined. */
  get connected(): number {
    return this.#connected;
  }

  /**
   * Connect and join every connection, in order.
   *
   * @param connections The connections.
   * @param stopping Whether to stop starting new ones.
   * @returns Resolves once every connection was tried.
   */
  async run(
    connections: Connectable[],
    stopping: () => boolean,
  ): Promise<void> {
    let next = 0;
    const began = sharedClockMs();
    const rate = this.#plan.connectRate;
    const runner = async () => {
      while (next < connections.length && !stopping()) {
        const position = next++;
        if (rate > 0) {
          const wait = began + (position * 1000) / rate - sharedClockMs();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        await this.#connectOne(connections[position]);
      }
    };
    const runners: Promise<void>[] = [];
    const count = Math.min(CONNECT_CONCURRENCY, connections.length);
    for (let i = 0; i < count; i++) runners.push(runner());
    await Promise.all(runners);
  }

  /**
   * The loop's figures, as the worker's totals carry them.
   *
   * @returns Joined connections, connect times, failures by cause.
   */
  totals(): Pick<
    ShardTotals,
    | "connected"
    | "connectedPerEndpoint"
    | "connectHistogram"
    | "connectFailures"
    | "connectFailureSamples"
  > {
    return {
      connected: this.#connected,
      connectedPerEndpoint: this.#connectedPerEndpoint,
      connectHistogram: encodeHistogram(this.#histogram),
      connectFailures: this.#failures,
      connectFailureSamples: this.#samples,
    };
  }

  /** Free the histogram's memory. */
  destroy(): void {
    this.#histogram.destroy();
  }

  async #connectOne(connection: Connectable): Promise<void> {
    const began = sharedClockMs();
    const timeout = this.#plan.connectTimeoutMs;
    let conn: ByteConnection;
    try {
      conn = await connectWithin(this.#plan, connection.endpoint, timeout);
    } catch (error) {
      this.#countFailure(error);
      return;
    }
    connection.attach(conn);
    try {
      if (connection.publishOnly) {
        connection.joined(0);
      } else {
        const room = connection.moveTo;
        const request = this.#target.joinRequest(room ?? undefined);
        if (request !== null) await writeAll(conn, request);
        await connection.identify();
        const remaining = Math.max(1, timeout - (sharedClockMs() - began));
        await withinTime(
          connection.awaitsConfirmation
            ? connection.whenJoined().then(() => connection.whenConfirmed())
            : connection.whenJoined(),
          remaining,
          () => new ConnectTimeoutError(timeout),
        );
        const move = room === null ? null : this.#target.moveRequest(room);
        if (move !== null) await writeAll(conn, move);
      }
    } catch (error) {
      connection.close();
      this.#countFailure(error);
      return;
    }
    this.#connected++;
    this.#connectedPerEndpoint[connection.endpoint]++;
    recordMilliseconds(this.#histogram, sharedClockMs() - began);
  }

  #countFailure(error: unknown): void {
    const cause = classifyConnectError(error);
    this.#failures[cause]++;
    if (cause === "other" && this.#samples.length < MAX_FAILURE_SAMPLES) {
      const message = error instanceof Error ? error.message : String(error);
      if (!this.#samples.includes(message)) this.#samples.push(message);
    }
  }
}
