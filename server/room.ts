import type { Connection } from "./connection.ts";

/**
 * A named group of clients; chat sent in a room reaches its members only.
 * Membership changes in O(1) (swap-remove), and the member list is a plain
 * array so that fan-out is a tight loop.
 */
export class Room {
  /** The room's name. */
  readonly name: string;
  /** The members, in no particular order. Read-only outside this class. */
  readonly members: Connection[] = [];

  /** @param name The room's name. */
  constructor(name: string) {
    this.name = name;
  }

  /** Number of members. */
  get size(): number {
    return this.members.length;
  }

  /**
   * Add a client, which must not be in a room.
   *
   * @param client The client.
   * @throws {Error} When the client is already in a room.
   */
  add(client: Connection): void {
    if (client.room !== null) {
      throw new Error(`Client ${client.id} is already in a room`);
    }
    client.room = this;
    client.roomIndex = this.members.length;
    this.members.push(client);
  }

  /**
   * Remove a client that is a member.
   *
   * @param client The client.
   * @throws {Error} When the client is not a member of this room.
   */
  remove(client: Connection): void {
    if (client.room !== this) {
      throw new Error(`Client ${client.id} is not in room ${this.name}`);
    }
    const members = this.members;
    const last = members.pop()!;
    if (last !== client) {
      members[client.roomIndex] = last;
      last.roomIndex = client.roomIndex;
    }
    client.room = null;
    client.roomIndex = -1;
  }
}
