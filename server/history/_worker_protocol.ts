/**
 * The messages between {@linkcode SqliteHistory} and its worker. The worker
 * handles them one at a time in the order posted and answers each that
 * expects an answer, so answers arrive in the same order.
 *
 * @module
 */

/** Why an open failed, so the main side can name it in one line. */
export type OpenFailure =
  | "locked"
  | "corrupt"
  | "unreadable"
  | "version"
  | "other";

/** Open the database (first message). */
export interface OpenMessage {
  readonly type: "open";
  readonly path: string;
  readonly busyTimeoutMs: number;
  /** `PRAGMA max_page_count`, or 0 for SQLite's default. */
  readonly maxPages: number;
}

/**
 * A batch of records: `bytes` holds runs back to back (`_run_layout.ts`),
 * run `i` said in `roomNames[runRooms[i]]`.
 */
export interface BatchMessage {
  readonly type: "batch";
  readonly bytes: Uint8Array;
  readonly roomNames: string[];
  readonly runRooms: Uint32Array;
  /** Messages in the batch (sum of the runs' counts). */
  readonly messages: number;
}

/** A query; `upTo` is the room's last id when asked. */
export interface QueryMessage {
  readonly type: "query";
  readonly room: string;
  readonly last: number | null;
  readonly after: number | null;
  readonly upTo: number;
  readonly limit: number;
}

/**
 * Apply the retention limits: delete the chunks wholly past them, and from
 * then on never answer with a message past them (until the next prune).
 */
export interface PruneMessage {
  readonly type: "prune";
  /** Wall time now, ms since the epoch. */
  readonly now: number;
  readonly maxPerRoom: number;
  /** 0 means no age limit. */
  readonly maxAgeMs: number;
}

/** Finish: answer `closed`, then the worker ends. */
export interface CloseMessage {
  readonly type: "close";
}

/** Main side to worker. */
export type ToWorker =
  | OpenMessage
  | BatchMessage
  | QueryMessage
  | PruneMessage
  | CloseMessage;

/** Worker to main side. */
export type FromWorker =
  | { type: "opened"; lastIds: [string, number][] }
  | { type: "open-failed"; failure: OpenFailure; detail: string }
  | { type: "written"; messages: number; error: string | null }
  | {
    type: "answer";
    room: string;
    rows: {
      id: number;
      sender: number;
      nick: string | null;
      time: number;
      body: Uint8Array;
    }[];
    inRange: number;
    rangeSize: number;
    error: string | null;
  }
  /** `deleted` counts chunks (rows), not messages. */
  | { type: "pruned"; deleted: number; error: string | null }
  | { type: "closed" };
