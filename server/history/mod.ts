/**
 * Message history: the store the hub records every relayed CHAT into and
 * asks for earlier messages of a room. {@linkcode HistoryStore} is the
 * runtime-neutral seam; {@linkcode openSqliteHistory} opens the embedded
 * SQLite one.
 *
 * @module
 */

export {
  HistoryOpenError,
  type HistoryOpenFailure,
} from "./history_open_error.ts";
export {
  openSqliteHistory,
  SqliteHistory,
  type SqliteHistoryOptions,
} from "./sqlite_history.ts";

/** One stored message, as a query returns it. */
export interface HistoryEntry {
  /** The room it was said in. */
  readonly room: string;
  /** Its per-room message id (1, 2, 3, ... in the order relayed). */
  readonly id: number;
  /** The sender id the server stamped on it. */
  readonly sender: number;
  /** The sender's nickname at the time, or null when it had none. */
  readonly nick: string | null;
  /** Server time it was relayed, in ms since the epoch. */
  readonly time: number;
  /** The CHAT body bytes exactly as relayed. */
  readonly body: Uint8Array;
}

/**
 * What a client asks for, about one room: the last `last` messages, or
 * those with an id above `after`; only ids up to `until` when given; at
 * most `limit` messages in the answer (the reply cap).
 */
export type HistoryRequest =
  | { readonly last: number; readonly until?: number; readonly limit: number }
  | { readonly after: number; readonly until?: number; readonly limit: number };

/** The answer to a {@linkcode HistoryRequest}: entries and the end marker. */
export interface HistoryAnswer {
  /** The room asked about. */
  readonly room: string;
  /** The messages found, in id order. */
  readonly entries: readonly HistoryEntry[];
  /** `entries.length`. */
  readonly count: number;
  /** The id of the first entry, or null when there are none. */
  readonly first: number | null;
  /** The id of the last entry, or null when there are none. */
  readonly last: number | null;
  /** True when no id of the asked range is missing (`missing === 0`). */
  readonly complete: boolean;
  /** How many ids of the asked range are not stored (pruned, or lost). */
  readonly missing: number;
  /** True when the limit cut the range: ask again after `last`. */
  readonly more: boolean;
  /** Why the store could not answer, when it could not (then no entries). */
  readonly error?: string;
}

/** Counters for /metrics, each counting messages (not batches). */
export interface HistoryCounters {
  /** Messages written to the store. */
  readonly stored: number;
  /** Messages that could not be stored (write failures, drops, closed). */
  readonly notStored: number;
  /** Failed write attempts (batches). */
  readonly writeErrors: number;
  /** Messages recorded and not yet confirmed written. */
  readonly pending: number;
}

/** Where relayed messages are kept and earlier ones are found. */
export interface HistoryStore {
  /**
   * Keep a run of CHAT frames one sender sent to `room`. Synchronous and
   * cheap: copies the bytes into the current batch, never touches the disk
   * on the caller's turn.
   *
   * @param room The room the frames were relayed to.
   * @param firstId The message id of the first frame; the rest follow by one.
   * @param frames `count` whole CHAT frames back to back (24-byte header,
   * then body), sender ids stamped; only valid during the call.
   * @param count How many frames `frames` holds.
   * @param nick The sender's nickname, or null.
   * @param time Server time of relay, ms since the epoch.
   */
  record(
    room: string,
    firstId: number,
    frames: Uint8Array,
    count: number,
    nick: string | null,
    time: number,
  ): void;
  /**
   * Find earlier messages of `room`. Sees every message recorded before the
   * call; the answer comes later, on its own turn.
   *
   * @param room The room asked about.
   * @param request What to find.
   * @param reply Called once with the answer.
   */
  query(
    room: string,
    request: HistoryRequest,
    reply: (answer: HistoryAnswer) => void,
  ): void;
  /**
   * The id of the last message recorded in `room` (0 when none), known
   * synchronously; survives restarts and pruning.
   *
   * @param room The room.
   * @returns The last id.
   */
  lastId(room: string): number;
  /** The last id of every room that has one, known synchronously. */
  lastIds(): ReadonlyMap<string, number>;
  /** Counters for /metrics. */
  readonly counters: HistoryCounters;
  /** Write everything pending, wait for it, and release the store. */
  close(): Promise<void>;
}
