/**
 * The hub's side of cluster mode (`--redis`): what the hub does differently
 * when its rooms are shared with other nodes, without importing anything of
 * Redis (the node, `server/cluster/node.ts`, is loaded only with `--redis`
 * and handed to the hub as a {@linkcode ClusterBackend}).
 *
 * - Client ids come from the backend (unique across the cluster).
 * - CHAT goes through the backend's bus; its deliveries and everything else
 *   the backend learns come back as inbox events, handled on the hub's turn.
 * - A room's first local member subscribes the node to it, its last one
 *   unsubscribes. Until the subscription is ready (the room's counter read
 *   after subscribing), a joiner's confirmation waits: its `last_id` is
 *   then exact (the id before the first message delivered to it).
 * - Presence is published to the other nodes too; WHO, ROOMS and NICK are
 *   answered from the cluster's records, asynchronously.
 *
 * @module
 */

import {
  encodeFrame,
  LOBBY,
  type MemberEntry,
  type RoomEntry,
  Tag,
} from "../protocol/mod.ts";
import { type Connection, ConnectionState } from "./connection.ts";
import type { Room } from "./room.ts";
import type { BusDelivery, RoomBus } from "./room_bus.ts";
import type { PresenceHooks, RoomPresence } from "./room_presence.ts";
import type { NicknameIndex } from "./nickname_index.ts";

/** The ERROR notice every client gets when Redis is lost. */
export const DELIVERY_INTERRUPTED = "cross-node delivery interrupted";
/** The ERROR notice every client gets when Redis is back. */
export const DELIVERY_RESTORED = "cross-node delivery restored";
/** The ERROR (sender id NICK) of a client whose nickname was lost. */
export const NICKNAME_LOST =
  "nickname taken on another node while cross-node delivery was interrupted";

/** One local client, as the cluster records it again after a loss. */
export interface ClusterClient {
  /** Its id. */
  id: number;
  /** Its room's name, or `null`. */
  room: string | null;
  /** Its nickname, or `null`. */
  nick: string | null;
}

/** What the node tells the hub (through the inbox, on the hub's turn). */
export type ClusterEvent =
  /** A room's subscription is ready: its counter was `lastId`. */
  | { type: "ready"; room: Room; lastId: number }
  /** A PRESENCE frame from another node for the members of `room`. */
  | { type: "presence"; room: string; frame: Uint8Array }
  /** ERROR notice `text` to every client (Redis lost or back). */
  | { type: "notice"; text: string }
  /** Redis is back: record the local clients again. */
  | { type: "restore" }
  /**
   * Recorded again, these clients' nicknames were not: another node's
   * client took each meanwhile.
   */
  | { type: "nicks-lost"; ids: number[] }
  /** The answer to a WHO. */
  | { type: "who"; client: Connection; entries: MemberEntry[] }
  /** The answer to a ROOMS. */
  | { type: "rooms"; client: Connection; entries: RoomEntry[] }
  /** The answer to a nickname claim. */
  | {
    type: "nick";
    client: Connection;
    nickname: string;
    refused: string | null;
  }
  /** A request of `tag` could not be answered. */
  | { type: "failed"; client: Connection; tag: number; reason: string };

/** Counters of cluster mode for `/metrics`. */
export interface ClusterCounters {
  /** Whether both connections to Redis are up. */
  readonly connected: boolean;
  /** Messages that could not be published (Redis lost, failed calls). */
  readonly unpublished: number;
  /**
   * PRESENCE frames (joins, leaves, renames) that could not be published
   * to the other nodes (Redis lost, failed calls).
   */
  readonly unpublishedPresence: number;
  /** Messages of other nodes this node did not receive (a gap). */
  readonly missed: number;
}

/** The node side of cluster mode, as the hub uses it. */
export interface ClusterBackend {
  /** This node's number in the cluster. */
  readonly node: number;
  /** Its counters, for `/metrics`. */
  readonly counters: ClusterCounters;
  /** The next client id (unique across the cluster). */
  nextId(): number;
  /**
   * Connect the hub: its bus, with deliveries and events posted to it.
   *
   * @param deliver Ordered messages (the hub posts them to its inbox).
   * @param post Everything else.
   * @returns The room bus.
   */
  attach(deliver: BusDelivery, post: (event: ClusterEvent) => void): RoomBus;
  /** Start receiving a room's presence from other nodes. */
  watchRoom(room: string): void;
  /** Stop receiving it. */
  unwatchRoom(room: string): void;
  /** Tell the other nodes of a PRESENCE frame for a room. */
  publishPresence(room: string, frame: Uint8Array): void;
  /** A local client is now in `room`. */
  entered(id: number, room: string): void;
  /** A local client is gone. */
  removed(id: number): void;
  /** Claim a nickname; the answer comes as a `nick` event. */
  claimNick(client: Connection, nickname: string): void;
  /** WHO of a room; the answer comes as a `who` event. */
  who(client: Connection, room: string): void;
  /** ROOMS; the answer comes as a `rooms` event. */
  rooms(client: Connection): void;
  /** Record the local clients again (after a Redis restart). */
  restore(clients: ClusterClient[]): void;
  /** Leave the cluster cleanly (heartbeat stopped, members removed). */
  close(): Promise<void>;
}

/** What {@linkcode ClusterHub} needs of the hub. */
export interface ClusterHubParts {
  /** Rooms and PRESENCE. */
  presence: RoomPresence;
  /** Local nicknames. */
  nicknames: NicknameIndex;
  /** The registered clients. */
  clients(): Iterable<Connection>;
  /** A registered client by id. */
  client(id: number): Connection | undefined;
  /** Queue a frame for one client. */
  send(client: Connection, frame: Uint8Array): void;
  /** Queue a frame for the hubbub members of a room. */
  announce(room: Room, frame: Uint8Array): void;
  /** Answer a request with ERROR. */
  refuse(client: Connection, tag: number, reason: string): void;
  /** Send a WHO or ROOMS list. */
  sendList(
    client: Connection,
    tag: number,
    entries: MemberEntry[] | RoomEntry[],
  ): void;
}

/** A room with local members, as this node follows it. */
interface LocalRoom {
  room: Room;
  /** The subscription is ready: `delivered` is exact. */
  ready: boolean;
  /** The id of the last message delivered here. */
  delivered: number;
  /** Joiners whose confirmation waits for the subscription. */
  waiting: Connection[];
}

/** The hub's cluster mode: see the module doc. */
export class ClusterHub implements PresenceHooks {
  /** The room bus (Redis). */
  readonly bus: RoomBus;
  #backend: ClusterBackend;
  #parts: ClusterHubParts | null = null;
  #rooms = new Map<string, LocalRoom>();

  /**
   * @param backend The node.
   * @param deliver The hub's delivery (it posts to the inbox).
   * @param post Where the node's events go (the inbox).
   */
  constructor(
    backend: ClusterBackend,
    deliver: BusDelivery,
    post: (event: ClusterEvent) => void,
  ) {
    this.#backend = backend;
    this.bus = backend.attach(deliver, post);
  }

  /**
   * Give the hub's parts (built after the bus).
   *
   * @param parts Presence, clients and output.
   */
  connect(parts: ClusterHubParts): void {
    this.#parts = parts;
  }

  /** @returns The next client id. */
  nextId(): number {
    return this.#backend.nextId();
  }

  /**
   * The id of the last message delivered here in `room`; `null` while the
   * room's subscription is not ready (a join confirmation must wait).
   */
  lastId(room: Room): number | null {
    const local = this.#rooms.get(room.name);
    return local === undefined || !local.ready ? null : local.delivered;
  }

  /**
   * Messages are about to be delivered in `room`: the first delivery of a
   * room whose subscription is not ready yet makes it ready (the counter
   * was `firstId - 1`), so waiting joiners are confirmed before it.
   */
  delivering(room: Room, firstId: number, count: number): void {
    const local = this.#rooms.get(room.name);
    if (local === undefined || local.room !== room) return;
    if (!local.ready) this.#ready(local, firstId - 1);
    local.delivered = firstId + count - 1;
  }

  entered(client: Connection, room: Room): void {
    let local = this.#rooms.get(room.name);
    if (local === undefined || local.room !== room) {
      local = { room, ready: false, delivered: 0, waiting: [] };
      this.#rooms.set(room.name, local);
      this.bus.join(room);
      this.#backend.watchRoom(room.name);
    }
    this.#backend.entered(client.id, room.name);
  }

  exited(client: Connection, room: Room): void {
    const local = this.#rooms.get(room.name);
    if (local === undefined || local.room !== room) return;
    const at = local.waiting.indexOf(client);
    if (at >= 0) local.waiting.splice(at, 1);
    // The lobby is one Room object for good: a delivery or a ready of an
    // earlier subscription still in the inbox could not be told from the
    // next one's, so the node stays subscribed to it.
    if (room.size > 0 || room.name === LOBBY) return;
    this.#rooms.delete(room.name);
    this.bus.leave(room);
    this.#backend.unwatchRoom(room.name);
  }

  defer(client: Connection, room: Room): void {
    const local = this.#rooms.get(room.name);
    if (local !== undefined && !local.waiting.includes(client)) {
      local.waiting.push(client);
    }
  }

  announced(room: Room, frame: Uint8Array): void {
    this.#backend.publishPresence(room.name, frame);
  }

  /** A registered client is gone (after its presence exit). */
  dropped(client: Connection): void {
    this.#backend.removed(client.id);
  }

  /** WHO across the cluster. */
  who(client: Connection): void {
    this.#backend.who(client, client.room!.name);
  }

  /** ROOMS across the cluster. */
  rooms(client: Connection): void {
    this.#backend.rooms(client);
  }

  /** NICK: the cluster decides whether the nickname is free. */
  nick(client: Connection, nickname: string): void {
    if (client.nickname === nickname) {
      this.#parts!.presence.nickChanged(client, nickname, true);
      return;
    }
    this.#backend.claimNick(client, nickname);
  }

  /** Handle an event of the node, on the hub's turn. */
  handle(event: ClusterEvent): void {
    const parts = this.#parts!;
    switch (event.type) {
      case "ready": {
        const local = this.#rooms.get(event.room.name);
        if (local === undefined || local.room !== event.room) break;
        if (!local.ready) this.#ready(local, event.lastId);
        else {
          // Subscribed again after a loss: what was published in the gap
          // never comes (it is missed, in the stream), and a Redis that
          // restarted empty counts from 0 again; the next id is past this.
          local.delivered = event.lastId;
        }
        break;
      }
      case "presence": {
        const local = this.#rooms.get(event.room);
        if (local !== undefined && parts.presence.announces(local.room)) {
          parts.announce(local.room, event.frame);
        }
        break;
      }
      case "notice": {
        const frame = encodeFrame(Tag.ERROR, 0, event.text);
        for (const client of parts.clients()) parts.send(client, frame);
        break;
      }
      case "restore": {
        const clients: ClusterClient[] = [];
        for (const client of parts.clients()) {
          clients.push({
            id: client.id,
            room: client.room?.name ?? null,
            nick: client.nickname,
          });
        }
        this.#backend.restore(clients);
        break;
      }
      case "nicks-lost":
        for (const id of event.ids) this.#nickLost(parts.client(id));
        break;
      case "who":
        if (open(event.client)) {
          parts.sendList(event.client, Tag.WHO, event.entries);
        }
        break;
      case "rooms":
        if (open(event.client)) {
          parts.sendList(event.client, Tag.ROOMS, event.entries);
        }
        break;
      case "nick":
        this.#nickAnswered(event.client, event.nickname, event.refused);
        break;
      case "failed":
        if (open(event.client)) {
          parts.refuse(event.client, event.tag, event.reason);
        }
        break;
    }
  }

  /** Leave the cluster (server shutdown, after the hub stopped). */
  close(): Promise<void> {
    return this.#backend.close();
  }

  #ready(local: LocalRoom, lastId: number): void {
    local.ready = true;
    local.delivered = lastId;
    const waiting = local.waiting;
    local.waiting = [];
    for (const client of waiting) {
      if (open(client) && client.room === local.room) {
        this.#parts!.presence.confirmJoin(client);
      }
    }
  }

  /** The cluster gave `client`'s nickname to another: it has none now. */
  #nickLost(client: Connection | undefined): void {
    if (client === undefined || !open(client) || client.nickname === null) {
      return;
    }
    const parts = this.#parts!;
    const old = client.nickname;
    parts.nicknames.release(client);
    client.nickname = null;
    parts.refuse(client, Tag.NICK, NICKNAME_LOST);
    parts.presence.nickChanged(client, old);
  }

  #nickAnswered(
    client: Connection,
    nickname: string,
    refused: string | null,
  ): void {
    if (!open(client)) return;
    const parts = this.#parts!;
    if (refused !== null) {
      parts.refuse(client, Tag.NICK, refused);
      return;
    }
    const old = client.nickname;
    // Every local holder is recorded in the cluster too: the claim it
    // granted is free here as well.
    if (!parts.nicknames.claim(client, nickname)) {
      parts.refuse(client, Tag.NICK, "nickname is taken");
      return;
    }
    parts.presence.nickChanged(client, old, old === nickname);
  }
}

function open(client: Connection): boolean {
  return client.state === ConnectionState.Open;
}
