/**
 * The worker that owns the history database: one `node:sqlite` connection
 * (WAL, synchronous=NORMAL, locking_mode=EXCLUSIVE so a second server on the
 * same file is refused), one transaction per batch, queries answered in the
 * order asked. Messages are stored in chunks (`_chunk_writer.ts`): one row
 * holds many messages of a room, so a message costs the database next to
 * nothing. Errors are reported back, never thrown out of the worker.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { ChunkReader } from "./_chunk_reader.ts";
import { ChunkWriter } from "./_chunk_writer.ts";
import { trimRuns } from "./_trim_runs.ts";
import { runCount, runEnd, runFirstId } from "./_run_layout.ts";
import type {
  BatchMessage,
  FromWorker,
  OpenFailure,
  OpenMessage,
  PruneMessage,
  QueryMessage,
  ToWorker,
} from "./_worker_protocol.ts";

/** `PRAGMA user_version` of the schema below; any other is refused. */
const SCHEMA_VERSION = 2;

// A chunk's `data` is runs back to back (`_run_layout.ts`); its id range,
// times and count let a query or prune skip it without reading `data`.
// A rowid table: SQLite keeps rows this large better in one than WITHOUT
// ROWID (the key's index stays small).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS chunks (
  room TEXT NOT NULL, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL,
  oldest_time INTEGER NOT NULL, newest_time INTEGER NOT NULL,
  count INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (room, first_id));
CREATE TABLE IF NOT EXISTS rooms (room TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
PRAGMA user_version = ${SCHEMA_VERSION};
`;

interface Statements {
  insert: StatementSync;
  lastId: StatementSync;
  overlapping: StatementSync;
  data: StatementSync;
  rooms: StatementSync;
  pruneRoom: StatementSync;
  pruneAge: StatementSync;
  partlyOld: StatementSync;
  partlyBeyond: StatementSync;
  remove: StatementSync;
}

/** A file whose schema this version does not know. */
class VersionError extends Error {}

let db: DatabaseSync | null = null;
let statements: Statements | null = null;

const writer = new ChunkWriter(
  (room, firstId, lastId, oldestTime, newestTime, count, data) =>
    statements!.insert.run(
      room,
      firstId,
      lastId,
      oldestTime,
      newestTime,
      count,
      data,
    ),
);

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
    checkSchema(opened);
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
    const failure = error instanceof VersionError
      ? "version"
      : classify(detail);
    post({ type: "open-failed", failure, detail });
  }
}

/** Create the schema in a new file; refuse a file of another version. */
function checkSchema(database: DatabaseSync): void {
  const version = Number(
    database.prepare("PRAGMA user_version").get()?.user_version ?? 0,
  );
  if (version === SCHEMA_VERSION) return;
  // Version 0 is a new file, unless it holds the one-row-per-message
  // table of the first schema.
  const old = database.prepare(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'",
  ).get();
  if (version !== 0 || old !== undefined) {
    throw new VersionError(
      `schema version ${version}, this server knows ${SCHEMA_VERSION}`,
    );
  }
  database.exec(SCHEMA);
}

function prepare(database: DatabaseSync): Statements {
  return {
    insert: database.prepare(
      "INSERT OR REPLACE INTO chunks (room, first_id, last_id, oldest_time, newest_time, count, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    lastId: database.prepare(
      "INSERT INTO rooms (room, last_id) VALUES (?, ?) ON CONFLICT(room) DO UPDATE SET last_id = max(last_id, excluded.last_id)",
    ),
    // Chunks hold disjoint id ranges: only the last one starting at or
    // below `low` can reach into the range from below.
    overlapping: database.prepare(
      `SELECT first_id, last_id, count FROM chunks
       WHERE room = ? AND last_id >= ? AND first_id BETWEEN
         coalesce((SELECT max(first_id) FROM chunks WHERE room = ? AND first_id <= ?), 0) AND ?
       ORDER BY first_id`,
    ),
    data: database.prepare(
      "SELECT data FROM chunks WHERE room = ? AND first_id = ?",
    ),
    rooms: database.prepare("SELECT room, last_id FROM rooms"),
    pruneRoom: database.prepare(
      "DELETE FROM chunks WHERE room = ? AND first_id <= ? AND last_id <= ?",
    ),
    pruneAge: database.prepare("DELETE FROM chunks WHERE newest_time < ?"),
    partlyOld: database.prepare(
      "SELECT room, first_id, data FROM chunks WHERE oldest_time < ?",
    ),
    partlyBeyond: database.prepare(
      "SELECT room, first_id, data FROM chunks WHERE room = ? AND first_id <= ? AND last_id > ?",
    ),
    remove: database.prepare(
      "DELETE FROM chunks WHERE room = ? AND first_id = ?",
    ),
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

function writeBatch(batch: BatchMessage): void {
  if (db === null || statements === null) {
    post({ type: "written", messages: batch.messages, error: "not open" });
    return;
  }
  try {
    inTransaction(db, () => {
      writer.writeBatch(batch.bytes, batch.roomNames, batch.runRooms);
      for (const [room, last] of lastIdsOf(batch)) {
        statements!.lastId.run(room, last);
      }
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

/** Each room's highest id in a batch. */
function lastIdsOf(batch: BatchMessage): Map<string, number> {
  const bytes = batch.bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const lastIds = new Map<string, number>();
  let at = 0;
  for (let i = 0; i < batch.runRooms.length; i++) {
    const room = batch.roomNames[batch.runRooms[i]];
    const last = runFirstId(view, at) + runCount(view, at) - 1;
    if (last > (lastIds.get(room) ?? 0)) lastIds.set(room, last);
    at = runEnd(view, at);
  }
  return lastIds;
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
      for (const [room, last] of lastIdsOf(batch)) lastId.run(room, last);
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
    const reader = new ChunkReader(low, upTo, limit);
    const { overlapping, data } = statements;
    for (const chunk of overlapping.all(room, low, room, low, upTo)) {
      const firstId = Number(chunk.first_id);
      if (
        reader.full &&
        reader.holdsOnlyWanted(firstId, Number(chunk.last_id))
      ) {
        reader.countWanted(Number(chunk.count));
      } else {
        reader.addChunk(data.get(room, firstId)!.data as Uint8Array);
      }
    }
    const rows = reader.found;
    const inRange = reader.inRange;
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

/**
 * Delete the messages past the retention bounds: whole chunks where they
 * lie wholly past, and a chunk that straddles a bound is written again
 * without them, so answers never hold a pruned message.
 */
function prune(message: PruneMessage): void {
  if (db === null || statements === null) return;
  const { rooms, pruneRoom, pruneAge, partlyOld, partlyBeyond, remove } =
    statements;
  const oldest = message.maxAgeMs > 0
    ? message.now - message.maxAgeMs
    : -Infinity;
  let deleted = 0;
  try {
    inTransaction(db, () => {
      const keepAbove = new Map<string, number>();
      for (const row of rooms.all()) {
        const keep = Number(row.last_id) - message.maxPerRoom;
        if (keep > 0) keepAbove.set(String(row.room), keep);
      }
      if (oldest > -Infinity) deleted += Number(pruneAge.run(oldest).changes);
      const straddling = oldest > -Infinity ? partlyOld.all(oldest) : [];
      for (const [room, keep] of keepAbove) {
        deleted += Number(pruneRoom.run(room, keep, keep).changes);
        straddling.push(...partlyBeyond.all(room, keep, keep));
      }
      const done = new Set<string>();
      for (const chunk of straddling) {
        const room = String(chunk.room);
        const firstId = Number(chunk.first_id);
        const key = `${firstId} ${room}`;
        if (done.has(key)) continue;
        done.add(key);
        remove.run(room, firstId);
        const kept = trimRuns(
          chunk.data as Uint8Array,
          keepAbove.get(room) ?? 0,
          oldest,
        );
        if (kept.runs > 0) {
          writer.writeBatch(kept.bytes, [room], new Uint32Array(kept.runs));
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
