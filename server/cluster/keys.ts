/**
 * The names of hubbub's keys and channels in Redis, in one place for every
 * part of cluster mode. A room's keys put its name in braces (a Redis
 * Cluster hash tag), so that the publish script, which touches the room's
 * counter and stream together, finds them in one slot.
 *
 * @module
 */

/** The counter `INCR`ed once by each node at startup for its node number. */
export const NODE_SEQ_KEY = "hubbub:node-seq";

/**
 * A key of a room: `hubbub:room:{<name>}:<part>`.
 *
 * @param name The room's name.
 * @param part What the key holds (`id`, `log`, `members`).
 * @returns The key.
 */
export function roomKey(name: string, part: string): string {
  return `hubbub:room:{${name}}:${part}`;
}

/**
 * The room's message id counter (the id of its last message).
 *
 * @param name The room's name.
 * @returns The key.
 */
export function roomCounterKey(name: string): string {
  return roomKey(name, "id");
}

/**
 * The room's message stream (history; entry ids `<message id>-0`).
 *
 * @param name The room's name.
 * @returns The key.
 */
export function roomStreamKey(name: string): string {
  return roomKey(name, "log");
}

/**
 * The channel the room's ordered messages are published on.
 *
 * @param name The room's name.
 * @returns The channel's name.
 */
export function roomChannel(name: string): string {
  return `hubbub:room:{${name}}`;
}
