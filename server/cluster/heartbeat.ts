/**
 * A node's heartbeat, and the watch it keeps on the other nodes: it sets
 * its alive key with an expiry at each beat, and at each check it reaps
 * the registered nodes whose alive key has expired (one reaper per dead
 * node, by a SET NX lock), removing their clients from the cluster.
 *
 * @module
 */

import { type Clock, systemClock } from "../clock.ts";
import { BEAT_SCRIPT, REAP_SCRIPT } from "./_membership_scripts.ts";
import {
  parseRemoved,
  type RemovedMember,
  type ScriptRunner,
} from "./membership_redis.ts";

/** Settings and listeners of a {@linkcode NodeHeartbeat}. */
export interface HeartbeatOptions {
  /** Time between beats (and between checks of the other nodes), in ms. */
  intervalMs?: number;
  /** Expiry of the alive key, in ms: a node silent this long is dead. */
  ttlMs?: number;
  /** The clock the beats run on. */
  clock?: Clock;
  /** Told of the room members of dead nodes this node reaped. */
  onReaped?: (removed: RemovedMember[]) => void;
  /**
   * Told when this node finds it was reaped itself (its beats stopped for
   * longer than the expiry), or Redis lost its keys (restarted): its
   * clients are no longer listed anywhere. The heartbeat has stopped; call
   * `start()` again, then record the clients again.
   */
  onEvicted?: () => void;
  /** Told of each failed beat or check. */
  onError?: (error: unknown) => void;
}

/** Default time between beats, in ms. */
export const HEARTBEAT_INTERVAL_MS = 1000;
/** Default expiry of a node's alive key, in ms. */
export const HEARTBEAT_TTL_MS = 5000;

/**
 * Beats for one node and reaps dead ones.
 *
 * @example Usage
 * ```ts no-eval
 * const heartbeat = new NodeHeartbeat(redis, node, {
 *   onReaped: (removed) => publishLeaves(removed),
 * });
 * await heartbeat.start();
 * // ... at shutdown:
 * heartbeat.stop();
 * ```
 */
export class NodeHeartbeat {
  #redis: ScriptRunner;
  #node: string;
  #intervalMs: number;
  #ttlMs: number;
  #clock: Clock;
  #onReaped: (removed: RemovedMember[]) => void;
  #onEvicted: () => void;
  #onError: (error: unknown) => void;
  #stopTimer: (() => void) | null = null;
  #beating = false;
  #checking = false;
  #evicted = false;
  #starting = false;
  #stopped = false;

  /**
   * @param redis The connection (an ioredis client).
   * @param node This node's number.
   * @param options Timing and listeners.
   */
  constructor(
    redis: ScriptRunner,
    node: number,
    options: HeartbeatOptions = {},
  ) {
    this.#redis = redis;
    this.#node = String(node);
    this.#intervalMs = options.intervalMs ?? HEARTBEAT_INTERVAL_MS;
    this.#ttlMs = options.ttlMs ?? HEARTBEAT_TTL_MS;
    this.#clock = options.clock ?? systemClock;
    this.#onReaped = options.onReaped ?? (() => {});
    this.#onEvicted = options.onEvicted ?? (() => {});
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * Register the node with its first beat, then beat and check every
   * interval until {@linkcode NodeHeartbeat.stop} (or an eviction).
   *
   * @returns Settles when the first beat is done; rejects if it failed.
   */
  async start(): Promise<void> {
    if (this.#stopTimer !== null || this.#starting) return;
    this.#starting = true;
    this.#evicted = false;
    try {
      await BEAT_SCRIPT.run(this.#redis, this.#node, this.#ttlMs, "1");
    } finally {
      this.#starting = false;
    }
    if (this.#stopped) {
      this.#stopped = false;
      return;
    }
    this.#stopTimer = this.#clock.every(this.#intervalMs, () => {
      this.#beat();
      this.check();
    });
  }

  /** Stop beating and checking (the alive key expires on its own). */
  stop(): void {
    // A stop while the first beat is on its way: no timer after it.
    this.#stopped = this.#starting;
    this.#stopTimer?.();
    this.#stopTimer = null;
  }

  /**
   * Reap the other nodes whose alive key has expired now (the timer calls
   * this each interval; a check already running makes this one do nothing).
   *
   * @returns The room members removed by this node (also given to
   * `onReaped` when there are any).
   */
  async check(): Promise<RemovedMember[]> {
    if (this.#checking) return [];
    this.#checking = true;
    try {
      const removed = parseRemoved(
        await REAP_SCRIPT.run(this.#redis, this.#node, this.#ttlMs),
      );
      if (removed.length > 0) this.#onReaped(removed);
      return removed;
    } catch (error) {
      this.#onError(error);
      return [];
    } finally {
      this.#checking = false;
    }
  }

  async #beat(): Promise<void> {
    if (this.#beating) return;
    this.#beating = true;
    try {
      const reply = await BEAT_SCRIPT.run(
        this.#redis,
        this.#node,
        this.#ttlMs,
        "0",
      );
      if (reply === 0 && !this.#evicted) {
        this.#evicted = true;
        this.stop();
        this.#onEvicted();
      }
    } catch (error) {
      this.#onError(error);
    } finally {
      this.#beating = false;
    }
  }
}
