/**
 * The node's two connections to Redis: one for commands (auto-pipelined:
 * every command issued in one event-loop turn goes out as one write) and
 * one subscribed to the rooms' channels. Unreachable at startup is an
 * error naming the URL; lost at run time, both reconnect with backoff, and
 * the link reports the loss once and the recovery once both are back.
 * Commands are never queued while disconnected (they fail at once), so
 * memory stays bounded; what the bus could not publish it counts.
 *
 * @module
 */

import { Redis, type RedisOptions } from "ioredis";

/** What the link tells its watchers. */
export interface LinkWatcher {
  /** A connection to Redis was lost (reported once per loss). */
  lost?(reason: string): void;
  /** Both connections are back (after {@linkcode LinkWatcher.lost}). */
  restored?(): void;
}

/** Options of {@linkcode connectCluster}. */
export interface ClusterLinkOptions {
  /** Give up on the first connection after this long, ms (default 5000). */
  connectTimeoutMs?: number;
  /** First reconnect delay, ms (default 100); doubles per attempt. */
  retryMinMs?: number;
  /** Longest reconnect delay, ms (default 5000). */
  retryMaxMs?: number;
  /** A watcher registered before the first connection. */
  watcher?: LinkWatcher;
}

/**
 * The reconnect delay after `attempt` failed attempts: doubling from
 * `minMs`, capped at `maxMs`.
 *
 * @param attempt Attempts so far, 1 or more.
 * @param minMs The first delay.
 * @param maxMs The cap.
 * @returns The delay, ms.
 */
export function reconnectDelay(
  attempt: number,
  minMs: number,
  maxMs: number,
): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30));
}

/** The node's connections to Redis; see {@linkcode connectCluster}. */
export class ClusterLink {
  /** The Redis URL, as given. */
  readonly url: string;
  /** The command connection (auto-pipelined, no offline queue). */
  readonly command: Redis;
  /** The subscriber connection (channels only). */
  readonly subscriber: Redis;
  #watchers: LinkWatcher[] = [];
  #started = false;
  #lost = false;
  #closed = false;
  #lastError = "";

  /**
   * The connections, not yet connected: use {@linkcode connectCluster}.
   *
   * @param url The Redis URL.
   * @param options Timeouts, backoff, a first watcher.
   */
  constructor(url: string, options: ClusterLinkOptions = {}) {
    this.url = url;
    const min = options.retryMinMs ?? 100;
    const max = options.retryMaxMs ?? 5000;
    const redisOptions: RedisOptions = {
      lazyConnect: true,
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // The bus subscribes again itself, and reads the counters then.
      autoResubscribe: false,
      connectTimeout: options.connectTimeoutMs ?? 5000,
      // Before the first connection a failure is final (startup exits).
      retryStrategy: (attempt) =>
        this.#started && !this.#closed
          ? reconnectDelay(attempt, min, max)
          : null,
    };
    this.command = new Redis(url, redisOptions);
    this.subscriber = new Redis(url, redisOptions);
    if (options.watcher !== undefined) this.#watchers.push(options.watcher);
    for (const connection of [this.command, this.subscriber]) {
      // Errors are reported through lost/restored; without a listener
      // ioredis would print each one.
      connection.on("error", (error: Error) => {
        this.#lastError = error.message;
      });
      connection.on("close", () => this.#onClose());
      connection.on("ready", () => this.#onReady());
    }
  }

  /** Whether a connection is down (between lost and restored). */
  get isLost(): boolean {
    return this.#lost;
  }

  /**
   * Be told of losses and recoveries.
   *
   * @param watcher The callbacks.
   */
  watch(watcher: LinkWatcher): void {
    this.#watchers.push(watcher);
  }

  /** @internal Connect both; see {@linkcode connectCluster}. */
  async start(): Promise<void> {
    try {
      await Promise.all([this.command.connect(), this.subscriber.connect()]);
    } catch (error) {
      this.command.disconnect();
      this.subscriber.disconnect();
      const reason = this.#lastError ||
        (error instanceof Error ? error.message : String(error));
      throw new Error(`cannot reach Redis at ${this.url}: ${reason}`);
    }
    this.#started = true;
  }

  /** Close both connections (no reconnecting after). */
  close(): void {
    this.#closed = true;
    this.command.disconnect();
    this.subscriber.disconnect();
  }

  #onClose(): void {
    if (!this.#started || this.#closed || this.#lost) return;
    this.#lost = true;
    for (const w of this.#watchers) w.lost?.("connection to Redis closed");
  }

  #onReady(): void {
    if (!this.#lost || this.#closed) return;
    if (this.command.status !== "ready") return;
    if (this.subscriber.status !== "ready") return;
    this.#lost = false;
    for (const w of this.#watchers) w.restored?.();
  }
}

/**
 * Connect to Redis for cluster mode: the command and subscriber
 * connections, both ready.
 *
 * @param url `redis://HOST:PORT` (any URL ioredis takes).
 * @param options Timeouts, backoff, a first watcher.
 * @returns The link.
 * @throws {Error} With a one-line message naming the URL when Redis cannot
 * be reached.
 */
export async function connectCluster(
  url: string,
  options: ClusterLinkOptions = {},
): Promise<ClusterLink> {
  const link = new ClusterLink(url, options);
  await link.start();
  return link;
}
