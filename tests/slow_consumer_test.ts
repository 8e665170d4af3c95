/**
 * Slow consumers over real sockets: a client that never reads is dropped
 * when its bounded outbound queue overflows, or when a write makes no
 * progress for `writeDeadlineMs`, with ERROR "slow consumer" after the
 * whole frames that made it through; it is counted and logged, and everyone
 * else still receives every message. A client that reads slowly but
 * steadily is never mistaken for one.
 */

import assert from "node:assert/strict";
import {
  encodeFrame,
  type Frame,
  FrameReader,
  LOBBY,
  Tag,
} from "../protocol/mod.ts";
import {
  barrier,
  chatIndex,
  closeAll,
  concat,
  join,
  nick,
  NUMBERED_BODY_SIZE,
  numberedChats,
  ofTag,
  RawClient,
  readToEnd,
  roomSizes,
  sendBatches,
  takeUntil,
  text,
  waitForLog,
  waitUntil,
  withClockedServer,
} from "./_kit.ts";
import { type LogLines, withServer } from "./_server.ts";
import {
  collectStats,
  Connection,
  DEFAULT_HUB_OPTIONS,
  Hub,
  Logger,
  type Transport,
} from "../server/mod.ts";
import { describeConnectionError } from "../server/transport/_connection_error.ts";

/**
 * Take `count` CHAT frames from `client`, keeping the other frames that
 * arrive meanwhile (unlike `RawClient.chats`, which skips them).
 */
async function drain(
  client: RawClient,
  count: number,
  other: Frame[],
): Promise<Frame[]> {
  const chats: Frame[] = [];
  await takeUntil(client, (frame) => {
    if (frame.tag === Tag.CHAT) chats.push(frame);
    else other.push(frame);
    return chats.length === count;
  }, 10_000);
  return chats;
}

/**
 * Send numbered chats from `sender` in batches (each received by every
 * reader before the next) until a log line matches `dropped`, at most
 * `maxBatches` batches. Returns how many were sent and, per reader, the
 * frames other than CHAT it got meanwhile.
 */
async function floodUntil(
  sender: RawClient,
  readers: RawClient[],
  logs: LogLines,
  dropped: RegExp,
  maxBatches: number,
): Promise<{ sent: number; other: Frame[][] }> {
  const batch = 500;
  let sent = 0;
  const other = readers.map(() => [] as Frame[]);
  for (let i = 0; i < maxBatches; i++) {
    if (logs.some((line) => dropped.test(line))) break;
    await sender.write(numberedChats(sent, batch));
    sent += batch;
    await Promise.all(
      readers.map((reader, r) => drain(reader, batch, other[r])),
    );
  }
  return { sent, other };
}

Deno.test("Slow consumer: a client that never reads is dropped with ERROR after whole frames; others get everything", async () => {
  await withServer(
    { maxPendingBytes: 256 * 1024, maxMessagesPerSecond: 0 },
    async (server, logs) => {
      const port = server.address.port;
      const slow = await RawClient.connect(port, { read: false });
      const a = await RawClient.connect(port);
      const b = await RawClient.connect(port);
      await barrier(a);
      await barrier(b);
      const slowId = 1;
      const { sent, other } = await floodUntil(
        a,
        [a, b],
        logs,
        /reason=slow_consumer/,
        40,
      );
      const line = await waitForLog(logs, /reason=slow_consumer/);
      assert.ok(sent >= 2000, `dropped after only ${sent} messages`);
      assert.match(line, /\bWARN\b/);
      assert.match(line, new RegExp(`Client disconnected id=${slowId}\\b`));
      const pending = Number(/detail="(\d+) bytes pending"/.exec(line)?.[1]);
      assert.ok(
        pending > 0 && pending <= 256 * 1024,
        `pending ${pending} in: ${line}`,
      );
      assert.equal(server.hub.metrics.disconnects.get("slow_consumer"), 1);

      // The others were told it left and still chat; nothing was lost.
      await a.write(numberedChats(sent, 500));
      for (const [r, reader] of [a, b].entries()) {
        const rest = await drain(reader, 500, other[r]);
        assert.deepEqual(
          rest.map(chatIndex),
          Array.from({ length: 500 }, (_, i) => sent + i),
        );
        assert.deepEqual(other[r].map((f) => JSON.parse(text(f))), [{
          event: "leave",
          room: LOBBY,
          id: slowId,
          nick: null,
        }]);
      }
      assert.equal(server.hub.gauges.clientCount, 2);
      assert.deepEqual(await roomSizes(a), { [LOBBY]: 2 });

      // The slow client's stream: ISSUE_ID, whole CHAT frames in order
      // without a gap, then ERROR "slow consumer", then the end.
      const { frames, leftover } = await readToEnd(slow.conn);
      assert.equal(leftover, 0, "the stream ended mid-frame");
      assert.equal(frames[0].tag, Tag.ISSUE_ID);
      assert.equal(frames[0].senderId, slowId);
      const last = frames[frames.length - 1];
      assert.equal(last.tag, Tag.ERROR);
      assert.equal(text(last), "slow consumer");
      const chats = frames.filter((f) => f.tag === Tag.CHAT);
      assert.ok(chats.length > 0 && chats.length < sent);
      chats.forEach((frame, i) => {
        assert.equal(chatIndex(frame), i);
        assert.equal(frame.body.length, NUMBERED_BODY_SIZE);
      });
      assert.deepEqual(
        frames.slice(1, -1).filter((f) =>
          f.tag !== Tag.CHAT && f.tag !== Tag.PRESENCE
        ),
        [],
      );
      await closeAll(slow, a, b);
    },
  );
});

Deno.test("Slow consumer: a write making no progress for writeDeadlineMs drops the client below the queue bound", async () => {
  await withServer(
    {
      maxPendingBytes: 256 * 1024 * 1024,
      writeDeadlineMs: 200,
      maxMessagesPerSecond: 0,
    },
    async (server, logs) => {
      const port = server.address.port;
      const slow = await RawClient.connect(port, { read: false });
      const a = await RawClient.connect(port);
      await barrier(a);
      await floodUntil(a, [a], logs, /reason=slow_consumer/, 60);
      const line = await waitForLog(logs, /reason=slow_consumer/, 5000);
      assert.match(line, /Client disconnected id=1\b/);
      assert.match(line, /write stalled with \d+ bytes pending/);
      const { frames, leftover } = await readToEnd(slow.conn);
      assert.equal(leftover, 0);
      assert.equal(text(frames[frames.length - 1]), "slow consumer");
      assert.equal(server.hub.metrics.disconnects.get("slow_consumer"), 1);
      assert.ok(!a.ended);
      await closeAll(slow, a);
    },
  );
});

Deno.test("Slow consumer: nothing happens to a stalled write until exactly writeDeadlineMs, then ERROR 'slow consumer' and the end", async () => {
  await withClockedServer(
    {
      maxPendingBytes: 256 * 1024 * 1024,
      writeDeadlineMs: 200,
      maxMessagesPerSecond: 0,
    },
    async (server, clock, logs) => {
      const port = server.address.port;
      const slow = await RawClient.connect(port, { read: false });
      const a = await RawClient.connect(port);
      await barrier(a);
      // At time 0, flood until the socket of the client that never reads
      // is full and a megabyte waits behind the write in flight.
      const pending = () =>
        collectStats(server.hub).connections.find((c) => c.id === 1)
          ?.pending_bytes ?? 0;
      let sent = 0;
      while (pending() < 1024 * 1024 && sent < 100_000) {
        await a.write(numberedChats(sent, 500));
        await a.chats(500, 10_000);
        sent += 500;
      }
      assert.ok(pending() >= 1024 * 1024, "the socket never filled");
      clock.advance(199);
      await barrier(a);
      assert.equal(server.hub.gauges.clientCount, 2);
      assert.equal(
        server.hub.metrics.disconnects.get("slow_consumer"),
        undefined,
      );
      clock.advance(1);
      const line = await waitForLog(logs, /reason=slow_consumer/);
      assert.match(line, /Client disconnected id=1\b/);
      assert.match(line, /write stalled with \d+ bytes pending/);
      const { frames, leftover } = await readToEnd(slow.conn);
      assert.equal(leftover, 0);
      assert.equal(text(frames[frames.length - 1]), "slow consumer");
      assert.equal(server.hub.metrics.disconnects.get("slow_consumer"), 1);
      assert.deepEqual(ofTag(await barrier(a), Tag.ERROR), []);
      await closeAll(slow, a);
    },
  );
});

Deno.test("Slow consumer: a client reading slowly but steadily is not dropped by the write deadline", async () => {
  await withClockedServer(
    {
      maxPendingBytes: 256 * 1024 * 1024,
      writeDeadlineMs: 400,
      maxMessagesPerSecond: 0,
    },
    async (server, clock, logs) => {
      const port = server.address.port;
      // A reader that lets 100 ms pass between reads of at most 256 KiB:
      // its socket is often full, but no write waits the 400 ms deadline,
      // while the whole transfer takes several deadlines.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const a = await RawClient.connect(port);
      const count = 8_000; // about 3.4 MB
      const reader = new FrameReader();
      let chats = 0;
      let next = 0;
      let reads = 0;
      const reading = (async () => {
        const buffer = new Uint8Array(256 * 1024);
        while (chats < count) {
          const read = await conn.read(buffer);
          if (read === null) throw new Error("dropped");
          reader.push(buffer.slice(0, read));
          for (let f = reader.next(); f; f = reader.next()) {
            if (f.tag === Tag.CHAT) {
              assert.equal(chatIndex(f), next++);
              chats++;
            } else if (f.tag === Tag.ERROR) {
              throw new Error(`ERROR ${text(f)}`);
            }
          }
          reads++;
          clock.advance(100);
        }
      })();
      await sendBatches(a, count, numberedChats);
      await reading;
      assert.equal(chats, count);
      assert.ok(reads * 100 > 2 * 400, `only ${reads} reads`);
      assert.deepEqual(logs.filter((l) => /slow_consumer/.test(l)), []);
      conn.close();
      await a.close();
    },
  );
});

Deno.test("Slow consumer: the dropped client's nickname and room are released, and its room hears it leave", async () => {
  await withServer(
    { maxPendingBytes: 256 * 1024, maxMessagesPerSecond: 0 },
    async (server, logs) => {
      const port = server.address.port;
      // A client that never reads, with a nickname, in room "tree".
      const never = await RawClient.connect(port, { read: false });
      await never.write(concat(
        encodeFrame(Tag.NICK, 0, "sloth"),
        encodeFrame(Tag.JOIN, 0, "tree"),
      ));
      await waitForLog(logs, /Client joined room id=1 room=tree/);
      const a = await RawClient.connect(port);
      await join(a, "tree");
      const { other } = await floodUntil(
        a,
        [a],
        logs,
        /reason=slow_consumer/,
        40,
      );
      await waitForLog(logs, /id=1 nick=sloth .*reason=slow_consumer/);
      const left = [...other[0], ...await barrier(a)]
        .filter((f) => f.tag === Tag.PRESENCE)
        .map((f) => JSON.parse(text(f)));
      assert.deepEqual(left, [
        { event: "leave", room: "tree", id: 1, nick: "sloth" },
      ]);
      assert.deepEqual(await roomSizes(a), { tree: 1, [LOBBY]: 0 });
      await nick(a, "SLOTH");
      assert.equal(server.hub.gauges.clientCount, 1);
      await closeAll(never, a);
    },
  );
});

/** A transport whose every write fails as a reset connection's does. */
class ResetTransport implements Transport {
  readonly remoteAddress = "127.0.0.1:1";
  writes = 0;
  write(): Promise<number> {
    this.writes++;
    return Promise.reject(
      Object.assign(
        new Deno.errors.ConnectionReset(
          "Connection reset by peer (os error 104)",
        ),
        { code: "ECONNRESET" },
      ),
    );
  }
  close(): void {}
}

/** A transport that takes every byte. */
class SinkTransport implements Transport {
  readonly remoteAddress = "127.0.0.1:2";
  bytes = 0;
  write(bytes: Uint8Array): Promise<number> {
    this.bytes += bytes.length;
    return Promise.resolve(bytes.length);
  }
  close(): void {}
}

Deno.test("Slow consumer: a peer whose writes fail with a reset is dropped as gone, never as a slow consumer", async () => {
  const logs: string[] = [];
  const hub = new Hub({
    ...DEFAULT_HUB_OPTIONS,
    logger: new Logger({ level: "debug", write: (line) => logs.push(line) }),
    tokens: null,
  });
  const running = hub.run();
  try {
    // The failure callback is held back, as when the hub still has events
    // queued before the "gone" the failure posts: frames for the victim
    // keep coming meanwhile.
    const failures: unknown[] = [];
    const reset = new ResetTransport();
    const victim = new Connection(reset, 256 * 1024, (e) => failures.push(e));
    hub.inbox.push({ kind: "connect", client: victim });
    await waitUntil(() => victim.writer.closed, "the victim's write to fail");
    const sink = new SinkTransport();
    const sender = new Connection(sink, 256 * 1024, () => {});
    hub.inbox.push({ kind: "connect", client: sender });
    const chat = encodeFrame(Tag.CHAT, 0, "to everyone");
    for (let i = 0; i < 3; i++) {
      const bytes = chat.slice();
      hub.inbox.push({
        kind: "frames",
        client: sender,
        bytes,
        end: bytes.length,
      });
    }
    await waitUntil(() => sender.framesIn === 3, "the hub to relay the chats");
    assert.equal(hub.metrics.disconnects.get("slow_consumer"), undefined);
    assert.equal(failures.length, 1);
    hub.inbox.push({
      kind: "gone",
      client: victim,
      detail: describeConnectionError(failures[0]),
    });
    await waitUntil(
      () => hub.metrics.disconnects.get("gone") === 1,
      "the victim to be dropped",
    );
    const line = logs.find((l) => /Client disconnected id=1\b/.test(l));
    assert.match(line ?? "", /reason=gone detail="connection reset"/);
    assert.deepEqual(logs.filter((l) => /slow.consumer/.test(l)), []);
  } finally {
    hub.inbox.close();
    await running;
  }
});
