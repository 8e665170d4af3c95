/**
 * Room membership and nicknames across the nodes of a cluster, kept in
 * Redis: who is in which room on any node (WHO, ROOMS) and which client
 * holds a nickname or a lookalike of it.
 *
 * Every call returns a promise and the hub never awaits one: it turns the
 * answer into an inbox event. Record calls (join, part, remove) never
 * reject; a failure goes to `onError`. Queries and nickname claims reject
 * when Redis fails, and the caller reports that to the client.
 *
 * @module
 */

import type { MemberEntry, RoomEntry } from "../../protocol/messages.ts";
import { nicknameKey } from "../../protocol/name_key.ts";
import {
  JOIN_SCRIPT,
  LEAVE_CLUSTER_SCRIPT,
  NICK_SCRIPT,
  PART_SCRIPT,
  REMOVE_SCRIPT,
  RESTORE_SCRIPT,
  ROOMS_SCRIPT,
  WHO_SCRIPT,
} from "./_membership_scripts.ts";
import {
  type LuaScript,
  parseRemoved,
  type RemovedMember,
  type ScriptRunner,
} from "./membership_redis.ts";

/** The refusal of a nickname another client holds (as on a single node). */
export const NICKNAME_TAKEN = "nickname is taken";

/** One local client as {@linkcode ClusterMembership.restore} records it. */
export interface LocalClient {
  /** The client's id. */
  id: number;
  /** Its room, or `null`. */
  room: string | null;
  /** Its nickname, or `null`. */
  nick: string | null;
}

/** The answer to a nickname claim. */
export type NickClaim = { ok: true } | { ok: false; reason: string };

/**
 * One node's view of cluster membership: it records its own clients and
 * answers about everyone's.
 *
 * Start the node's {@linkcode NodeHeartbeat} before recording clients: a
 * node that is not registered (never beat, or was reaped) has its joins,
 * nickname claims and restores refused (`NOTREGISTERED`), since nobody
 * would ever reap them.
 *
 * @example Usage
 * ```ts no-eval
 * const membership = new ClusterMembership(redis, node, console.error);
 * membership.join(id, "lobby");
 * const claim = await membership.claimNick(id, "ann");
 * const members = await membership.who("lobby");
 * ```
 */
export class ClusterMembership {
  #redis: ScriptRunner;
  #node: string;
  #onError: (error: unknown) => void;

  /**
   * @param redis The connection (an ioredis client).
   * @param node This node's number.
   * @param onError Told of each record call that failed.
   */
  constructor(
    redis: ScriptRunner,
    node: number,
    onError: (error: unknown) => void,
  ) {
    this.#redis = redis;
    this.#node = String(node);
    this.#onError = onError;
  }

  /**
   * Record that a local client is now in `room` (leaving its old room).
   *
   * @param id The client's id.
   * @param room The room's name.
   * @returns Settles when recorded (or failed: see `onError`).
   */
  join(id: number, room: string): Promise<void> {
    return this.#record(JOIN_SCRIPT, String(id), room);
  }

  /**
   * Record that a local client left its room (it keeps its nickname).
   *
   * @param id The client's id.
   * @returns Settles when recorded.
   */
  part(id: number): Promise<void> {
    return this.#record(PART_SCRIPT, String(id));
  }

  /**
   * Record that a local client is gone: out of its room, nickname freed.
   *
   * @param id The client's id.
   * @returns Settles when recorded.
   */
  remove(id: number): Promise<void> {
    return this.#record(REMOVE_SCRIPT, String(id));
  }

  /**
   * Claim a nickname for a local client across the cluster, freeing the one
   * it held. Refused when another client holds it or a lookalike of it.
   *
   * @param id The client's id.
   * @param nickname A nickname that passed `nicknameProblem` (NFC).
   * @returns Whether the client now holds it.
   */
  async claimNick(id: number, nickname: string): Promise<NickClaim> {
    const member: MemberEntry = { id, nick: nickname };
    const reply = await NICK_SCRIPT.run(
      this.#redis,
      this.#node,
      String(id),
      nicknameKey(nickname),
      JSON.stringify(member),
    );
    return reply === 1 ? { ok: true } : { ok: false, reason: NICKNAME_TAKEN };
  }

  /**
   * Record this node's clients anew, replacing whatever Redis holds for the
   * node: after an eviction or a Redis restart (start the heartbeat again
   * first). Nicknames are claimed again; one another client took meanwhile
   * is lost (the client is recorded without a nick).
   *
   * @param clients Every local client.
   * @returns The ids whose nickname was taken meanwhile.
   */
  async restore(clients: readonly LocalClient[]): Promise<number[]> {
    const args: string[] = [this.#node];
    for (const { id, room, nick } of clients) {
      const member: MemberEntry = { id, nick };
      args.push(
        String(id),
        room ?? "",
        nick === null ? "" : nicknameKey(nick),
        JSON.stringify(member),
      );
    }
    const taken = await RESTORE_SCRIPT.run(this.#redis, ...args) as string[];
    return taken.map(Number);
  }

  /**
   * The members of a room on every node, by id.
   *
   * @param room The room's name.
   * @returns One entry per member.
   */
  async who(room: string): Promise<MemberEntry[]> {
    const values = await WHO_SCRIPT.run(this.#redis, room) as string[];
    return values
      .map((value) => JSON.parse(value) as MemberEntry)
      .sort((a, b) => a.id - b.id);
  }

  /**
   * The rooms with members on any node, with their member counts, largest
   * first (ties by name), as a single node orders them.
   *
   * @param alwaysListed Rooms listed even with no member anywhere (the
   * lobby, as on a single node).
   * @returns One entry per room.
   */
  async rooms(alwaysListed: readonly string[] = []): Promise<RoomEntry[]> {
    const flat = await ROOMS_SCRIPT.run(this.#redis) as (string | number)[];
    const entries: RoomEntry[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      entries.push({ room: String(flat[i]), members: Number(flat[i + 1]) });
    }
    for (const room of alwaysListed) {
      if (!entries.some((entry) => entry.room === room)) {
        entries.push({ room, members: 0 });
      }
    }
    return entries.sort((a, b) =>
      b.members - a.members || (a.room < b.room ? -1 : 1)
    );
  }

  /**
   * A clean shutdown: remove all of this node's clients from the cluster
   * at once, and the node's registration (stop its heartbeat first).
   *
   * @returns The room members removed, for leave presence.
   */
  async leaveCluster(): Promise<RemovedMember[]> {
    return parseRemoved(
      await LEAVE_CLUSTER_SCRIPT.run(this.#redis, this.#node),
    );
  }

  async #record(script: LuaScript, ...args: string[]): Promise<void> {
    try {
      await script.run(this.#redis, this.#node, ...args);
    } catch (error) {
      this.#onError(error);
    }
  }
}
