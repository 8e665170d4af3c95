/**
 * The wire formats the load generator can drive: hubbub's own (also the
 * original Rust server's) and Redis pub/sub, for comparison.
 *
 * @module
 */

import { authenticatingHubbubTarget, hubbubTarget } from "./hubbub.ts";
import { redisTarget } from "./redis.ts";
import type { Target } from "./target.ts";

export { authenticatingHubbubTarget, hubbubTarget } from "./hubbub.ts";
export { redisTarget } from "./redis.ts";
export { ProtocolError, type StreamSink, type Target } from "./target.ts";

/** The names `--target` accepts. */
export const TARGET_NAMES = ["hubbub", "redis"] as const;

/** One of {@linkcode TARGET_NAMES}. */
export type TargetName = typeof TARGET_NAMES[number];

/**
 * The target of a name.
 *
 * @param name `hubbub` or `redis`.
 * @param channel The Redis channel (ignored for hubbub).
 * @param token hubbub: the AUTH token every connection sends first ("" for
 * none).
 * @returns The target.
 * @throws {RangeError} For an unknown name.
 */
export function targetNamed(name: string, channel: string, token = ""): Target {
  switch (name) {
    case "hubbub":
      return token === "" ? hubbubTarget : authenticatingHubbubTarget(token);
    case "redis":
      return redisTarget(channel);
    default:
      throw new RangeError(`Unknown target '${name}'`);
  }
}
