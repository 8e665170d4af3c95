/**
 * The history store of `deno task serve`, opened before the server listens:
 * a path it cannot use is one line naming it (exit 1), write failures at
 * run time one log line each.
 *
 * @module
 */

import { StartupError, UsageError } from "../cli/mod.ts";
import {
  HistoryOpenError,
  type HistoryStore,
  openSqliteHistory,
  type SqliteHistoryOptions,
} from "./history/mod.ts";
import type { Logger } from "./logger.ts";
import type { CommandLineSettings } from "./settings.ts";

/**
 * Open the history database the command line names, unless `--no-history`.
 *
 * @param settings The command line's settings.
 * @param logger Where write failures and resumptions are logged.
 * @param more Settings that have no flag (tests: a small `maxPages`).
 * @returns The store, or `null` with history off.
 * @throws {UsageError} For an empty `--history-db`.
 * @throws {StartupError} When the database cannot be opened (locked,
 * corrupt, unreadable, its folder cannot be made, no permission).
 */
export async function openHistory(
  settings: CommandLineSettings,
  logger: Logger,
  more: SqliteHistoryOptions = {},
): Promise<HistoryStore | null> {
  if (settings.noHistory) return null;
  const path = settings.historyDb;
  if (path.trim() === "") {
    throw new UsageError("--history-db needs a path (or use --no-history)");
  }
  if (
    path !== ":memory:" &&
    Deno.permissions.querySync({ name: "write", path }).state !== "granted"
  ) {
    throw new StartupError(
      `History database ${path} cannot be written without --allow-write (deno task serve has it), or run with --no-history`,
    );
  }
  try {
    return await openSqliteHistory(path, {
      ...more,
      flushMs: settings.historyFlushMs,
      maxPerRoom: settings.historyMaxPerRoom,
      maxAgeSeconds: settings.historyMaxAgeMs / 1000,
      onWriteFailure: (reason) =>
        logger.warn("History writing failed; retrying, chat goes on", {
          path,
          reason,
        }),
      onWriteResume: () => logger.info("History writing resumed", { path }),
    });
  } catch (error) {
    if (error instanceof HistoryOpenError) {
      throw new StartupError(sentence(error.message), { cause: error });
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new StartupError(
        `History database ${path} needs --allow-read and --allow-write (or run with --no-history)`,
        { cause: error },
      );
    }
    throw error;
  }
}

function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
