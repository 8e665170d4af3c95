/**
 * History in cluster mode: the rooms' Redis streams, which the bus's
 * publish script already appends every message to (entry id
 * `<message id>-0`), so any node answers HISTORY for any room. Recording
 * is therefore nothing here; a query is one script call that reads the
 * room's counter, the stream's oldest entry (what the MAXLEN trim left)
 * and the asked range, in the reply format of the SQLite store.
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import type {
  HistoryAnswer,
  HistoryCounters,
  HistoryEntry,
  HistoryRequest,
  HistoryStore,
} from "../history/mod.ts";
import { roomCounterKey, roomStreamKey } from "./keys.ts";
import type { ClusterLink } from "./redis_link.ts";

/**
 * KEYS[1] the counter, KEYS[2] the stream; ARGV: "last" or "after", N,
 * until ("" for none), limit. Replies {low, upTo, oldest id (0: empty),
 * entries}: the range asked is low..upTo, clipped to the counter.
 */
const QUERY_SCRIPT = `
local known = tonumber(redis.call('GET', KEYS[1]) or '0')
local upTo = known
if ARGV[3] ~= '' then upTo = math.max(0, math.min(tonumber(ARGV[3]), known)) end
local low
if ARGV[1] == 'last' then low = math.max(1, upTo - tonumber(ARGV[2]) + 1)
else low = tonumber(ARGV[2]) + 1 end
if upTo < low then return {low, upTo, 0, {}} end
local oldest = 0
local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #head > 0 then oldest = tonumber(string.match(head[1][1], '^(%d+)')) end
local rows = redis.call('XRANGE', KEYS[2], string.format('%.0f-0', low),
  string.format('%.0f-0', upTo), 'COUNT', tonumber(ARGV[4]))
return {low, upTo, oldest, rows}
`;

type QueryReply = [number, number, number, [Buffer, Buffer[]][]];

type QueryCommand = (
  counterKey: string,
  streamKey: string,
  ...args: (string | number)[]
) => Promise<QueryReply>;

const decoder = new TextDecoder();

/** A {@linkcode HistoryStore} over the rooms' Redis streams. */
export class RedisHistory implements HistoryStore {
  /** Nothing is written here (the publish script stores): all zero. */
  readonly counters: HistoryCounters = {
    stored: 0,
    notStored: 0,
    writeErrors: 0,
    pending: 0,
  };
  #query: QueryCommand;

  /** @param link The node's connections (the command one is used). */
  constructor(link: ClusterLink) {
    link.command.defineCommand("hubbubHistory", {
      numberOfKeys: 2,
      lua: QUERY_SCRIPT,
    });
    const command = link.command as unknown as {
      hubbubHistoryBuffer: QueryCommand;
    };
    this.#query = command.hubbubHistoryBuffer.bind(command);
  }

  /** Nothing to do: the bus's publish script appended the messages. */
  record(): void {}

  query(
    room: string,
    request: HistoryRequest,
    reply: (answer: HistoryAnswer) => void,
  ): void {
    const last = "last" in request;
    this.#query(
      roomCounterKey(room),
      roomStreamKey(room),
      last ? "last" : "after",
      last ? request.last : request.after,
      request.until === undefined ? "" : request.until,
      request.limit,
    ).then(
      (result) => reply(answerOf(room, result)),
      (error: unknown) =>
        reply(failed(
          room,
          error instanceof Error ? error.message : String(error),
        )),
    );
  }

  /** Not known synchronously in cluster mode (the bus orders ids). */
  lastId(): number {
    return 0;
  }

  /** Not known synchronously in cluster mode. */
  lastIds(): ReadonlyMap<string, number> {
    return new Map();
  }

  /** Nothing is held here. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function answerOf(room: string, reply: QueryReply): HistoryAnswer {
  const [low, upTo, oldest, rows] = reply;
  const rangeSize = Math.max(0, upTo - low + 1);
  // Ids are consecutive and the stream is trimmed from its head only.
  const stored = oldest === 0
    ? 0
    : Math.max(0, upTo - Math.max(low, oldest) + 1);
  const entries: HistoryEntry[] = rows.map(([id, fields]) => {
    const values = new Map<string, Buffer>();
    for (let i = 0; i + 1 < fields.length; i += 2) {
      values.set(fields[i].toString(), fields[i + 1]);
    }
    const nick = values.get("nick")?.toString() ?? "";
    return {
      room,
      id: Number(decoder.decode(id).split("-")[0]),
      sender: Number(values.get("sender")?.toString() ?? 0),
      nick: nick === "" ? null : nick,
      time: Number(values.get("time")?.toString() ?? 0),
      body: new Uint8Array(values.get("body") ?? new Uint8Array(0)),
    };
  });
  const missing = rangeSize - stored;
  return {
    room,
    entries,
    count: entries.length,
    first: entries.length > 0 ? entries[0].id : null,
    last: entries.length > 0 ? entries[entries.length - 1].id : null,
    complete: missing === 0,
    missing,
    more: stored > entries.length,
  };
}

function failed(room: string, error: string): HistoryAnswer {
  return {
    room,
    entries: [],
    count: 0,
    first: null,
    last: null,
    complete: false,
    missing: 0,
    more: false,
    error,
  };
}
