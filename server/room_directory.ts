import { LOBBY, type RoomEntry } from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import { Room } from "./room.ts";

/**
 * The rooms by name. A room exists while it has members; the lobby always
 * exists.
 */
export class RoomDirectory {
  /** The room every client starts in. */
  readonly lobby: Room = new Room(LOBBY);
  #rooms = new Map<string, Room>([[LOBBY, this.lobby]]);

  /** Number of rooms, the lobby included. */
  get size(): number {
    return this.#rooms.size;
  }

  /**
   * Move a client into the room `name` (created when missing), out of its
   * current room (deleted when left empty, unless it is the lobby).
   *
   * @param client The client.
   * @param name The room to enter.
   * @returns The room left (or `null`) and the room entered.
   */
  move(client: Connection, name: string): { left: Room | null; entered: Room } {
    const left = client.room;
    if (left !== null) this.leave(client);
    let entered = this.#rooms.get(name);
    if (entered === undefined) {
      entered = new Room(name);
      this.#rooms.set(name, entered);
    }
    entered.add(client);
    return { left, entered };
  }

  /**
   * Take a client out of its room, deleting the room when it is left empty
   * (unless it is the lobby).
   *
   * @param client The client; nothing happens if it is in no room.
   * @returns The room it left, or `null`.
   */
  leave(client: Connection): Room | null {
    const room = client.room;
    if (room === null) return null;
    room.remove(client);
    if (room.size === 0 && room !== this.lobby) this.#rooms.delete(room.name);
    return room;
  }

  /**
   * The rooms with their member counts, largest first.
   *
   * @returns One entry per room.
   */
  entries(): RoomEntry[] {
    return [...this.#rooms.values()]
      .map((room) => ({ room: room.name, members: room.size }))
      .sort((a, b) => b.members - a.members || (a.room < b.room ? -1 : 1));
  }
}
