/**
 * History end to end: real server processes on a real database file, real
 * sockets. What a client asks with HISTORY and what comes back; ids that go
 * on across restarts; retention; filling a reconnect gap exactly; what a
 * `kill -9` may lose (the batch window, nothing older) and what a clean
 * shutdown may not (anything); startup faults; refusals; original clients.
 */

import assert from "node:assert/strict";
import {
  decodeHistoryEnd,
  decodeHistoryEntry,
  type HistoryEnd,
  type HistoryEntry,
  type HistoryRequest,
  Tag,
} from "../protocol/mod.ts";
import { FrameBudget, Verdict } from "../server/frame_budget.ts";
import { openHistory } from "../server/_history_startup.ts";
import { Logger } from "../server/logger.ts";
import { formatMetrics } from "../server/prometheus.ts";
import type { CommandLineSettings } from "../server/settings.ts";
import { withServer } from "./_server.ts";
import { TokenBucket } from "../server/token_bucket.ts";
import {
  barrier,
  joinConfirmed,
  nextError,
  parseMetrics,
  presenceOf,
  RawClient,
  takeUntil,
  text,
} from "./_kit.ts";
import {
  runDeno,
  SERVER_MAIN,
  type ServerProcess,
  startServerProcess,
} from "./_process.ts";

const WRITE = ["--allow-net", "--allow-read", "--allow-write"];

/** A server keeping history in `db` (a file, or `:memory:`), with /metrics. */
function historyServer(
  db: string,
  args: string[] = [],
): Promise<ServerProcess> {
  return startServerProcess(
    ["--history-db", db, "--http-port", "0", "--quiet", ...args],
    { permissions: WRITE },
  );
}

async function tempDb(): Promise<{ dir: string; db: string }> {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-history-" });
  return { dir, db: `${dir}/history.db` };
}

/** One stored message as a reply gives it. */
interface Replayed {
  entry: HistoryEntry;
  text: string;
  /** The sender ids of its HISTORY and HISTORY_TEXT frames. */
  senderIds: [number, number];
}

/** Send a HISTORY request and take its reply up to HISTORY_END. */
async function ask(
  client: RawClient,
  request: HistoryRequest,
): Promise<{ messages: Replayed[]; end: HistoryEnd }> {
  await client.send(Tag.HISTORY, JSON.stringify(request));
  const frames = await takeUntil(
    client,
    (frame) => frame.tag === Tag.HISTORY_END,
    10_000,
  );
  const end = decodeHistoryEnd(frames.pop()!.body);
  assert.ok(end !== null, "HISTORY_END decodes");
  const reply = frames.filter((frame) =>
    frame.tag === Tag.HISTORY || frame.tag === Tag.HISTORY_TEXT
  );
  const messages: Replayed[] = [];
  for (let i = 0; i < reply.length; i += 2) {
    assert.equal(reply[i].tag, Tag.HISTORY);
    assert.equal(reply[i + 1]?.tag, Tag.HISTORY_TEXT, "HISTORY_TEXT follows");
    const entry = decodeHistoryEntry(reply[i].body);
    assert.ok(entry !== null, "HISTORY decodes");
    messages.push({
      entry,
      text: text(reply[i + 1]),
      senderIds: [reply[i].senderId, reply[i + 1].senderId],
    });
  }
  return { messages, end };
}

/** JOIN `room` (again, for a confirmation) and return the join's last_id. */
async function joinLastId(client: RawClient, room: string): Promise<number> {
  const frames = await joinConfirmed(client, room, 10_000);
  const lastId = presenceOf(frames.pop()!).last_id;
  assert.equal(typeof lastId, "number", "the join carries last_id");
  return lastId!;
}

/** Send CHATs and wait for their echoes, so the server relayed them. */
async function say(client: RawClient, ...texts: string[]): Promise<void> {
  for (const body of texts) await client.send(Tag.CHAT, body);
  const echoes = await client.chats(texts.length, 10_000);
  assert.deepEqual(echoes.map(text), texts);
}

async function metrics(port: number): Promise<Map<string, number>> {
  const reply = await fetch(`http://127.0.0.1:${port}/metrics`);
  return parseMetrics(await reply.text());
}

async function waitForMetric(
  port: number,
  name: string,
  atLeast: number,
): Promise<void> {
  const started = Date.now();
  for (;;) {
    const value = (await metrics(port)).get(name) ?? 0;
    if (value >= atLeast) return;
    if (Date.now() - started > 20_000) {
      throw new Error(`${name} stayed at ${value}, below ${atLeast}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function stopped(
  server: ServerProcess,
  signal: Deno.Signal,
): Promise<Deno.CommandStatus> {
  return await server.stop(signal);
}

Deno.test("History: the last N and the messages after an id are replayed across a server restart on the same file", async () => {
  const { dir, db } = await tempDb();
  try {
    let server = await historyServer(db);
    const ann = await RawClient.connect(server.port);
    await ann.send(Tag.NICK, "ann");
    await say(ann, "m1", "m2", "m3", "m4", "m5");
    const annId = ann.id;
    await ann.close();
    assert.equal((await stopped(server, "SIGTERM")).code, 0);

    server = await historyServer(db);
    try {
      const bob = await RawClient.connect(server.port);
      assert.equal(await joinLastId(bob, "lobby"), 5);
      const last = await ask(bob, { last: 3 });
      assert.deepEqual(last.messages.map((m) => m.text), ["m3", "m4", "m5"]);
      assert.deepEqual(last.messages.map((m) => m.entry.id), [3, 4, 5]);
      for (const message of last.messages) {
        assert.equal(message.entry.sender, annId);
        assert.deepEqual(message.senderIds, [annId, annId]);
        assert.equal(message.entry.nick, "ann");
        assert.equal(message.entry.room, "lobby");
      }
      assert.deepEqual(last.end, {
        room: "lobby",
        count: 3,
        first: 3,
        last: 5,
        complete: true,
        missing: 0,
        more: false,
      });
      const after = await ask(bob, { after: 1, until: 4 });
      assert.deepEqual(after.messages.map((m) => m.text), ["m2", "m3", "m4"]);
      // Ids go on after the restart.
      await say(bob, "m6");
      const next = await ask(bob, { after: 5 });
      assert.deepEqual(next.messages.map((m) => [m.entry.id, m.text]), [
        [6, "m6"],
      ]);
      await bob.close();
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("History: each room's history is its own", async () => {
  const server = await historyServer(":memory:");
  try {
    const ann = await RawClient.connect(server.port);
    const bob = await RawClient.connect(server.port);
    assert.equal(await joinLastId(bob, "dev"), 0);
    await say(ann, "in lobby");
    await say(bob, "dev 1", "dev 2");
    const dev = await ask(bob, { last: 10 });
    assert.deepEqual(dev.messages.map((m) => [m.entry.id, m.text]), [
      [1, "dev 1"],
      [2, "dev 2"],
    ]);
    assert.ok(dev.messages.every((m) => m.entry.room === "dev"));
    const lobby = await ask(ann, { after: 0 });
    assert.deepEqual(lobby.messages.map((m) => [m.entry.id, m.text]), [
      [1, "in lobby"],
    ]);
    await ann.close();
    await bob.close();
  } finally {
    await server.stop();
  }
});

Deno.test("History: --history-max-per-room prunes the oldest, and the reply says how many are missing", async () => {
  const { dir, db } = await tempDb();
  try {
    const limit = ["--history-max-per-room", "3"];
    let server = await historyServer(db, limit);
    const ann = await RawClient.connect(server.port);
    await say(ann, "p1", "p2", "p3", "p4", "p5");
    await ann.close();
    assert.equal((await stopped(server, "SIGTERM")).code, 0);
    // Retention runs when the store opens, and then in the background.
    server = await historyServer(db, limit);
    try {
      const bob = await RawClient.connect(server.port);
      assert.equal(await joinLastId(bob, "lobby"), 5);
      const reply = await ask(bob, { after: 0 });
      assert.deepEqual(reply.messages.map((m) => m.text), ["p3", "p4", "p5"]);
      assert.equal(reply.end.missing, 2);
      assert.equal(reply.end.complete, false);
      await bob.close();
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("History: a client that reconnects fills its gap exactly: every message it missed, none twice", async () => {
  const server = await historyServer(":memory:");
  try {
    const bob = await RawClient.connect(server.port);
    let ann = await RawClient.connect(server.port);
    const first = await joinLastId(ann, "lobby");
    await say(bob, "seen 1", "seen 2");
    const seen = await ann.chats(2);
    assert.deepEqual(seen.map(text), ["seen 1", "seen 2"]);
    const lastSeen = first + seen.length;
    await ann.close();
    await say(bob, "missed 1", "missed 2", "missed 3");

    ann = await RawClient.connect(server.port);
    const rejoined = await joinLastId(ann, "lobby");
    assert.equal(rejoined, lastSeen + 3);
    // Said after the reconnection: it comes live, not in the reply.
    await say(bob, "live");
    const live = await ann.chats(1);
    assert.equal(text(live[0]), "live");
    const gap = await ask(ann, { after: lastSeen, until: rejoined });
    assert.deepEqual(gap.messages.map((m) => m.text), [
      "missed 1",
      "missed 2",
      "missed 3",
    ]);
    assert.deepEqual(gap.messages.map((m) => m.entry.id), [
      lastSeen + 1,
      lastSeen + 2,
      lastSeen + 3,
    ]);
    assert.equal(gap.end.complete, true);
    assert.equal(gap.end.more, false);
    await ann.close();
    await bob.close();
  } finally {
    await server.stop();
  }
});

Deno.test("History: kill -9 loses at most the messages of the open batch window, nothing older", async () => {
  const { dir, db } = await tempDb();
  try {
    // A window long enough that nothing is written by the timer during the test.
    const window = ["--history-flush-ms", "600000"];
    let server = await historyServer(db, window);
    const ann = await RawClient.connect(server.port);
    await say(ann, "old 1", "old 2", "old 3");
    // A query writes what was recorded before it first, so these are stored.
    assert.equal((await ask(ann, { last: 3 })).messages.length, 3);
    await say(ann, "new 1", "new 2");
    const before = await metrics(server.httpPort!);
    assert.equal(before.get("hubbub_history_stored_total"), 3);
    assert.equal(before.get("hubbub_history_pending"), 2);
    assert.equal((await stopped(server, "SIGKILL")).signal, "SIGKILL");
    await ann.close();

    server = await historyServer(db);
    try {
      const bob = await RawClient.connect(server.port);
      assert.equal(await joinLastId(bob, "lobby"), 3);
      const reply = await ask(bob, { after: 0 });
      assert.deepEqual(reply.messages.map((m) => m.text), [
        "old 1",
        "old 2",
        "old 3",
      ]);
      await bob.close();
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("History: after kill -9, every message written before the window closed is there (default 100 ms window)", async () => {
  const { dir, db } = await tempDb();
  try {
    let server = await historyServer(db);
    const ann = await RawClient.connect(server.port);
    const texts = Array.from({ length: 20 }, (_, i) => `kept ${i + 1}`);
    await say(ann, ...texts);
    await waitForMetric(server.httpPort!, "hubbub_history_stored_total", 20);
    assert.equal((await stopped(server, "SIGKILL")).signal, "SIGKILL");
    await ann.close();

    server = await historyServer(db);
    try {
      const bob = await RawClient.connect(server.port);
      const reply = await ask(bob, { after: 0 });
      assert.deepEqual(reply.messages.map((m) => m.text), texts);
      await bob.close();
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("History: a clean shutdown (SIGTERM) loses nothing, even inside a long batch window", async () => {
  const { dir, db } = await tempDb();
  try {
    let server = await historyServer(db, ["--history-flush-ms", "600000"]);
    const ann = await RawClient.connect(server.port);
    await say(ann, "a", "b", "c", "d");
    assert.equal(
      (await metrics(server.httpPort!)).get("hubbub_history_pending"),
      4,
    );
    await ann.close();
    assert.equal((await stopped(server, "SIGTERM")).code, 0);

    server = await historyServer(db);
    try {
      const bob = await RawClient.connect(server.port);
      const reply = await ask(bob, { after: 0 });
      assert.deepEqual(reply.messages.map((m) => m.text), ["a", "b", "c", "d"]);
      await bob.close();
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Run a server that must fail to start; its exit code and stderr lines. */
async function failedStart(
  args: string[],
): Promise<{ code: number; lines: string[] }> {
  const result = await runDeno(SERVER_MAIN, ["--port", "0", ...args], {
    permissions: WRITE,
    timeoutMs: 20_000,
  });
  return {
    code: result.code,
    lines: result.stderr.filter((line) => line.trim() !== ""),
  };
}

Deno.test("History: a database file that is locked, corrupt or cannot be made is one line naming the path, exit 1", async () => {
  const { dir, db } = await tempDb();
  try {
    const server = await historyServer(db);
    try {
      const locked = await failedStart(["--history-db", db]);
      assert.equal(locked.code, 1);
      assert.equal(locked.lines.length, 1, locked.lines.join("\n"));
      assert.ok(locked.lines[0].includes(db), locked.lines[0]);
      assert.match(locked.lines[0], /locked/);
    } finally {
      await server.stop();
    }

    const corrupt = `${dir}/corrupt.db`;
    await Deno.writeTextFile(corrupt, "this is not a database ".repeat(200));
    const bad = await failedStart(["--history-db", corrupt]);
    assert.equal(bad.code, 1);
    assert.equal(bad.lines.length, 1, bad.lines.join("\n"));
    assert.ok(bad.lines[0].includes(corrupt), bad.lines[0]);
    assert.match(bad.lines[0], /corrupt|not a database/);

    // Its folder would have to be made inside a plain file.
    const blocked = `${dir}/corrupt.db/sub/history.db`;
    const folder = await failedStart(["--history-db", blocked]);
    assert.equal(folder.code, 1);
    assert.equal(folder.lines.length, 1, folder.lines.join("\n"));
    assert.ok(folder.lines[0].includes(blocked), folder.lines[0]);

    // Run without --allow-write (as by `deno run`, not `deno task serve`).
    const denied = await runDeno(
      SERVER_MAIN,
      ["--port", "0", "--history-db", db],
      { timeoutMs: 20_000 },
    );
    assert.equal(denied.code, 1);
    const deniedLines = denied.stderr.filter((line) => line.trim() !== "");
    assert.equal(deniedLines.length, 1, deniedLines.join("\n"));
    assert.ok(deniedLines[0].includes(db), deniedLines[0]);
    assert.match(deniedLines[0], /--allow-write/);

    const empty = await failedStart(["--history-db", ""]);
    assert.equal(empty.code, 2);
    assert.equal(empty.lines.length, 1, empty.lines.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("History: a bad request gets ERROR with sender id 12 and the connection stays", async () => {
  const server = await historyServer(":memory:");
  try {
    const ann = await RawClient.connect(server.port);
    for (
      const body of [
        "not json",
        "[1]",
        '{"last":1,"after":2}',
        "{}",
        '{"last":-1}',
        '{"after":1.5}',
        '{"last":1,"until":"x"}',
      ]
    ) {
      await ann.send(Tag.HISTORY, body);
      const error = await nextError(ann);
      assert.equal(error.tag, Tag.HISTORY, body);
      assert.match(error.reason, /history/, body);
    }
    await barrier(ann);
    assert.equal(ann.ended, false);
    const reply = await ask(ann, { last: 5 });
    assert.equal(reply.end.count, 0);
    await ann.close();
  } finally {
    await server.stop();
  }
});

Deno.test("History: with --no-history a request gets ERROR 'history is off' and joins carry no last_id", async () => {
  const server = await startServerProcess(["--no-history", "--quiet"]);
  try {
    const ann = await RawClient.connect(server.port);
    const confirmation = presenceOf(await ann.next(Tag.PRESENCE));
    assert.equal(confirmation.last_id, undefined);
    await ann.send(Tag.HISTORY, '{"last":5}');
    assert.deepEqual(await nextError(ann), {
      tag: Tag.HISTORY,
      reason: "history is off",
    });
    await barrier(ann);
    assert.equal(ann.ended, false);
    await ann.close();
  } finally {
    await server.stop();
  }
});

Deno.test("History: an original client (tags 0-2 only) never receives HISTORY, HISTORY_TEXT or HISTORY_END", async () => {
  const server = await historyServer(":memory:");
  try {
    const original = await RawClient.connect(server.port, { original: true });
    const ann = await RawClient.connect(server.port);
    await original.send(Tag.CHAT, "from the original");
    assert.equal(text((await ann.chats(1))[0]), "from the original");
    await say(ann, "from ann");
    await ask(ann, { last: 10 });
    await ann.send(Tag.CHAT, "end");
    const frames = await takeUntil(
      original,
      (frame) => frame.tag === Tag.CHAT && text(frame) === "end",
      10_000,
    );
    assert.ok(
      frames.every((frame) => frame.tag <= Tag.CLOSE),
      frames.map((frame) => frame.tag).join(","),
    );
    assert.deepEqual(frames.map(text), [
      "from the original",
      "from ann",
      "end",
    ]);
    await original.close();
    await ann.close();
  } finally {
    await server.stop();
  }
});

Deno.test("History: a HISTORY request draws on the message budget, like JOIN or WHO", () => {
  const budget = new FrameBudget(
    new TokenBucket(1, 1, 0),
    null,
    new TokenBucket(100, 100, 0),
  );
  assert.equal(budget.take(Tag.HISTORY, 0), Verdict.Allowed);
  assert.equal(budget.take(Tag.HISTORY, 0), Verdict.ClientMessages);
});

Deno.test("History: a database that fills up at run time is logged once, chat goes on, and /metrics counts what was not stored", async () => {
  const { dir, db } = await tempDb();
  try {
    const logs: string[] = [];
    const logger = new Logger({
      level: "debug",
      write: (line) => logs.push(line),
    });
    const settings = {
      noHistory: false,
      historyDb: db,
      historyFlushMs: 5,
      historyMaxPerRoom: 10_000,
      historyMaxAgeMs: 0,
    } as CommandLineSettings;
    // A dozen pages: full after a few dozen long messages.
    const history = await openHistory(settings, logger, { maxPages: 12 });
    await withServer({ logger, history }, async (server) => {
      const ann = await RawClient.connect(server.address.port);
      const bob = await RawClient.connect(server.address.port);
      const body = "z".repeat(480);
      let sent = 0;
      for (let round = 0; round < 40; round++) {
        const texts = Array.from({ length: 10 }, () => body);
        await say(ann, ...texts);
        sent += texts.length;
        assert.equal((await bob.chats(texts.length)).length, texts.length);
        const counters = server.hub.history!.counters;
        if (counters.writeErrors > 0 && counters.pending === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const counters = server.hub.history!.counters;
      assert.ok(counters.writeErrors > 0, "the database filled up");
      const failed = logs.filter((line) => /History writing failed/.test(line));
      assert.equal(failed.length, 1, failed.join("\n"));
      assert.ok(failed[0].includes(db), failed[0]);
      // Chat goes on while history cannot be written.
      await say(ann, "still here");
      assert.equal(text((await bob.chats(1))[0]), "still here");
      const exposed = formatMetrics(server.hub);
      const notStored = Number(
        /^hubbub_history_not_stored_total (\d+)$/m.exec(exposed)![1],
      );
      assert.ok(notStored > 0 && notStored <= sent + 1, exposed);
      assert.match(exposed, /^hubbub_history_write_errors_total [1-9]/m);
      await ann.close();
      await bob.close();
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
