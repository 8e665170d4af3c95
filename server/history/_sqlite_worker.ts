/**
 * The worker that owns the history database: one `node:sqlite` connection
 * (WAL, synchronous=NORMAL, locking_mode=EXCLUSIVE so a second server on the
 * same file is refused), one transaction per batch, queries answered in the
 * order asked. Errors are reported back, never thrown out of the worker.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { HEADER_SIZE } from "../../protocol/constants.ts";
import { readBodyLength, readSenderId } from "../../protocol/header.ts";
import type {
  BatchMessage,
  FromWorker,
  OpenFailure,
  OpenMessage,
  PruneMessage,
  QueryMessage,
  ToWorker,
} from "./_worker_protocol.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  room TEXT NOT NULL, id INTEGER NOT NULL, sender INTEGER NOT NULL,
  nick TEXT, time INTEGER NOT NULL, body BLOB NOT NULL,
  PRIMARY KEY (room, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rooms (room TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
`;

interface Statements {
  insert: StatementSync;
  insertMany: StatementSync;
  lastId: StatementSync;
  count: StatementSync;
  select: StatementSync;
  rooms: StatementSync;
  pruneRoom: StatementSync;
  pruneAge: StatementSync;
}

let db: DatabaseSync | null = null;
let statements: Statements | null = null;

function post(message: FromWorker): void {
  self.postMessage(message);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function classify(text: string): OpenFailure {
  if (/locked|busy/i.test(text)) return "locked";
  if (/not a database|malformed|corrupt/i.test(text)) return "corrupt";
  if (/permission|unable to open|readonly|read-only|NotCapable/i.test(text)) {
    return "unreadable";
  }
  return "other";
}

function open(message: OpenMessage): void {
  let opened: DatabaseSync | null = null;
  try {
    opened = new DatabaseSync(message.path);
    opened.exec(`PRAGMA busy_timeout = ${message.busyTimeoutMs}`);
    opened.exec("PRAGMA locking_mode = EXCLUSIVE");
    opened.exec("PRAGMA journal_mode = WAL");
    opened.exec("PRAGMA synchronous = NORMAL");
    if (message.maxPages > 0) {
      opened.exec(`PRAGMA max_page_count = ${message.maxPages}`);
    }
    // A write now takes the exclusive lock and proves the file writable.
    opened.exec("BEGIN IMMEDIATE");
    opened.exec(SCHEMA);
    opened.exec("COMMIT");
    const lastIds = opened.prepare("SELECT room, last_id FROM rooms").all()
      .map((row) =>
        [String(row.room), Number(row.last_id)] as [string, number]
      );
    db = opened;
    statements = prepare(opened);
    post({ type: "opened", lastIds });
  } catch (error) {
    const detail = errorText(error);
    try {
      opened?.close();
    } catch { /* already failed; the open error is the one to report */ }
    post({ type: "open-failed", failure: classify(detail), detail });
  }
}

function prepare(database: DatabaseSync): Statements {
  return {
    insert: database.prepare(
      "INSERT OR REPLACE INTO messages (room, id, sender, nick, time, body) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    insertMany: database.prepare(
      "INSERT OR REPLACE INTO messages (room, id, sender, nick, time, body) VALUES " +
        Array(ROWS_PER_INSERT).fill("(?, ?, ?, ?, ?, ?)").join(", "),
    ),
    lastId: database.prepare(
      "INSERT INTO rooms (room, last_id) VALUES (?, ?) ON CONFLICT(room) DO UPDATE SET last_id = max(last_id, excluded.last_id)",
    ),
    count: database.prepare(
      "SELECT count(*) AS n FROM messages WHERE room = ? AND id BETWEEN ? AND ?",
    ),
    select: database.prepare(
      "SELECT id, sender, nick, time, body FROM messages WHERE room = ? AND id BETWEEN ? AND ? ORDER BY id LIMIT ?",
    ),
    rooms: database.prepare("SELECT room, last_id FROM rooms"),
    pruneRoom: database.prepare(
      "DELETE FROM messages WHERE room = ? AND id <= ?",
    ),
    pruneAge: database.prepare("DELETE FROM messages WHERE time < ?"),
  };
}

function inTransaction(database: DatabaseSync, work: () => void): void {
  database.exec("BEGIN IMMEDIATE");
  try {
    work();
    database.exec("COMMIT");
  } catch (error) {
    try {
      database.exec("ROLLBACK");
    } catch { /* SQLite may have rolled back already */ }
    throw error;
  }
}

/** Rows per multi-row INSERT: one call per many rows is much faster. */
const ROWS_PER_INSERT = 16;
const COLUMNS = 6;
const insertArgs: (string | number | null | Uint8Array)[] = new Array(
  ROWS_PER_INSERT * COLUMNS,
);

function writeBatch(batch: BatchMessage): void {
  if (db === null || statements === null) {
    post({ type: "written", messages: batch.messages, error: "not open" });
    return;
  }
  const { insert, insertMany, lastId } = statements;
  try {
    inTransaction(db, () => {
      const bytes = batch.bytes;
      const lastIds = new Map<string, number>();
      let offset = 0;
      let rows = 0;
      for (let i = 0; i < batch.rooms.length; i++) {
        const room = batch.rooms[i];
        const firstId = batch.firstIds[i];
        for (let k = 0; k < batch.counts[i]; k++) {
          const length = readBodyLength(bytes, offset);
          const start = offset + HEADER_SIZE;
          const at = rows * COLUMNS;
          insertArgs[at] = room;
          insertArgs[at + 1] = firstId + k;
          insertArgs[at + 2] = readSenderId(bytes, offset);
          insertArgs[at + 3] = batch.nicks[i];
          insertArgs[at + 4] = batch.times[i];
          insertArgs[at + 5] = bytes.subarray(start, start + length);
          offset = start + length;
          if (++rows === ROWS_PER_INSERT) {
            insertMany.run(...insertArgs);
            rows = 0;
          }
        }
        offset = batch.ends[i];
        const last = firstId + batch.counts[i] - 1;
        if (last > (lastIds.get(room) ?? 0)) lastIds.set(room, last);
      }
      for (let r = 0; r < rows; r++) {
        insert.run(...insertArgs.slice(r * COLUMNS, (r + 1) * COLUMNS));
      }
      for (const [room, last] of lastIds) lastId.run(room, last);
    });
    post({ type: "written", messages: batch.messages, error: null });
  } catch (error) {
    keepLastIds(batch);
    post({
      type: "written",
      messages: batch.messages,
      error: errorText(error),
    });
  }
}

/**
 * After a failed batch, still try to move the rooms' last ids on (updating
 * a row in place often fits where new rows do not), so that ids never
 * restart below ones already relayed.
 */
function keepLastIds(batch: BatchMessage): void {
  if (db === null || statements === null) return;
  const { lastId } = statements;
  try {
    inTransaction(db, () => {
      for (let i = 0; i < batch.rooms.length; i++) {
        lastId.run(batch.rooms[i], batch.firstIds[i] + batch.counts[i] - 1);
      }
    });
  } catch { /* the batch's failure is the one reported */ }
}

function query(message: QueryMessage): void {
  const { room, upTo, limit } = message;
  const low = message.last !== null
    ? Math.max(1, upTo - message.last + 1)
    : message.after! + 1;
  const rangeSize = Math.max(0, upTo - low + 1);
  if (rangeSize === 0 || statements === null) {
    post({
      type: "answer",
      room,
      rows: [],
      inRange: 0,
      rangeSize,
      error: statements === null && rangeSize > 0 ? "not open" : null,
    });
    return;
  }
  try {
    const inRange = Number(statements.count.get(room, low, upTo)?.n ?? 0);
    const rows = statements.select.all(room, low, upTo, Math.max(0, limit))
      .map((row) => ({
        id: Number(row.id),
        sender: Number(row.sender),
        nick: row.nick === null ? null : String(row.nick),
        time: Number(row.time),
        body: row.body as Uint8Array,
      }));
    post({ type: "answer", room, rows, inRange, rangeSize, error: null });
  } catch (error) {
    post({
      type: "answer",
      room,
      rows: [],
      inRange: 0,
      rangeSize,
      error: errorText(error),
    });
  }
}

function prune(message: PruneMessage): void {
  if (db === null || statements === null) return;
  const { rooms, pruneRoom, pruneAge } = statements;
  let deleted = 0;
  try {
    inTransaction(db, () => {
      if (message.maxAgeMs > 0) {
        deleted += Number(
          pruneAge.run(message.now - message.maxAgeMs).changes,
        );
      }
      for (const row of rooms.all()) {
        const keepAbove = Number(row.last_id) - message.maxPerRoom;
        if (keepAbove > 0) {
          deleted += Number(pruneRoom.run(String(row.room), keepAbove).changes);
        }
      }
    });
    post({ type: "pruned", deleted, error: null });
  } catch (error) {
    post({ type: "pruned", deleted: 0, error: errorText(error) });
  }
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "open":
      return open(message);
    case "batch":
      return writeBatch(message);
    case "query":
      return query(message);
    case "prune":
      return prune(message);
    case "close":
      try {
        db?.close();
      } catch { /* closing anyway */ }
      db = null;
      statements = null;
      post({ type: "closed" });
      self.close();
  }
};
