/**
 * The room bus of a cluster node: every room's order is Redis's. A node
 * publishes what its clients send to a room through one script call per
 * room per batch (`_publish_script.ts`: ids from the room's counter, each
 * message appended to the room's stream, one packed message on the room's
 * channel), and delivers what it receives on the channels of the rooms it
 * has local members in, its own messages included, in the channel's order.
 *
 * Publishing copies the caller's frames into the room's pending run (the
 * caller's bytes are valid only during the call); the runs go out at
 * {@linkcode RedisBus.endBatch} or, failing that, at the end of the turn
 * (a microtask), all in one pipeline (the command connection is
 * auto-pipelined). While Redis is lost nothing is queued: each message
 * published is counted as unpublished and reported, as is every message of
 * a script call that fails. After the link is restored every room in use is
 * subscribed again.
 *
 * A room's ids as a node sees them: on subscribing, the node reads the
 * room's counter after the subscription is active, and delivers only
 * messages with ids past it (earlier ones raced the subscription), so
 * {@linkcode RedisBus.lastId} is exact from {@linkcode RedisBusOptions.ready}
 * on: every later message has a higher id and is delivered.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import type { Room } from "../room.ts";
import type { BusDelivery, RoomBus } from "../room_bus.ts";
import { roomChannel, roomCounterKey, roomStreamKey } from "./keys.ts";
import type { ClusterLink } from "./redis_link.ts";
import { PUBLISH_SCRIPT } from "./_publish_script.ts";
import { unpackRun } from "./_bus_packing.ts";

/** Options of {@linkcode RedisBus}. */
export interface RedisBusOptions {
  /** This node's number (in each packed message, for diagnostics). */
  node: number;
  /** Approximate cap on each room's stream (XADD MAXLEN ~); default 10000. */
  streamMaxLen?: number;
  /**
   * Messages sent and not yet answered by Redis at most (default 100000):
   * past it, a Redis that has stopped answering costs no more memory, and
   * what is published is counted as unpublished instead.
   */
  maxInFlight?: number;
  /**
   * A room's subscription is active and its counter read: `lastId` is
   * exact from now on (after {@linkcode RedisBus.join}, and again after a
   * restore).
   */
  ready?(room: Room, lastId: number): void;
  /** `count` messages could not be published (Redis lost, or a failed call). */
  unpublished?(count: number): void;
  /**
   * Messages of a room this node did not receive: after a restore, the
   * room's counter had moved `count` past the last id delivered here.
   */
  missed?(room: Room, count: number): void;
  /** A command failed for a reason other than a lost link. */
  error?(message: string): void;
}

/** A room's frames published in this batch, not yet sent. */
interface PendingRun {
  room: Room;
  bytes: Uint8Array;
  length: number;
  count: number;
  /** Per sender run: nick ("" for none), time, frame count. */
  runs: (string | number)[];
  queued: boolean;
}

/** A room this node receives. */
interface Subscription {
  room: Room;
  channel: string;
  /** Counter read after subscribing; messages up to it are not delivered. */
  ready: boolean;
  /** Messages that came before the counter was read. */
  held: Uint8Array[];
  /** The id of the last message delivered (or the counter first read). */
  lastId: number;
  /** Whether the counter was read once (the first join is over). */
  everReady: boolean;
}

type PublishCommand = (
  counterKey: string,
  streamKey: string,
  ...args: (string | number | Buffer)[]
) => Promise<number>;

/** A {@linkcode RoomBus} shared by the nodes of a cluster through Redis. */
export class RedisBus implements RoomBus {
  #link: ClusterLink;
  #command: Redis;
  #publishCommand: PublishCommand;
  #deliver: BusDelivery;
  #options: RedisBusOptions;
  #maxLen: number;
  #maxInFlight: number;
  #inFlight = 0;
  #pending = new Map<Room, PendingRun>();
  #queue: PendingRun[] = [];
  #flushScheduled = false;
  #byRoom = new Map<Room, Subscription>();
  #byChannel = new Map<string, Subscription>();
  #unpublished = 0;
  #missed = 0;

  /**
   * A bus over the node's link; it receives no room until `join`.
   *
   * @param link The node's connections.
   * @param deliver Where ordered messages go. Its `frames` is a view of the
   * received message, which is never reused: it may be kept after the call.
   * @param options Node number, stream cap, callbacks.
   */
  constructor(
    link: ClusterLink,
    deliver: BusDelivery,
    options: RedisBusOptions,
  ) {
    this.#link = link;
    this.#command = link.command;
    this.#deliver = deliver;
    this.#options = options;
    this.#maxLen = options.streamMaxLen ?? 10000;
    this.#maxInFlight = options.maxInFlight ?? 100_000;
    link.command.defineCommand("hubbubPublish", {
      numberOfKeys: 2,
      lua: PUBLISH_SCRIPT,
    });
    const command = link.command as unknown as {
      hubbubPublish: PublishCommand;
    };
    this.#publishCommand = command.hubbubPublish.bind(command);
    link.subscriber.on(
      "messageBuffer",
      (channel: Buffer, message: Buffer) => this.#onMessage(channel, message),
    );
    link.watch({ restored: () => this.#resubscribeAll() });
  }

  /** Messages not published so far (Redis lost, or failed calls). */
  get unpublishedCount(): number {
    return this.#unpublished;
  }

  /** Messages sent to Redis and not yet answered. */
  get inFlightCount(): number {
    return this.#inFlight;
  }

  /** Messages other nodes published that this node did not receive. */
  get missedCount(): number {
    return this.#missed;
  }

  publish(
    room: Room,
    frames: Uint8Array,
    count: number,
    nick?: string | null,
    time?: number,
  ): void {
    if (this.#link.isLost) {
      this.#countUnpublished(count);
      return;
    }
    let run = this.#pending.get(room);
    if (run === undefined) {
      run = {
        room,
        bytes: new Uint8Array(Math.max(4096, frames.length)),
        length: 0,
        count: 0,
        runs: [],
        queued: false,
      };
      this.#pending.set(room, run);
    }
    const end = run.length + frames.length;
    if (end > run.bytes.length) {
      const grown = new Uint8Array(Math.max(end, run.bytes.length * 2));
      grown.set(run.bytes.subarray(0, run.length));
      run.bytes = grown;
    }
    run.bytes.set(frames, run.length);
    run.length = end;
    run.count += count;
    run.runs.push(nick ?? "", time ?? Date.now(), count);
    if (!run.queued) {
      run.queued = true;
      this.#queue.push(run);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(() => this.endBatch());
      }
    }
  }

  /** Send every room's pending run: one script call each, one pipeline. */
  endBatch(): void {
    this.#flushScheduled = false;
    const queue = this.#queue;
    for (let i = 0; i < queue.length; i++) this.#send(queue[i]);
    queue.length = 0;
  }

  join(room: Room): void {
    if (this.#byRoom.has(room)) return;
    const subscription: Subscription = {
      room,
      channel: roomChannel(room.name),
      ready: false,
      held: [],
      lastId: 0,
      everReady: false,
    };
    this.#byRoom.set(room, subscription);
    this.#byChannel.set(subscription.channel, subscription);
    this.#subscribe(subscription);
  }

  leave(room: Room): void {
    const subscription = this.#byRoom.get(room);
    if (subscription === undefined) return;
    this.#byRoom.delete(room);
    this.#byChannel.delete(subscription.channel);
    const pending = this.#pending.get(room);
    if (pending !== undefined && !pending.queued) this.#pending.delete(room);
    if (!this.#link.isLost) {
      this.#link.subscriber.unsubscribe(subscription.channel).catch(() => {});
    }
  }

  lastId(room: Room): number {
    return this.#byRoom.get(room)?.lastId ?? 0;
  }

  #send(run: PendingRun): void {
    const { room, count } = run;
    // The pending bytes are reused for the next batch: the call gets a copy.
    const frames = Buffer.from(run.bytes.subarray(0, run.length));
    const args = run.runs;
    run.length = 0;
    run.count = 0;
    run.runs = [];
    run.queued = false;
    if (!this.#byRoom.has(room)) this.#pending.delete(room);
    if (this.#link.isLost || this.#inFlight + count > this.#maxInFlight) {
      this.#countUnpublished(count);
      return;
    }
    this.#inFlight += count;
    this.#publishCommand(
      roomCounterKey(room.name),
      roomStreamKey(room.name),
      roomChannel(room.name),
      this.#options.node,
      this.#maxLen,
      frames,
      count,
      ...args,
    ).then(() => {
      this.#inFlight -= count;
    }, (error: unknown) => {
      this.#inFlight -= count;
      this.#countUnpublished(count);
      if (!this.#link.isLost) this.#reportError(error);
    });
  }

  #countUnpublished(count: number): void {
    this.#unpublished += count;
    this.#options.unpublished?.(count);
  }

  #reportError(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#options.error?.(message);
  }

  #subscribe(subscription: Subscription): void {
    const { channel, room } = subscription;
    const current = () => this.#byChannel.get(channel) === subscription;
    this.#link.subscriber.subscribe(channel)
      .then(() => this.#command.get(roomCounterKey(room.name)))
      .then((value) => {
        if (!current()) return;
        this.#subscribed(subscription, Number(value ?? 0));
      })
      .catch((error: unknown) => {
        // A lost link subscribes again on restore.
        if (!this.#link.isLost && current()) this.#reportError(error);
      });
  }

  /** The counter, read after subscribing, is `counter`. */
  #subscribed(subscription: Subscription, counter: number): void {
    const held = subscription.held;
    subscription.held = [];
    subscription.ready = true;
    if (!subscription.everReady || counter < subscription.lastId) {
      // First subscription (the joiner's exact last id), or Redis lost its
      // data and counts from the start again.
      subscription.everReady = true;
      subscription.lastId = counter;
      for (const message of held) this.#receive(subscription, message);
    } else {
      // Subscribed again after a loss: what came since is delivered, what
      // was published in the gap and never came is counted.
      for (const message of held) this.#receive(subscription, message);
      const gap = counter - subscription.lastId;
      if (gap > 0) {
        subscription.lastId = counter;
        this.#missed += gap;
        this.#options.missed?.(subscription.room, gap);
      }
    }
    this.#options.ready?.(subscription.room, subscription.lastId);
  }

  #resubscribeAll(): void {
    for (const subscription of this.#byRoom.values()) {
      subscription.ready = false;
      subscription.held = [];
      this.#subscribe(subscription);
    }
  }

  #onMessage(channel: Buffer, message: Buffer): void {
    const subscription = this.#byChannel.get(channel.toString());
    if (subscription === undefined) return;
    if (!subscription.ready) subscription.held.push(message);
    else this.#receive(subscription, message);
  }

  #receive(subscription: Subscription, message: Uint8Array): void {
    const run = unpackRun(message);
    if (run === null || run.firstId <= subscription.lastId) return;
    subscription.lastId = run.firstId + run.count - 1;
    this.#deliver(subscription.room, run.frames, run.count, run.firstId);
  }
}
