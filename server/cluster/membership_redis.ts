/**
 * The one Redis command cluster membership uses, as an interface: an
 * ioredis client (`new Redis(url)`) fits it, so membership can share the
 * bus's connection, and a test can pass any client.
 *
 * @module
 */

/** A Redis connection that runs Lua scripts (ioredis's `eval` fits). */
export interface ScriptRunner {
  /**
   * Run a Lua script (EVAL).
   *
   * @param script The Lua source.
   * @param numKeys How many of `args` are keys (membership passes 0).
   * @param args The arguments (ARGV).
   * @returns The script's reply.
   */
  eval(
    script: string,
    numKeys: number,
    ...args: (string | number)[]
  ): Promise<unknown>;
}

/** A member removed from a room by a reap or a clean shutdown. */
export interface RemovedMember {
  /** The node the member was on. */
  node: number;
  /** The room it was in. */
  room: string;
  /** The member's id. */
  id: number;
  /** The member's nickname, or `null`. */
  nick: string | null;
}

/**
 * Parse a reap reply: node, room, member JSON, repeated.
 *
 * @param reply The script's reply.
 * @returns The removed members.
 */
export function parseRemoved(reply: unknown): RemovedMember[] {
  const flat = reply as string[];
  const removed: RemovedMember[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) {
    const member = JSON.parse(flat[i + 2]) as {
      id: number;
      nick: string | null;
    };
    removed.push({
      node: Number(flat[i]),
      room: flat[i + 1],
      id: member.id,
      nick: member.nick,
    });
  }
  return removed;
}
