/**
 * History in an embedded SQLite database, written by a worker so the disk
 * never holds up the hub: records gather in a batch that is posted every
 * `flushMs` (the window a `kill -9` can lose) or sooner when it grows past
 * `maxBatchBytes`; the worker writes each batch in one transaction. A failed
 * write pauses posting (logged once), keeps what fits in `maxPendingBytes`,
 * retries every `retryMs` and resumes (logged once).
 *
 * @module
 */

import { dirname } from "node:path";
import { workerUrl } from "../../cli/worker_url.ts";
import { type Clock, type ClockTimer, systemClock } from "../clock.ts";
import { HistoryOpenError } from "./history_open_error.ts";
import { PendingBatch } from "./_pending_batch.ts";
import type { FromWorker, ToWorker } from "./_worker_protocol.ts";
import type {
  HistoryAnswer,
  HistoryCounters,
  HistoryRequest,
  HistoryStore,
} from "./mod.ts";

/** Settings of {@linkcode openSqliteHistory}; every one has a default. */
export interface SqliteHistoryOptions {
  /** Timers' clock (batch window, retry, prune period). */
  readonly clock?: Clock;
  /** Wall time in ms since the epoch, for the age limit. */
  readonly wallClock?: () => number;
  /** The batch window in ms (default 100). */
  readonly flushMs?: number;
  /** Post a batch at once when it holds this many bytes (default 64 KiB). */
  readonly maxBatchBytes?: number;
  /** Bytes recorded and not yet written beyond which records are dropped (default 8 MiB). */
  readonly maxPendingBytes?: number;
  /** How often a paused store tries writing again, in ms (default 5000). */
  readonly retryMs?: number;
  /** How often retention is applied, in ms (default 60000). */
  readonly pruneMs?: number;
  /** Messages kept per room (default 10000). */
  readonly maxPerRoom?: number;
  /** Oldest message kept, in seconds; 0 = no age limit (default 604800). */
  readonly maxAgeSeconds?: number;
  /** How long opening waits on a lock, in ms (default 50). */
  readonly busyTimeoutMs?: number;
  /** Largest database size in pages (`PRAGMA max_page_count`); 0 = SQLite's. */
  readonly maxPages?: number;
  /** Called once when writing starts failing (a one-line reason). */
  readonly onWriteFailure?: (reason: string) => void;
  /** Called once when writing works again after a failure. */
  readonly onWriteResume?: () => void;
}

interface PendingQuery {
  reply: (answer: HistoryAnswer) => void;
}

/** A {@linkcode HistoryStore} in SQLite; made by {@linkcode openSqliteHistory}. */
export class SqliteHistory implements HistoryStore {
  #worker: Worker;
  #lastIds: Map<string, number>;
  #pending: PendingBatch;
  #inFlight: { messages: number; bytes: number }[] = [];
  #inFlightBytes = 0;
  #inFlightMessages = 0;
  #queries: PendingQuery[] = [];
  #flushTimer: ClockTimer;
  #retryTimer: ClockTimer;
  #stopPrune: () => void;
  #settings: Required<
    Omit<SqliteHistoryOptions, "onWriteFailure" | "onWriteResume" | "clock">
  >;
  #onWriteFailure: (reason: string) => void;
  #onWriteResume: () => void;
  #paused = false;
  #closed = false;
  #whenClosed: Promise<void> | null = null;
  #closedResolve: () => void = () => {};
  #stored = 0;
  #notStored = 0;
  #writeErrors = 0;

  /**
   * Take over a worker whose database is open (use
   * {@linkcode openSqliteHistory}).
   *
   * @param worker The worker, its database opened.
   * @param lastIds The rooms' last ids read at open.
   * @param options Settings.
   */
  constructor(
    worker: Worker,
    lastIds: Map<string, number>,
    options: SqliteHistoryOptions,
  ) {
    this.#worker = worker;
    this.#lastIds = lastIds;
    this.#settings = settingsOf(options);
    this.#onWriteFailure = options.onWriteFailure ?? (() => {});
    this.#onWriteResume = options.onWriteResume ?? (() => {});
    this.#pending = new PendingBatch(this.#settings.maxBatchBytes);
    const clock = options.clock ?? systemClock;
    this.#flushTimer = clock.timer(() => {
      if (!this.#paused) this.#flush();
    });
    this.#retryTimer = clock.timer(() => this.#retry());
    worker.onmessage = (event: MessageEvent<FromWorker>) =>
      this.#receive(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(`history worker failed: ${event.message}`);
    };
    this.#prune();
    this.#stopPrune = clock.every(this.#settings.pruneMs, () => this.#prune());
  }

  get counters(): HistoryCounters {
    return {
      stored: this.#stored,
      notStored: this.#notStored,
      writeErrors: this.#writeErrors,
      pending: this.#pending.messages + this.#inFlightMessages,
    };
  }

  /** Messages waiting for the batch window (not yet posted to the worker). */
  get batchedMessages(): number {
    return this.#pending.messages;
  }

  lastId(room: string): number {
    return this.#lastIds.get(room) ?? 0;
  }

  lastIds(): ReadonlyMap<string, number> {
    return this.#lastIds;
  }

  record(
    room: string,
    firstId: number,
    frames: Uint8Array,
    count: number,
    nick: string | null,
    time: number,
  ): void {
    const last = firstId + count - 1;
    if (last > (this.#lastIds.get(room) ?? 0)) this.#lastIds.set(room, last);
    if (
      this.#closed ||
      this.#pending.bytes + this.#inFlightBytes + frames.length >
        this.#settings.maxPendingBytes
    ) {
      this.#notStored += count;
      return;
    }
    this.#pending.add(room, firstId, frames, count, nick, time);
    if (this.#paused) return;
    if (this.#pending.bytes >= this.#settings.maxBatchBytes) this.#flush();
    else this.#flushTimer.schedule(this.#settings.flushMs);
  }

  query(
    room: string,
    request: HistoryRequest,
    reply: (answer: HistoryAnswer) => void,
  ): void {
    const known = this.lastId(room);
    const upTo = request.until === undefined
      ? known
      : Math.max(0, Math.min(request.until, known));
    if (this.#closed) {
      queueMicrotask(() => reply(failedAnswer(room, 0, "history is closed")));
      return;
    }
    // Everything recorded before the request goes first, so it is seen.
    if (!this.#paused) this.#flush();
    this.#queries.push({ reply });
    this.#post({
      type: "query",
      room,
      last: "last" in request ? request.last : null,
      after: "after" in request ? request.after : null,
      upTo,
      limit: request.limit,
    });
  }

  close(): Promise<void> {
    if (this.#whenClosed !== null) return this.#whenClosed;
    this.#whenClosed = new Promise((resolve) => this.#closedResolve = resolve);
    this.#flushTimer.close();
    this.#retryTimer.close();
    this.#stopPrune();
    if (!this.#closed) {
      this.#flush();
      this.#closed = true;
      this.#post({ type: "close" });
    } else this.#closedResolve();
    return this.#whenClosed;
  }

  #post(message: ToWorker): void {
    this.#worker.postMessage(message);
  }

  #flush(): void {
    const messages = this.#pending.messages;
    if (messages === 0) return;
    const bytes = this.#pending.bytes;
    this.#inFlight.push({ messages, bytes });
    this.#inFlightBytes += bytes;
    this.#inFlightMessages += messages;
    this.#pending.postTo(this.#worker);
  }

  #retry(): void {
    if (!this.#paused || this.#closed) return;
    if (this.#pending.messages > 0) this.#flush();
    else this.#retryTimer.schedule(this.#settings.retryMs);
  }

  #prune(): void {
    if (this.#closed) return;
    this.#post({
      type: "prune",
      now: this.#settings.wallClock(),
      maxPerRoom: this.#settings.maxPerRoom,
      maxAgeMs: this.#settings.maxAgeSeconds * 1000,
    });
  }

  #receive(message: FromWorker): void {
    switch (message.type) {
      case "written":
        return this.#written(message.error);
      case "answer": {
        const query = this.#queries.shift();
        if (query === undefined) return;
        if (message.error !== null) {
          return query.reply(
            failedAnswer(message.room, message.rangeSize, message.error),
          );
        }
        const entries = message.rows.map((row) => ({
          room: message.room,
          ...row,
        }));
        const missing = message.rangeSize - message.inRange;
        return query.reply({
          room: message.room,
          entries,
          count: entries.length,
          first: entries.length > 0 ? entries[0].id : null,
          last: entries.length > 0 ? entries[entries.length - 1].id : null,
          complete: missing === 0,
          missing,
          more: message.inRange > entries.length,
        });
      }
      case "closed":
        this.#worker.terminate();
        this.#closedResolve();
        return;
      default:
        return;
    }
  }

  #written(error: string | null): void {
    const batch = this.#inFlight.shift();
    if (batch === undefined) return;
    this.#inFlightBytes -= batch.bytes;
    this.#inFlightMessages -= batch.messages;
    if (error === null) {
      this.#stored += batch.messages;
      if (this.#paused) {
        this.#paused = false;
        this.#onWriteResume();
        this.#flush();
      }
      return;
    }
    this.#writeErrors++;
    this.#notStored += batch.messages;
    if (!this.#paused) {
      this.#paused = true;
      this.#onWriteFailure(error.split("\n")[0]);
    }
    if (!this.#closed) this.#retryTimer.schedule(this.#settings.retryMs);
  }

  /** The worker died: nothing more can be written or answered. */
  #fail(reason: string): void {
    if (!this.#paused) this.#onWriteFailure(reason);
    this.#paused = true;
    this.#closed = true;
    this.#notStored += this.#pending.messages + this.#inFlightMessages;
    this.#inFlight.length = 0;
    this.#inFlightBytes = 0;
    this.#inFlightMessages = 0;
    this.#pending = new PendingBatch(this.#settings.maxBatchBytes);
    for (const query of this.#queries.splice(0)) {
      query.reply(failedAnswer("", 0, reason));
    }
    this.#worker.terminate();
    this.#closedResolve();
  }
}

function failedAnswer(
  room: string,
  missing: number,
  error: string,
): HistoryAnswer {
  return {
    room,
    entries: [],
    count: 0,
    first: null,
    last: null,
    complete: false,
    missing,
    more: false,
    error,
  };
}

function settingsOf(options: SqliteHistoryOptions) {
  return {
    wallClock: options.wallClock ?? Date.now,
    flushMs: options.flushMs ?? 100,
    maxBatchBytes: options.maxBatchBytes ?? 64 * 1024,
    maxPendingBytes: options.maxPendingBytes ?? 8 * 1024 * 1024,
    retryMs: options.retryMs ?? 5000,
    pruneMs: options.pruneMs ?? 60_000,
    maxPerRoom: options.maxPerRoom ?? 10_000,
    maxAgeSeconds: options.maxAgeSeconds ?? 604_800,
    busyTimeoutMs: options.busyTimeoutMs ?? 50,
    maxPages: options.maxPages ?? 0,
  };
}

/**
 * Open (creating it and its folder if need be) the history database at
 * `path` (`:memory:` for one that lives only as long as the server).
 *
 * @param path The database file.
 * @param options Settings.
 * @returns The store, its rooms' last ids loaded.
 * @throws {HistoryOpenError} When the file or folder cannot be used.
 */
export async function openSqliteHistory(
  path: string,
  options: SqliteHistoryOptions = {},
): Promise<SqliteHistory> {
  if (path !== ":memory:") await checkPath(path);
  const settings = settingsOf(options);
  // workerUrl: beside this file from source or compiled, embedded in a bundle.
  const worker = new Worker(workerUrl("_sqlite_worker", import.meta.url), {
    type: "module",
  });
  const reply = await new Promise<FromWorker>((resolve) => {
    worker.onmessage = (event: MessageEvent<FromWorker>) => resolve(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      resolve({ type: "open-failed", failure: "other", detail: event.message });
    };
    worker.postMessage(
      {
        type: "open",
        path,
        busyTimeoutMs: settings.busyTimeoutMs,
        maxPages: settings.maxPages,
      } satisfies ToWorker,
    );
  });
  if (reply.type !== "opened") {
    worker.terminate();
    const failure = reply.type === "open-failed" ? reply.failure : "other";
    const detail = reply.type === "open-failed" ? reply.detail : reply.type;
    throw new HistoryOpenError(path, failure, detail);
  }
  return new SqliteHistory(worker, new Map(reply.lastIds), options);
}

async function checkPath(path: string): Promise<void> {
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
  } catch (error) {
    throw new HistoryOpenError(path, "folder", messageOf(error));
  }
  try {
    (await Deno.open(path, { read: true })).close();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw new HistoryOpenError(path, "unreadable", messageOf(error));
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
