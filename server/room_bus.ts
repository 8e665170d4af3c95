/**
 * The order of each room's messages. Every CHAT the hub relays goes through
 * a {@linkcode RoomBus}: the bus gives it the room's next message id and
 * hands it back for delivery, in id order. Message ids are per room, start
 * at 1 and rise by one per message; they stay on the server (the wire
 * format has no field for them) for history to record.
 *
 * **The sender's echo comes back through the bus, like everyone's copy.**
 * A sender is a member of its room and gets its own message in the same
 * delivery as the other members, after the bus has ordered it, never before
 * publishing. With {@linkcode LocalBus} the round trip is a synchronous call
 * and nothing changes; with a bus shared by several nodes (a Redis
 * backplane) two senders on different nodes may publish at the same moment,
 * and only the bus's order is the same for everyone: an echo delivered
 * before the round trip would show the sender its own message ahead of one
 * the others see first, and the sender's history would disagree with the
 * room's. The cost is the round trip's latency on the echo, which a client
 * that wants to show its message at once can hide by showing it as pending
 * until the echo comes.
 *
 * The bus's delivery is where history records a message (with its id), and
 * the bus is what a Redis backplane replaces ({@linkcode LocalBus} here).
 *
 * @module
 */

import type { Room } from "./room.ts";

/**
 * Delivery of messages the bus has ordered: `count` whole CHAT frames,
 * `frames`, for the members of `room`, with ids `firstId` to
 * `firstId + count - 1`.
 */
export type BusDelivery = (
  room: Room,
  frames: Uint8Array,
  count: number,
  firstId: number,
) => void;

/**
 * What {@linkcode LocalBus} needs of history (server/history's
 * `HistoryStore` fits): a room's last stored id, and where a delivered run
 * is recorded.
 */
export interface BusHistory {
  /** The last id stored for the room named `room`, 0 when none. */
  lastId(room: string): number;
  /** Record `count` delivered CHAT frames with ids from `firstId`. */
  record(
    room: string,
    firstId: number,
    frames: Uint8Array,
    count: number,
    nick: string | null,
    time: number,
  ): void;
}

/** Orders each room's messages and delivers them in that order. */
export interface RoomBus {
  /**
   * Publish a run of whole CHAT frames to a room. Their delivery comes
   * through the bus's {@linkcode BusDelivery}, now or later, in the order
   * the bus gives them.
   *
   * @param room The room.
   * @param frames `count` whole CHAT frames, sender ids stamped. A view of
   * the reader's buffer: valid only during the call, so a bus that delivers
   * later must copy it.
   * @param count How many frames `frames` holds.
   * @param nick The sender's nickname (a run is one sender's), for the
   * history the bus records into (SQLite, or the Redis stream); null for none.
   * @param time When the hub received the run, ms since the epoch, for the
   * same history.
   */
  publish(
    room: Room,
    frames: Uint8Array,
    count: number,
    nick?: string | null,
    time?: number,
  ): void;
  /**
   * The hub's batch is over: a bus that delivers later sends what was
   * published in it now (one round trip per room per batch).
   */
  endBatch(): void;
  /**
   * The room's first local member joined: a shared bus starts receiving the
   * room's messages.
   *
   * @param room The room.
   */
  join(room: Room): void;
  /**
   * The room's last local member left: a shared bus stops receiving them.
   *
   * @param room The room.
   */
  leave(room: Room): void;
  /**
   * The id of the last message the bus has ordered in a room.
   *
   * @param room The room.
   * @returns The id, 0 when the room has had none.
   */
  lastId(room: Room): number;
}

/**
 * The bus of a single server: a room's order is the order the hub publishes
 * in, and delivery is synchronous, so a run of frames from a reader's buffer
 * goes to the members' queues without a copy of its own (one copy per member,
 * by the outbox). A run of N frames takes ids first..first+N-1 in one call.
 *
 * Its counters are forgotten with the room: a room that empties and is
 * created again starts again from its seed, the last id history keeps for
 * the room's name (so ids go on across emptied rooms and restarts), or
 * from 1 without a seed.
 *
 * @example Usage
 * ```ts
 * import { LocalBus } from "./room_bus.ts";
 * import { Room } from "./room.ts";
 * const bus = new LocalBus((room, _frames, count, firstId) =>
 *   console.log(room.name, firstId, count)
 * );
 * const room = new Room("lobby");
 * bus.publish(room, new Uint8Array(0), 3); // lobby 1 3
 * bus.publish(room, new Uint8Array(0), 1); // lobby 4 1
 * console.log(bus.lastId(room)); // 4
 * ```
 */
export class LocalBus implements RoomBus {
  #deliver: BusDelivery;
  #history: BusHistory | null;
  #lastIds = new WeakMap<Room, number>();

  /**
   * @param deliver Where ordered messages go (the hub's delivery to members).
   * @param history Where each delivered run is recorded with its first id,
   * and the last id of a room the bus has not counted yet (so ids go on
   * across emptied rooms and restarts); without it a room starts at 0 and
   * nothing is recorded.
   */
  constructor(deliver: BusDelivery, history?: BusHistory | null) {
    this.#deliver = deliver;
    this.#history = history ?? null;
  }

  publish(
    room: Room,
    frames: Uint8Array,
    count: number,
    nick: string | null = null,
    time = 0,
  ): void {
    const first = this.lastId(room) + 1;
    this.#lastIds.set(room, first + count - 1);
    this.#deliver(room, frames, count, first);
    this.#history?.record(room.name, first, frames, count, nick, time);
  }

  /** Nothing to send: delivery was synchronous. */
  endBatch(): void {}

  /** Nothing to do: every room is this server's. */
  join(_room: Room): void {}

  /** Nothing to do: every room is this server's. */
  leave(_room: Room): void {}

  lastId(room: Room): number {
    const known = this.#lastIds.get(room);
    if (known !== undefined) return known;
    return this.#history === null ? 0 : this.#history.lastId(room.name);
  }
}
