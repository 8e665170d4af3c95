/**
 * The Redis commands cluster membership uses, as an interface: an
 * ioredis client (`new Redis(url)`) fits it, so membership can share the
 * bus's connection, and a test can pass any client.
 *
 * @module
 */

import { createHash } from "node:crypto";

/**
 * A Redis connection that runs Lua scripts (an ioredis client fits):
 * membership sends a script's SHA1 and its source only when Redis does not
 * have it cached yet (after its first use, or a Redis restart).
 */
export interface ScriptRunner {
  /**
   * Run a cached Lua script (EVALSHA); fails with `NOSCRIPT` when Redis
   * does not have it.
   *
   * @param sha1 The script's SHA1, in hex.
   * @param numKeys How many of `args` are keys (membership passes 0).
   * @param args The arguments (ARGV).
   * @returns The script's reply.
   */
  evalsha(
    sha1: string,
    numKeys: number,
    ...args: (string | number)[]
  ): Promise<unknown>;
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

/** A Lua script with its SHA1, run by EVALSHA with EVAL as the fallback. */
export class LuaScript {
  /** The Lua source. */
  readonly source: string;
  /** Its SHA1 in hex, as Redis names cached scripts. */
  readonly sha1: string;

  /** @param source The Lua source. */
  constructor(source: string) {
    this.source = source;
    this.sha1 = createHash("sha1").update(source).digest("hex");
  }

  /**
   * Run the script with no keys.
   *
   * @param redis The connection.
   * @param args The arguments (ARGV).
   * @returns The script's reply.
   */
  async run(
    redis: ScriptRunner,
    ...args: (string | number)[]
  ): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha1, 0, ...args);
    } catch (error) {
      if (!String((error as Error)?.message).startsWith("NOSCRIPT")) {
        throw error;
      }
      return await redis.eval(this.source, 0, ...args);
    }
  }
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
