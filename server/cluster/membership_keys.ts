/**
 * The Redis key names of cluster membership. Room keys come from
 * {@linkcode roomKey} (keys.ts, shared by all of cluster mode); the Lua
 * scripts are built from these same functions, so each name is spelled
 * once.
 *
 * @module
 */

import { roomKey } from "./keys.ts";

/** Set of the rooms that have at least one member on some node. */
export const ROOMS_KEY = "hubbub:rooms";

/** Hash: nickname key (protocol/name_key.ts) -> id of the client holding it. */
export const NICKS_KEY = "hubbub:nicks";

/** Set of the node numbers that heartbeat (and may need reaping). */
export const NODES_KEY = "hubbub:nodes";

/**
 * Hash of a room's members across nodes: client id -> JSON `{id, nick}`.
 *
 * @param room The room's name.
 * @returns The key.
 */
export function roomMembersKey(room: string): string {
  return roomKey(room, "members");
}

/**
 * A node's key of one kind: `hubbub:node:<n>:<part>`.
 *
 * @param node The node number (or, for the scripts, a placeholder).
 * @param part `alive` (set with an expiry by the node's heartbeat),
 * `clients` (hash: client id -> JSON `{room, key, member}`, so a dead
 * node's members can be found) or `reaper` (the lock of its one reaper).
 * @returns The key.
 */
export function nodeKey(
  node: number | string,
  part: "alive" | "clients" | "reaper",
): string {
  return `hubbub:node:${node}:${part}`;
}
