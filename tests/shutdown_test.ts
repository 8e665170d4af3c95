/**
 * Graceful shutdown: `server.shutdown({reason, graceMs})` in-process, and
 * SIGTERM/SIGINT on a server subprocess. It stops accepting, sends CLOSE
 * with the reason to everyone, flushes what is queued (within the grace
 * period), and the process exits 0.
 */

import assert from "node:assert/strict";
import { encodeFrame, type Frame, Tag } from "../protocol/mod.ts";
import { Logger, startServer } from "../server/mod.ts";
import { SIGNAL_REPEAT_WINDOW_MS } from "../server/shutdown_signals.ts";
import {
  addressOf,
  barrier,
  chatFrame,
  chatIndex,
  closeAll,
  concat,
  join,
  numberedChats,
  RawClient,
  readToEnd,
  sendBatches,
  takeUntil,
  text,
  waitForLog,
  waitUntil,
} from "./_kit.ts";
import { type ServerProcess, startServerProcess } from "./_process.ts";
import { type LogLines, withServer } from "./_server.ts";

/**
 * A connection attempt is not served: refused or reset, or accepted by the
 * kernel's backlog of a closing listener and then ended without a byte.
 */
async function assertNotServed(port: number): Promise<void> {
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (error) {
    assert.ok(
      error instanceof Deno.errors.ConnectionRefused ||
        error instanceof Deno.errors.ConnectionReset,
      String(error),
    );
    return;
  }
  try {
    // Ended by the server (or reset as the listener closes), never fed.
    const { bytes } = await readToEnd(conn, 20_000);
    assert.equal(bytes, 0, "a newcomer was served during shutdown");
  } finally {
    conn.close();
  }
}

/** Frames up to and including CLOSE. */
function untilClose(client: RawClient, timeoutMs = 5000): Promise<Frame[]> {
  return takeUntil(client, (f) => f.tag === Tag.CLOSE, timeoutMs);
}

Deno.test("Shutdown: every client, in every room, gets CLOSE with the reason, then the end; nothing else is accepted", async () => {
  const logs: LogLines = [];
  const server = await startServer({
    port: 0,
    logger: new Logger({ level: "debug", write: (l) => logs.push(l) }),
  });
  const port = server.address.port;
  const a = await RawClient.connect(port);
  const b = await RawClient.connect(port);
  const c = await RawClient.connect(port);
  await join(b, "side room");
  await barrier(a);
  await barrier(c);
  const stopping = server.shutdown({ reason: "maintenance", graceMs: 1000 });
  for (const client of [a, b, c]) {
    const frames = await untilClose(client);
    const close = frames[frames.length - 1];
    assert.equal(text(close), "maintenance");
    assert.equal(close.senderId, client.id);
    await client.waitForEnd();
  }
  await stopping;
  await server.finished;
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
  assert.equal(logs.filter((l) => /reason=shutdown/.test(l)).length, 3);
  assert.equal(server.hub.metrics.disconnects.get("shutdown"), 3);
  await closeAll(a, b, c);
});

Deno.test("Shutdown: clients hear CLOSE without a storm of leave presences first", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const clients = await Promise.all(
      Array.from({ length: 5 }, () => RawClient.connect(port)),
    );
    for (const client of clients) await barrier(client);
    const stopping = server.shutdown({ reason: "bye", graceMs: 1000 });
    const seen = await Promise.all(clients.map((c) => untilClose(c)));
    await stopping;
    const leaves = seen.map((frames) =>
      frames.filter((f) => f.tag === Tag.PRESENCE).length
    );
    assert.deepEqual(
      leaves,
      [0, 0, 0, 0, 0],
      "PRESENCE frames received before CLOSE, per client",
    );
    await closeAll(...clients);
  });
});

Deno.test("Shutdown: frames queued before shutdown are delivered before the CLOSE", async () => {
  await withServer(
    { maxPendingBytes: 64 * 1024 * 1024, maxMessagesPerSecond: 0 },
    async (server) => {
      const port = server.address.port;
      // A client that does not read until shutdown has begun.
      const late = await RawClient.connect(port, { read: false });
      const sender = await RawClient.connect(port);
      const count = 10_000; // about 4 MB: more than the kernel buffers hold
      await sendBatches(sender, count, numberedChats);
      const backlog = [...server.hub.clients()].find((c) => c.id === 1)!
        .writer.pendingBytes;
      assert.ok(backlog > 0, "nothing was queued in the server");
      const stopping = server.shutdown({ reason: "closing", graceMs: 5000 });
      const { frames, leftover } = await readToEnd(late.conn);
      await stopping;
      assert.equal(leftover, 0);
      const received = frames.filter((f) => f.tag === Tag.CHAT);
      assert.equal(received.length, count);
      received.forEach((frame, i) => assert.equal(chatIndex(frame), i));
      const last = frames[frames.length - 1];
      assert.equal(last.tag, Tag.CLOSE);
      assert.equal(text(last), "closing");
      await closeAll(late, sender);
    },
  );
});

Deno.test("Shutdown: a client that never reads holds shutdown no longer than graceMs", async () => {
  await withServer(
    { maxPendingBytes: 64 * 1024 * 1024, maxMessagesPerSecond: 0 },
    async (server) => {
      const port = server.address.port;
      const stuck = await RawClient.connect(port, { read: false });
      const sender = await RawClient.connect(port);
      await sendBatches(sender, 12_000, numberedChats);
      const started = performance.now();
      await server.shutdown({ graceMs: 200 });
      const took = performance.now() - started;
      assert.ok(took >= 150, `shutdown took only ${took} ms`);
      assert.ok(took < 1500, `shutdown took ${took} ms`);
      // The sender, which reads, got its CLOSE.
      const frames = await untilClose(sender);
      assert.equal(text(frames[frames.length - 1]), "server shutting down");
      await closeAll(stuck, sender);
    },
  );
});

Deno.test("Shutdown: a client dropped just before is closed too: nothing is written after shutdown() resolves", async () => {
  // A long linger keeps a dropped slow consumer's last bytes waiting.
  await withServer(
    { maxPendingBytes: 256 * 1024, maxMessagesPerSecond: 0, lingerMs: 10_000 },
    async (server, logs) => {
      const port = server.address.port;
      const slow = await RawClient.connect(port, { read: false });
      const sender = await RawClient.connect(port);
      await sendBatches(
        sender,
        40_000,
        numberedChats,
        () => logs.some((l) => /slow_consumer/.test(l)),
      );
      await waitForLog(logs, /slow_consumer/);
      await server.shutdown({ graceMs: 100 });
      const writtenAtShutdown = server.hub.metrics.bytesOut;
      // Reading now lets any write the server still has pending go through.
      await readToEnd(slow.conn);
      assert.equal(
        server.hub.metrics.bytesOut - writtenAtShutdown,
        0,
        "bytes written to a connection after shutdown() resolved",
      );
      await closeAll(slow, sender);
    },
  );
});

Deno.test("Shutdown: calling shutdown twice returns the same promise; with no clients it is immediate", async () => {
  const server = await startServer({
    port: 0,
    logger: new Logger({ write: () => {} }),
  });
  const started = performance.now();
  const first = server.shutdown({ graceMs: 5000 });
  const second = server.shutdown({ graceMs: 1 });
  assert.equal(first, second);
  await first;
  assert.ok(performance.now() - started < 500);
});

Deno.test("Shutdown: SIGTERM stops the server process gracefully: CLOSE to each client, exit 0", async () => {
  const server = await startServerProcess([]);
  const a = await RawClient.connect(server.port);
  const b = await RawClient.connect(server.port);
  await join(b, "elsewhere");
  try {
    server.process.kill("SIGTERM");
    for (const client of [a, b]) {
      const frames = await untilClose(client);
      assert.equal(text(frames[frames.length - 1]), "server shutting down");
      await client.waitForEnd();
    }
    const status = await server.process.wait();
    assert.equal(status.code, 0);
    assert.ok(server.lines.some((l) => /Shutting down signal=SIGTERM/.test(l)));
    assert.match(server.lines[server.lines.length - 1], /Stopped/);
  } finally {
    await closeAll(a, b);
    await server.stop();
  }
});

Deno.test("Shutdown: SIGINT stops the server process gracefully too, exit 0", async () => {
  const server = await startServerProcess([]);
  const a = await RawClient.connect(server.port);
  try {
    server.process.kill("SIGINT");
    const frames = await untilClose(a);
    assert.equal(text(frames[frames.length - 1]), "server shutting down");
    const status = await server.process.wait();
    assert.equal(status.code, 0);
    assert.ok(server.lines.some((l) => /Shutting down signal=SIGINT/.test(l)));
  } finally {
    await a.close();
    await server.stop();
  }
});

/**
 * Start a server process with `--shutdown-grace graceSeconds`; give a
 * client that never reads megabytes to wait for (so the graceful shutdown
 * would wait the whole grace period for it); send SIGTERM, and once the
 * client that reads has its CLOSE, run `body` with the server and the stuck
 * client. Both clients are closed and the server stopped afterwards.
 */
async function whileShutdownWaitsForStuckClient(
  graceSeconds: string,
  body: (server: ServerProcess, stuck: RawClient) => Promise<void>,
): Promise<void> {
  const server = await startServerProcess([
    "--shutdown-grace",
    graceSeconds,
    "--max-pending-bytes",
    String(256 * 1024 * 1024),
    "--max-msgs-per-sec",
    "0",
  ]);
  const stuck = await RawClient.connect(server.port, { read: false });
  const sender = await RawClient.connect(server.port);
  try {
    await sendBatches(sender, 16_000, numberedChats);
    server.process.kill("SIGTERM");
    // Generous: on a loaded machine the signal may take a while to be handled.
    await untilClose(sender, 30_000);
    await body(server, stuck);
  } finally {
    await closeAll(stuck, sender);
    await server.stop();
  }
}

Deno.test("Shutdown: a different second signal during a long graceful shutdown exits at once with status 1", async () => {
  await whileShutdownWaitsForStuckClient("30", async (server) => {
    await server.process.waitForLine("stderr", /Shutting down/);
    const started = performance.now();
    server.process.kill("SIGINT");
    const status = await server.process.wait(5000);
    assert.equal(status.code, 1);
    assert.ok(performance.now() - started < 3000);
    assert.ok(server.lines.some((l) => /Second signal/.test(l)));
  });
});

Deno.test("Shutdown: the same signal again a second after the first exits at once with status 1", async () => {
  await whileShutdownWaitsForStuckClient("30", async (server) => {
    await server.process.waitForLine("stderr", /Shutting down/);
    // The server took the first signal before it logged the line: once
    // more than the repeat window has passed since, a repeat is insistence.
    await new Promise((resolve) =>
      setTimeout(resolve, SIGNAL_REPEAT_WINDOW_MS + 200)
    );
    server.process.kill("SIGTERM");
    const status = await server.process.wait(5000);
    assert.equal(status.code, 1);
    assert.ok(server.lines.some((l) => /Second signal/.test(l)));
  });
});

Deno.test("Shutdown: the server process stops accepting at once on SIGTERM", async () => {
  // The grace must outlast whatever a loaded machine makes this test wait
  // before `stuck` reads: were it to run out first, the process would close
  // `stuck` early and exit, and the test would be checking the grace, not
  // the refusal. The process exits once `stuck` is flushed, not at the end
  // of the grace, so a long one costs nothing.
  await whileShutdownWaitsForStuckClient("60", async (server, stuck) => {
    // The process is still flushing to `stuck`, yet refuses newcomers.
    assert.equal(server.process.exited, null);
    await assertNotServed(server.port);
    // Once `stuck` reads, the flush completes and the process exits 0:
    // everything reached `stuck`, the CLOSE last, so the grace did not end it.
    const { frames } = await readToEnd(stuck.conn, 30_000);
    assert.equal(frames[frames.length - 1].tag, Tag.CLOSE);
    const status = await server.process.wait(30_000);
    assert.equal(status.code, 0);
  });
});

Deno.test("Shutdown: frames still queued when the grace runs out are counted exactly as undelivered, and logged", async () => {
  await withServer(
    { maxMessagesPerSecond: 0, maxPendingBytes: 64 * 1024 * 1024 },
    async (server, logs) => {
      const port = server.address.port;
      const stuck = await RawClient.connect(port, { read: false });
      const sender = await RawClient.connect(port);
      const address = addressOf(stuck);
      const find = () =>
        [...server.hub.clients()].find((client) =>
          client.transport.remoteAddress === address
        );
      await waitUntil(() => find() !== undefined, "the stuck client's id");
      const queued = find()!;
      // Fill the kernel's buffers, then leave some frames queued.
      await sendBatches(
        sender,
        200_000,
        numberedChats,
        () => queued.writer.queuedBytes > 2 * 1024 * 1024,
      );
      assert.ok(queued.writer.queuedBytes > 0);
      await server.shutdown({ graceMs: 300 });
      // Everything queued to it: ISSUE_ID, the CHATs and the CLOSE.
      const total = queued.framesOut;
      const { frames } = await readToEnd(stuck.conn);
      const undelivered = server.hub.metrics.shutdownUndeliveredFrames;
      assert.ok(undelivered > 0);
      assert.equal(undelivered, total - frames.length);
      await waitForLog(
        logs,
        new RegExp(`undelivered_frames=${undelivered}\\b`),
      );
      await closeAll(stuck, sender);
    },
  );
});

Deno.test("Shutdown: CHAT frames read but not yet handled when shutdown begins are counted as unrelayed", async () => {
  await withServer({}, async (server, logs) => {
    const hub = server.hub;
    const port = server.address.port;
    const talker = await RawClient.connect(port);
    const client = [...hub.clients()].find((c) => c.id === talker.id)!;
    // What a reader would post right behind the shutdown event: three CHAT
    // frames and a PING, read before the shutdown closed the connection.
    const bytes = concat(
      chatFrame("one"),
      chatFrame("two"),
      encodeFrame(Tag.PING, 0),
      chatFrame("three"),
    );
    const stopping = server.shutdown({ graceMs: 1000 });
    hub.inbox.push({ kind: "frames", client, bytes, end: bytes.length });
    await stopping;
    assert.equal(hub.metrics.shutdownUnrelayedChats, 3);
    assert.equal(hub.metrics.chatsRelayed, 0);
    await waitForLog(logs, /unrelayed_chats=3\b/);
    await talker.close();
  });
});
