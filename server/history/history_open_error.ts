/**
 * The one error opening a history database gives: a one-line message naming
 * the path and what is wrong, for the server to print before exiting 1.
 *
 * @module
 */

import { dirname } from "node:path";

/** What made an open fail: `folder` is the folder that could not be made. */
export type HistoryOpenFailure =
  | "locked"
  | "corrupt"
  | "unreadable"
  | "version"
  | "folder"
  | "other";

/** Why a history database could not be opened: `message` is one line naming the path. */
export class HistoryOpenError extends Error {
  /** The database path. */
  readonly path: string;
  /** What went wrong. */
  readonly reason: HistoryOpenFailure;

  /**
   * Name the path and what went wrong in one line.
   *
   * @param path The database path.
   * @param reason What went wrong.
   * @param detail The underlying error's text.
   */
  constructor(path: string, reason: HistoryOpenFailure, detail: string) {
    const what = {
      locked: "is locked by another process (another server on this file?)",
      corrupt: "is corrupt or not a database",
      unreadable: "cannot be read or written",
      version: "was written by another version of hubbub",
      folder: `cannot be created: its folder ${dirname(path)} cannot be made`,
      other: "cannot be opened",
    }[reason];
    super(`history database ${path} ${what} (${detail.split("\n")[0]})`);
    this.name = "HistoryOpenError";
    this.path = path;
    this.reason = reason;
  }
}
