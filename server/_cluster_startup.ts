/**
 * Cluster mode for `deno task serve`: `--redis URL`, else the environment's
 * REDIS_URL. Without either nothing of `server/cluster/` is loaded (a
 * dynamic import), so a single server has no Redis dependency. Redis
 * unreachable at startup is one line naming the URL (exit 1).
 *
 * @module
 */

import { StartupError, UsageError } from "../cli/mod.ts";
import type { ClusterBackend } from "./cluster_hub.ts";
import type { HistoryStore } from "./history/mod.ts";
import type { Logger } from "./logger.ts";
import type { CommandLineSettings } from "./settings.ts";

/** The node and, unless `--no-history`, its history in Redis. */
export interface ClusterStart {
  /** The node, for the hub. */
  cluster: ClusterBackend;
  /** History read from the rooms' streams; `null` with `--no-history`. */
  history: HistoryStore | null;
  /** The URL, for the Listening line. */
  url: string;
}

/**
 * The Redis URL of the command line or of REDIS_URL (read only when the
 * process may read it).
 *
 * @param settings The command line's settings.
 * @returns The URL, or `undefined`: a single server.
 * @throws {UsageError} When it is not a `redis://` (or `rediss://`) URL.
 */
export function redisUrlOf(settings: CommandLineSettings): string | undefined {
  if (settings.redis !== undefined) {
    return checkedUrl(settings.redis, "--redis");
  }
  const allowed = Deno.permissions.querySync({
    name: "env",
    variable: "REDIS_URL",
  }).state === "granted";
  const value = allowed ? Deno.env.get("REDIS_URL") : undefined;
  return value === undefined || value === ""
    ? undefined
    : checkedUrl(value, "REDIS_URL");
}

/** `url` if it is a Redis URL; else one line saying what `source` needs. */
function checkedUrl(url: string, source: string): string {
  // Without a scheme the client would quietly use localhost:6379.
  if (/^rediss?:\/\/[^\s]*$/.test(url)) return url;
  throw new UsageError(
    `${source} takes redis://HOST:PORT (or rediss://), not ${
      JSON.stringify(url)
    }`,
  );
}

/**
 * Join the cluster the settings name, if any.
 *
 * @param settings The command line's settings.
 * @param logger Where the node logs.
 * @returns The node and its history, or `null`: a single server.
 * @throws {StartupError} When Redis cannot be reached or joined.
 */
export async function startCluster(
  settings: CommandLineSettings,
  logger: Logger,
): Promise<ClusterStart | null> {
  const url = redisUrlOf(settings);
  if (url === undefined) return null;
  if (Deno.permissions.querySync({ name: "env" }).state !== "granted") {
    // The Redis client reads the whole environment when it loads.
    throw new StartupError(
      "Cluster mode (--redis) needs --allow-env (deno task serve has it)",
    );
  }
  const { startClusterNode } = await import("./cluster/cluster_node.ts");
  const { RedisHistory } = await import("./cluster/redis_history.ts");
  try {
    const node = await startClusterNode(url, {
      logger,
      streamMaxLen: settings.historyMaxPerRoom,
    });
    const history = settings.noHistory ? null : new RedisHistory(node.link);
    return { cluster: node, history, url };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const line = reason.split("\n")[0];
    throw new StartupError(line.charAt(0).toUpperCase() + line.slice(1), {
      cause: error,
    });
  }
}
