import {
  encodeFrame,
  encodeJsonBody,
  type Presence,
  Tag,
} from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import type { Room } from "./room.ts";
import type { RoomDirectory } from "./room_directory.ts";

/** How {@linkcode RoomPresence} sends; the hub's output. */
export interface PresenceOutput {
  /** Queue a frame for one client. */
  send(client: Connection, frame: Uint8Array): void;
  /** Queue a frame for every member of `room` that is a hubbub client. */
  announce(room: Room, frame: Uint8Array): void;
}

/**
 * What cluster mode adds to presence (`server/cluster_hub.ts`): told of
 * every entry and exit, of each announcement (for the other nodes), and of
 * join confirmations that must wait (the room's last id is not known yet).
 */
export interface PresenceHooks {
  /** `client` is now in `room`. */
  entered(client: Connection, room: Room): void;
  /** `client` left `room` (already out of its members). */
  exited(client: Connection, room: Room): void;
  /** `frame` was announced to `room`'s members here. */
  announced(room: Room, frame: Uint8Array): void;
  /** `client`'s join confirmation in `room` waits for its last id. */
  defer(client: Connection, room: Room): void;
}

/**
 * Room membership with its PRESENCE frames: entering and leaving rooms
 * through the {@linkcode RoomDirectory}, and who hears of it. Rooms up to
 * `maxMembers` (`--presence-max-members`) announce joins, leaves and
 * nickname changes to every member; in larger ones only the client
 * concerned hears (its confirmation). Original clients get no PRESENCE (the
 * output drops it for them).
 */
export class RoomPresence {
  /** The rooms by name. */
  readonly rooms: RoomDirectory;
  #output: PresenceOutput;
  #maxMembers: number;
  #lastId: ((room: Room) => number | null) | null;
  #hooks: PresenceHooks | null;

  /**
   * @param rooms The rooms by name.
   * @param output Where frames go.
   * @param maxMembers Rooms larger than this announce nothing (0: none does).
   * @param lastId The id of a room's last message, for the `last_id` of
   * `join` (with history on), `null` from it while not known yet (the
   * confirmation waits: see {@linkcode PresenceHooks.defer}); `null`:
   * joins carry none.
   * @param hooks Cluster mode's; `null` for a single server.
   */
  constructor(
    rooms: RoomDirectory,
    output: PresenceOutput,
    maxMembers: number,
    lastId: ((room: Room) => number | null) | null = null,
    hooks: PresenceHooks | null = null,
  ) {
    this.rooms = rooms;
    this.#output = output;
    this.#maxMembers = maxMembers;
    this.#lastId = lastId;
    this.#hooks = hooks;
  }

  /**
   * Whether join/leave/nick changes in `room` are announced to all members.
   * A leave counts the leaver, so members hear a leave exactly when they
   * heard the join.
   *
   * @param room The room.
   * @param leaving Members leaving that are no longer counted in it.
   * @returns `true` when the room is small enough.
   */
  announces(room: Room, leaving = 0): boolean {
    return room.size + leaving <= this.#maxMembers;
  }

  /**
   * The PRESENCE frame telling of `client` in `room`.
   *
   * @param event What happened.
   * @param client Whom it concerns (its id and nickname now).
   * @param room The room's name.
   * @param old With `nick`: the nickname before.
   * @param lastId With `join` and history on: the room's last message id.
   * @returns The frame.
   */
  frame(
    event: Presence["event"],
    client: Connection,
    room: string,
    old?: string | null,
    lastId?: number,
  ): Uint8Array {
    const presence: Presence = {
      event,
      room,
      id: client.id,
      nick: client.nickname,
    };
    if (old !== undefined) presence.old = old;
    if (lastId !== undefined) presence.last_id = lastId;
    return encodeFrame(Tag.PRESENCE, client.id, encodeJsonBody(presence));
  }

  /**
   * The `join` of `client` in `room`, with the room's last id now; `null`
   * when that id is not known yet.
   */
  #joinFrame(client: Connection, room: Room): Uint8Array | null {
    const lastId = this.#lastId === null ? undefined : this.#lastId(room);
    if (lastId === null) return null;
    return this.frame("join", client, room.name, undefined, lastId);
  }

  /**
   * Tell `client` alone that it is in its room (a join confirmation).
   *
   * @param client A client in a room.
   */
  confirmJoin(client: Connection): void {
    const frame = this.#joinFrame(client, client.room!);
    if (frame !== null) this.#output.send(client, frame);
    else this.#hooks?.defer(client, client.room!);
  }

  /**
   * An original client sent its first frame of a newer tag, `tag`: it is a
   * hubbub client from now on, and learns the room it is in (the join
   * confirmation it was not sent while it might have been the original
   * client), unless that frame is a JOIN or a NICK, whose answers name the
   * room.
   *
   * @param client The client, still marked original.
   * @param tag The tag of its frame.
   */
  declareHubbub(client: Connection, tag: number): void {
    client.declareHubbub();
    if (client.room !== null && tag !== Tag.JOIN && tag !== Tag.NICK) {
      this.confirmJoin(client);
    }
  }

  /**
   * Say that `client` changed its nickname from `old`: to its room when it
   * announces, else to the client alone. With `old` equal to the current
   * nickname this is the confirmation of an unchanged one.
   *
   * @param client A client in a room.
   * @param old Its nickname before, `null` for none.
   * @param unchanged Only confirm to the client, whatever the room's size.
   */
  nickChanged(client: Connection, old: string | null, unchanged = false): void {
    const room = client.room!;
    const frame = this.frame("nick", client, room.name, old);
    if (!unchanged && this.announces(room)) {
      this.#output.announce(room, frame);
      this.#hooks?.announced(room, frame);
    } else this.#output.send(client, frame);
  }

  /**
   * Put a client in the room `name`, out of its current one (without a
   * leave announcement: call {@linkcode RoomPresence.exit} first for that),
   * and announce it (the client itself always hears).
   *
   * @param client The client.
   * @param name The room's name, as stored (NFC).
   */
  enter(client: Connection, name: string): void {
    const { left, entered } = this.rooms.move(client, name);
    const hooks = this.#hooks;
    if (hooks !== null) {
      if (left !== null) hooks.exited(client, left);
      hooks.entered(client, entered);
    }
    const frame = this.#joinFrame(client, entered);
    if (frame === null) {
      // Cluster mode, the room's subscription not ready: the joiner is
      // confirmed later; the other nodes hear of it now.
      hooks!.defer(client, entered);
      if (this.announces(entered)) {
        hooks!.announced(entered, this.frame("join", client, entered.name));
      }
      return;
    }
    if (this.announces(entered)) {
      this.#output.announce(entered, frame);
      hooks?.announced(entered, frame);
    } else this.#output.send(client, frame);
  }

  /**
   * Take a client out of its room and announce it to those who stay.
   *
   * @param client The client; nothing happens if it is in no room.
   * @param announce `false` to say nothing here (the server is stopping;
   * in cluster mode the other nodes still hear it).
   */
  exit(client: Connection, announce = true): void {
    const room = this.rooms.leave(client);
    if (room === null) return;
    const hooks = this.#hooks;
    hooks?.exited(client, room);
    const local = announce && room.size > 0;
    if (!this.announces(room, 1) || (!local && hooks === null)) return;
    const frame = this.frame("leave", client, room.name);
    if (local) this.#output.announce(room, frame);
    // A stopping node's members still leave for the other nodes' members.
    hooks?.announced(room, frame);
  }
}
