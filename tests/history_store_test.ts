import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import {
  type HistoryAnswer,
  HistoryOpenError,
  type HistoryRequest,
  type HistoryStore,
  openSqliteHistory,
  type SqliteHistoryOptions,
} from "../server/history/mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import { concat } from "./_kit.ts";

const decoder = new TextDecoder();

/** `texts` as CHAT frames from `sender`, back to back. */
function frames(sender: number, ...texts: string[]): Uint8Array {
  return concat(...texts.map((text) => encodeFrame(Tag.CHAT, sender, text)));
}

/** Record `texts` as one run from `sender`, ids following the room's last. */
function say(
  store: HistoryStore,
  room: string,
  sender: number,
  texts: string[],
  time = Date.now(),
  nick: string | null = null,
): void {
  store.record(
    room,
    store.lastId(room) + 1,
    frames(sender, ...texts),
    texts.length,
    nick,
    time,
  );
}

function ask(
  store: HistoryStore,
  room: string,
  request: HistoryRequest,
): Promise<HistoryAnswer> {
  return new Promise((resolve) => store.query(room, request, resolve));
}

function texts(answer: HistoryAnswer): string[] {
  return answer.entries.map((entry) => decoder.decode(entry.body));
}

function ids(answer: HistoryAnswer): number[] {
  return answer.entries.map((entry) => entry.id);
}

/** Wait (polling, no timing assertion) until `done` holds. */
async function waitFor(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Record runs of ten `body` messages, each batch written on `clock`, until
 * the store (opened with a small maxPages) reports a write error.
 */
async function fillUp(
  store: HistoryStore,
  clock: FakeClock,
  body: string,
): Promise<void> {
  for (let run = 0; run < 40 && store.counters.writeErrors === 0; run++) {
    say(store, "lobby", 1, Array(10).fill(body));
    clock.advance(10);
    await waitFor(() => store.counters.pending === 0, "batch written");
  }
  assert.ok(store.counters.writeErrors > 0, "the database filled up");
}

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hubbub_history_" });
  try {
    await run(dir);
  } finally {
    await Deno.chmod(dir, 0o755).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

function open(path: string, options: SqliteHistoryOptions = {}) {
  return openSqliteHistory(path, { clock: new FakeClock(), ...options });
}

async function refusal(
  path: string,
  options: SqliteHistoryOptions = {},
): Promise<HistoryOpenError> {
  try {
    const store = await open(path, options);
    await store.close();
  } catch (error) {
    assert.ok(error instanceof HistoryOpenError, String(error));
    assert.ok(error.message.includes(path), error.message);
    assert.ok(!error.message.includes("\n"), error.message);
    return error;
  }
  throw new Error(`${path} was opened`);
}

Deno.test("History store: last N and after an id, with until, limit and more", async () => {
  await withDir(async (dir) => {
    const store = await open(join(dir, "h.db"));
    say(store, "lobby", 7, ["m1", "m2", "m3"], 1000, "ann");
    say(store, "lobby", 8, ["m4", "m5"], 2000);
    assert.equal(store.lastId("lobby"), 5);

    const last3 = await ask(store, "lobby", { last: 3, limit: 200 });
    assert.deepEqual(texts(last3), ["m3", "m4", "m5"]);
    assert.deepEqual(
      { ...last3, entries: undefined },
      {
        room: "lobby",
        entries: undefined,
        count: 3,
        first: 3,
        last: 5,
        complete: true,
        missing: 0,
        more: false,
      },
    );
    const first = last3.entries[0];
    assert.deepEqual([first.sender, first.nick, first.time], [7, "ann", 1000]);
    assert.deepEqual([last3.entries[1].sender, last3.entries[1].nick], [
      8,
      null,
    ]);

    const after1 = await ask(store, "lobby", { after: 1, until: 4, limit: 2 });
    assert.deepEqual(ids(after1), [2, 3]);
    assert.equal(after1.more, true);
    assert.equal(after1.complete, true);
    const rest = await ask(store, "lobby", { after: 3, until: 4, limit: 2 });
    assert.deepEqual([ids(rest), rest.more], [[4], false]);

    const beyond = await ask(store, "lobby", { last: 50, limit: 200 });
    assert.deepEqual([beyond.count, beyond.missing], [5, 0]);
    const none = await ask(store, "lobby", { after: 5, limit: 200 });
    assert.deepEqual([none.count, none.first, none.complete], [0, null, true]);
    await store.close();
  });
});

Deno.test("History store: messages and ids survive close and reopen, also after pruning", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "nested", "h.db");
    let store = await open(path);
    say(store, "lobby", 1, ["a", "b", "c"]);
    await store.close();

    store = await open(path);
    assert.equal(store.lastId("lobby"), 3);
    assert.deepEqual([...store.lastIds()], [["lobby", 3]]);
    say(store, "lobby", 2, ["d"]);
    assert.deepEqual(texts(await ask(store, "lobby", { after: 0, limit: 9 })), [
      "a",
      "b",
      "c",
      "d",
    ]);
    await store.close();

    // Keep none: every row goes at open, the last id stays.
    store = await open(path, { maxPerRoom: 0 });
    const gone = await ask(store, "lobby", { last: 2, limit: 9 });
    assert.deepEqual([gone.count, gone.missing, gone.complete], [0, 2, false]);
    await store.close();
    store = await open(path);
    assert.equal(store.lastId("lobby"), 4);
    await store.close();
  });
});

Deno.test("History store: rooms are kept apart", async () => {
  await withDir(async (dir) => {
    const store = await open(join(dir, "h.db"));
    say(store, "lobby", 1, ["l1", "l2"]);
    say(store, "den", 2, ["d1"]);
    say(store, "lobby", 1, ["l3"]);
    assert.deepEqual([store.lastId("lobby"), store.lastId("den")], [3, 1]);
    assert.equal(store.lastId("attic"), 0);
    assert.deepEqual(texts(await ask(store, "den", { last: 10, limit: 9 })), [
      "d1",
    ]);
    assert.deepEqual(ids(await ask(store, "lobby", { last: 10, limit: 9 })), [
      1,
      2,
      3,
    ]);
    assert.equal((await ask(store, "attic", { last: 10, limit: 9 })).count, 0);
    await store.close();
  });
});

Deno.test("History store: retention keeps the last messages of each room", async () => {
  await withDir(async (dir) => {
    const clock = new FakeClock();
    const store = await open(join(dir, "h.db"), {
      clock,
      maxPerRoom: 3,
      pruneMs: 1000,
    });
    say(store, "lobby", 1, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    say(store, "den", 1, ["x"]);
    assert.equal(
      (await ask(store, "lobby", { last: 10, limit: 10 })).count,
      10,
    );
    clock.advance(1000);
    const kept = await ask(store, "lobby", { last: 10, limit: 10 });
    assert.deepEqual(texts(kept), ["8", "9", "10"]);
    assert.deepEqual([kept.missing, kept.complete], [7, false]);
    assert.equal((await ask(store, "den", { last: 10, limit: 9 })).count, 1);
    await store.close();
  });
});

Deno.test("History store: retention drops messages older than the age limit", async () => {
  await withDir(async (dir) => {
    const clock = new FakeClock();
    let wall = 10_000_000;
    const store = await open(join(dir, "h.db"), {
      clock,
      wallClock: () => wall,
      maxAgeSeconds: 60,
      pruneMs: 1000,
    });
    say(store, "lobby", 1, ["old"], wall - 61_000);
    say(store, "lobby", 1, ["recent"], wall - 59_000);
    say(store, "lobby", 1, ["now"], wall);
    clock.advance(1000);
    const kept = await ask(store, "lobby", { after: 0, limit: 9 });
    assert.deepEqual([texts(kept), kept.missing], [["recent", "now"], 1]);
    wall += 60_000;
    clock.advance(1000);
    assert.deepEqual(
      texts(await ask(store, "lobby", { after: 0, limit: 9 })),
      ["now"],
    );
    await store.close();
  });
});

Deno.test("History store: a batch goes to the worker after flushMs or when full, and close loses nothing", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "h.db");
    const clock = new FakeClock();
    let store = await open(path, { clock, flushMs: 100 });
    say(store, "lobby", 1, ["a", "b"]);
    say(store, "lobby", 1, ["c"]);
    clock.advance(99);
    assert.equal(store.batchedMessages, 3);
    clock.advance(1);
    assert.equal(store.batchedMessages, 0);
    await waitFor(() => store.counters.stored === 3, "3 stored");
    assert.equal(store.counters.pending, 0);
    await store.close();

    store = await open(path, { clock, flushMs: 100, maxBatchBytes: 600 });
    say(store, "lobby", 1, ["x".repeat(400)]);
    assert.equal(store.batchedMessages, 1);
    say(store, "lobby", 1, ["y".repeat(400)]);
    assert.equal(store.batchedMessages, 0, "posted once over maxBatchBytes");
    for (let i = 0; i < 50; i++) say(store, "den", 2, [`d${i}`]);
    assert.equal(store.counters.pending, 52);
    await store.close();
    assert.deepEqual(store.counters, {
      stored: 52,
      notStored: 0,
      writeErrors: 0,
      pending: 0,
    });

    store = await open(path, { clock });
    assert.equal(
      (await ask(store, "den", { last: 100, limit: 100 })).count,
      50,
    );
    assert.equal(store.lastId("lobby"), 5);
    await store.close();
  });
});

Deno.test("History store: :memory: works", async () => {
  const store = await open(":memory:");
  say(store, "lobby", 1, ["hi"]);
  assert.deepEqual(texts(await ask(store, "lobby", { last: 1, limit: 1 })), [
    "hi",
  ]);
  await store.close();
});

Deno.test("History store: a second open of the same file is refused as locked", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "h.db");
    const store = await open(path);
    const error = await refusal(path);
    assert.equal(error.reason, "locked");
    assert.match(error.message, /locked/);
    await store.close();
    await (await open(path)).close();
  });
});

Deno.test("History store: a file another process holds is refused as locked", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "h.db");
    const script = join(dir, "hold.ts");
    await Deno.writeTextFile(
      script,
      `import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync(Deno.args[0]);
db.exec("CREATE TABLE IF NOT EXISTS t (x)");
db.exec("BEGIN EXCLUSIVE");
db.exec("INSERT INTO t VALUES (1)");
console.log("held");
await Deno.stdin.read(new Uint8Array(1));
db.exec("COMMIT");
`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, path],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      const reader = child.stdout.getReader();
      const first = await reader.read();
      assert.match(decoder.decode(first.value), /held/);
      reader.releaseLock();
      const error = await refusal(path);
      assert.equal(error.reason, "locked");
    } finally {
      await child.stdin.close();
      await child.stdout.cancel().catch(() => {});
      assert.equal((await child.status).code, 0);
    }
    await (await open(path)).close();
  });
});

Deno.test({
  name: "History store: an unreadable file is refused",
  ignore: Deno.uid() === 0, // root reads a file whatever its mode
  fn: async () => {
    await withDir(async (dir) => {
      const path = join(dir, "h.db");
      await (await open(path)).close();
      await Deno.chmod(path, 0o000);
      const error = await refusal(path);
      assert.equal(error.reason, "unreadable");
    });
  },
});

Deno.test("History store: a file the server may not read is refused", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "h.db");
    await (await open(path)).close();
    const script = join(dir, "try_open.ts");
    const module = new URL("../server/history/mod.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { openSqliteHistory } from "${module}";
try { await openSqliteHistory(Deno.args[0]); console.log("opened"); }
catch (error) { console.log(error.message); }
`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        `--deny-read=${path}`,
        script,
        path,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const line = decoder.decode(output.stdout).trim();
    assert.match(line, /cannot be read or written/);
    assert.ok(line.includes(path), line);
  });
});

Deno.test("History store: a corrupt file is refused", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "h.db");
    await Deno.writeTextFile(path, "this is no database ".repeat(100));
    const error = await refusal(path);
    assert.equal(error.reason, "corrupt");
    assert.match(error.message, /corrupt or not a database/);
  });
});

Deno.test("History store: a folder that cannot be created is refused", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "file"), "");
    const error = await refusal(join(dir, "file", "sub", "h.db"));
    assert.equal(error.reason, "folder");
  });
});

Deno.test("History store: a full database pauses writing, counts what is lost, logs once and resumes", async () => {
  await withDir(async (dir) => {
    const clock = new FakeClock();
    const failures: string[] = [];
    let resumes = 0;
    const path = join(dir, "h.db");
    const store = await open(path, {
      clock,
      flushMs: 10,
      retryMs: 1_000_000,
      pruneMs: 100_000,
      maxPerRoom: 5,
      maxPages: 12,
      onWriteFailure: (reason) => failures.push(reason),
      onWriteResume: () => resumes++,
    });
    const body = "z".repeat(480);
    await fillUp(store, clock, body);
    assert.equal(failures.length, 1);
    assert.match(failures[0], /full/);
    assert.ok(store.counters.notStored >= 10);

    // Paused: records wait for the retry instead of going to the worker.
    say(store, "lobby", 1, ["after 1", "after 2"]);
    clock.advance(10);
    assert.equal(store.batchedMessages, 2);

    clock.advance(100_000); // retention frees pages
    const stored = store.counters.stored;
    clock.advance(1_000_000); // the retry
    await waitFor(() => store.counters.stored === stored + 2, "resumed");
    assert.deepEqual([failures.length, resumes], [1, 1]);
    const last = await ask(store, "lobby", { last: 2, limit: 2 });
    assert.deepEqual(texts(last), ["after 1", "after 2"]);
    assert.equal(last.last, store.lastId("lobby"));
    await store.close();
    const reopened = await open(path);
    assert.equal(
      reopened.lastId("lobby"),
      last.last,
      "ids survive the failure",
    );
    await reopened.close();
  });
});

Deno.test("History store: record copies the frames, so the caller may reuse its buffer", async () => {
  const store = await open(":memory:");
  const buffer = frames(3, "first", "other");
  store.record("lobby", 1, buffer, 2, null, 1);
  buffer.fill(0);
  assert.deepEqual(texts(await ask(store, "lobby", { last: 2, limit: 2 })), [
    "first",
    "other",
  ]);
  await store.close();
});

Deno.test("History store: records beyond maxPendingBytes are dropped and counted", async () => {
  const store = await open(":memory:", {
    maxPendingBytes: 1000,
    maxBatchBytes: 100_000,
  });
  say(store, "lobby", 1, ["a".repeat(450), "b".repeat(450)]);
  say(store, "lobby", 1, ["c".repeat(450)]);
  assert.deepEqual([store.counters.notStored, store.counters.pending], [1, 2]);
  assert.equal(store.lastId("lobby"), 3, "ids go on when a record is dropped");
  const answer = await ask(store, "lobby", { last: 3, limit: 3 });
  assert.deepEqual([answer.count, answer.missing, answer.complete], [
    2,
    1,
    false,
  ]);
  await store.close();
  assert.equal(store.counters.stored, 2);
});

Deno.test("History store: ids of messages a full database could not store are not reused after a restart", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "h.db");
    const clock = new FakeClock();
    const store = await open(path, { clock, flushMs: 10, maxPages: 12 });
    const body = "z".repeat(480);
    await fillUp(store, clock, body);
    say(store, "lobby", 1, Array(10).fill(body));
    const relayed = store.lastId("lobby");
    await store.close();
    assert.ok(store.counters.notStored >= 20);
    const reopened = await open(path);
    assert.equal(reopened.lastId("lobby"), relayed);
    await reopened.close();
  });
});

Deno.test("History store: many messages span several chunks; ranges, limits and retention cut them exactly", async () => {
  await withDir(async (dir) => {
    const clock = new FakeClock();
    const path = join(dir, "h.db");
    let store = await open(path, { clock, maxPerRoom: 150, pruneMs: 1000 });
    const all = Array.from({ length: 200 }, (_, i) => `m${i + 1}`);
    say(store, "lobby", 1, all.slice(0, 130), Date.now(), "ann"); // one long run
    for (let i = 130; i < 200; i++) say(store, "lobby", 2, [all[i]]);
    say(store, "den", 3, ["d1"]);
    const middle = await ask(store, "lobby", {
      after: 60,
      until: 140,
      limit: 50,
    });
    assert.deepEqual(ids(middle), Array.from({ length: 50 }, (_, i) => 61 + i));
    assert.deepEqual([middle.more, middle.missing], [true, 0]);
    assert.equal(middle.entries[0].nick, "ann");
    const tail = await ask(store, "lobby", { last: 5, limit: 200 });
    assert.deepEqual(texts(tail), all.slice(195));
    assert.equal(tail.entries[0].sender, 2);

    clock.advance(1000); // keeps ids 51..200: a chunk straddles id 50
    const kept = await ask(store, "lobby", { after: 0, limit: 1000 });
    assert.deepEqual(texts(kept), all.slice(50));
    assert.deepEqual([kept.missing, kept.complete], [50, false]);
    await store.close();

    store = await open(path, { clock, maxPerRoom: 150 });
    assert.deepEqual(ids(await ask(store, "lobby", { last: 151, limit: 2 })), [
      51,
      52,
    ]);
    assert.deepEqual(texts(await ask(store, "den", { last: 1, limit: 1 })), [
      "d1",
    ]);
    await store.close();
  });
});

Deno.test("History store: a file with the first schema (one row per message) is refused as another version", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "h.db");
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(path);
    db.exec(
      "CREATE TABLE messages (room TEXT, id INTEGER, PRIMARY KEY (room, id)) WITHOUT ROWID",
    );
    db.close();
    const error = await refusal(path);
    assert.equal(error.reason, "version");
    assert.match(error.message, /another version/);
  });
});
