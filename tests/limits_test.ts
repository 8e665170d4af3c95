/**
 * Limits over real sockets: `maxClients`, the per-client rate limit (one
 * ERROR notice per second, no disconnect, on a fake clock the tests
 * advance; the per-address and control-frame limits are in
 * `rate_limit_test.ts`), configured room-name and
 * nickname lengths, and the accept loop at the process's open-file cap.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import {
  barrier,
  closeAll,
  concat,
  join,
  nextError,
  nick,
  ofTag,
  RawClient,
  takeUntil,
  text,
  waitForLog,
  waitUntil,
  whoIsHere,
  withClients,
  withClockedClients,
} from "./_kit.ts";
import { startServerProcess } from "./_process.ts";
import { withServer } from "./_server.ts";

function chats(count: number, prefix: string): Uint8Array {
  return concat(
    ...Array.from(
      { length: count },
      (_, i) => encodeFrame(Tag.CHAT, 0, `${prefix}${i}`),
    ),
  );
}

// --- maxClients ----------------------------------------------------------

Deno.test("Limits: a client over maxClients gets ERROR 'server full' (and no id), then the end; a freed slot is reused", async () => {
  await withServer({ maxClients: 2 }, async (server, logs) => {
    const port = server.address.port;
    const a = await RawClient.connect(port);
    const b = await RawClient.connect(port);
    await barrier(a);
    const c = await RawClient.connect(port, { handshake: false });
    const first = await c.next();
    assert.equal(first.tag, Tag.ERROR);
    assert.equal(text(first), "server full");
    await c.waitForEnd();
    assert.deepEqual(c.inbox, []);
    await waitForLog(logs, /WARN .*reason=server_full/);
    // The others noticed nothing.
    assert.deepEqual(await barrier(a), []);
    // A slot frees up when a client leaves.
    await a.close();
    await waitForLog(logs, new RegExp(`Client disconnected id=${a.id}\\b`));
    const d = await RawClient.connect(port);
    assert.equal(d.id, 3);
    assert.equal(server.hub.gauges.clientCount, 2);
    assert.equal(server.hub.metrics.disconnects.get("server_full"), 1);
    await closeAll(a, b, c, d);
  });
});

// --- Rate limit ------------------------------------------------------------

Deno.test("Limits: excess CHAT frames are dropped with one ERROR notice per second and no disconnect", async () => {
  await withClockedClients(
    { maxMessagesPerSecond: 10, messageBurst: 5 },
    2,
    async ([a, b], clock, server) => {
      /** Write `count` chats, take what came back up to a barrier. */
      const send = async (count: number, prefix: string) => {
        await a.write(chats(count, prefix));
        const frames = await barrier(a);
        return {
          passed: ofTag(frames, Tag.CHAT).map(text),
          notices: ofTag(frames, Tag.ERROR),
        };
      };
      const names = (prefix: string, count: number) =>
        Array.from({ length: count }, (_, i) => `${prefix}${i}`);

      // At 0: a burst of 20 in one write; the bucket holds 5.
      const first = await send(20, "first ");
      assert.deepEqual(first.passed, names("first ", 5));
      assert.equal(first.notices.length, 1, "one notice for the burst");
      assert.equal(first.notices[0].senderId, Tag.CHAT);
      assert.match(
        text(first.notices[0]),
        /rate limit of 10 messages per second/,
      );

      // At 300 ms: three tokens back, the rest dropped, no second notice.
      clock.advance(300);
      const second = await send(10, "second ");
      assert.deepEqual(second.passed, names("second ", 3));
      assert.deepEqual(second.notices, []);

      // At 999 ms: the bucket is full again (5), still no notice.
      clock.advance(699);
      const third = await send(10, "third ");
      assert.deepEqual(third.passed, names("third ", 5));
      assert.deepEqual(third.notices, []);

      // At 1000 ms, a second after the first notice: the next one.
      clock.advance(1);
      const fourth = await send(1, "fourth ");
      assert.deepEqual(fourth.passed, []);
      assert.equal(fourth.notices.length, 1);

      // The other client got exactly the frames that passed, in order.
      const received = await takeUntil(
        b,
        (f) => f.tag === Tag.CHAT && text(f) === "third 4",
      );
      assert.deepEqual(ofTag(received, Tag.CHAT).map(text), [
        ...first.passed,
        ...second.passed,
        ...third.passed,
      ]);
      assert.deepEqual(ofTag(received, Tag.ERROR), []);

      const dropped = 41 - 13;
      assert.equal(server.hub.metrics.rateLimitedFrames, dropped);
      const stats = [...server.hub.clients()].find((c) => c.id === a.id)!;
      assert.equal(stats.rateLimitedFrames, dropped);
      assert.ok(!a.ended && !b.ended);
      assert.equal(server.hub.gauges.clientCount, 2);
    },
  );
});

Deno.test("Limits: a continuous flood over the rate gets one notice per second, not one per frame", async () => {
  await withClockedClients(
    { maxMessagesPerSecond: 50, messageBurst: 1 },
    1,
    async ([a], clock, server) => {
      // 20 frames every 100 ms for 1.2 s: one passes each time (a burst of
      // 1), and a notice comes at 0 and at 1000 ms only.
      let passed = 0;
      const noticesAt: number[] = [];
      for (let at = 0; at <= 1200; at += 100) {
        if (at > 0) clock.advance(100);
        await a.write(chats(20, "x"));
        const frames = await barrier(a);
        passed += ofTag(frames, Tag.CHAT).length;
        for (const _ of ofTag(frames, Tag.ERROR)) noticesAt.push(at);
      }
      assert.deepEqual(noticesAt, [0, 1000]);
      assert.equal(passed, 13);
      assert.equal(server.hub.metrics.rateLimitedFrames, 13 * 20 - 13);
      assert.ok(!a.ended);
    },
  );
});

Deno.test("Limits: the rate limit is per client: one client's flood does not limit another", async () => {
  await withClients(
    { maxMessagesPerSecond: 10, messageBurst: 3 },
    2,
    async ([flooder, calm]) => {
      await flooder.write(chats(30, "flood "));
      await barrier(flooder);
      await calm.write(chats(3, "calm "));
      const frames = await barrier(calm);
      assert.deepEqual(ofTag(frames, Tag.ERROR), []);
      assert.deepEqual(
        ofTag(frames, Tag.CHAT).map(text).filter((t) => t.startsWith("calm")),
        ["calm 0", "calm 1", "calm 2"],
      );
    },
  );
});

Deno.test("Limits: the default rate limit lets a burst of 1000 through and drops the rest", async () => {
  await withClockedClients({}, 1, async ([a]) => {
    await a.write(chats(1500, ""));
    const frames = await barrier(a, 10_000);
    assert.equal(ofTag(frames, Tag.CHAT).length, 1000);
    assert.equal(ofTag(frames, Tag.ERROR).length, 1);
  });
});

Deno.test("Limits: maxMessagesPerSecond 0 turns the rate limit off", async () => {
  await withClients({ maxMessagesPerSecond: 0 }, 1, async ([a], server) => {
    await barrier(a);
    await a.write(chats(3000, ""));
    const frames = await barrier(a, 10_000);
    assert.equal(ofTag(frames, Tag.CHAT).length, 3000);
    assert.deepEqual(ofTag(frames, Tag.ERROR), []);
    assert.equal(server.hub.metrics.rateLimitedFrames, 0);
  });
});

Deno.test("Limits: JOIN, NICK, WHO and ROOMS share the CHAT rate limit; PING has a budget of its own", async () => {
  await withClients(
    { maxMessagesPerSecond: 0.001, messageBurst: 1 },
    1,
    async ([a], server) => {
      await join(a, "r1"); // takes the only token
      await a.send(Tag.NICK, "n1");
      assert.deepEqual(await nextError(a), {
        tag: Tag.NICK,
        reason:
          "rate limit of 0.001 messages per second exceeded; messages dropped",
      });
      await a.send(Tag.WHO);
      await a.send(Tag.ROOMS);
      await a.send(Tag.JOIN, "r2");
      const seen = await barrier(a); // PING is still answered
      for (let i = 0; i < 4; i++) seen.push(...await barrier(a));
      assert.equal(server.hub.metrics.rateLimitedFrames, 4);
      assert.deepEqual(
        seen.filter((frame) =>
          frame.tag === Tag.WHO || frame.tag === Tag.ROOMS
        ),
        [],
      );
    },
  );
});

// --- Name lengths ----------------------------------------------------------

Deno.test("Limits: maxRoomNameBytes and maxNicknameBytes are enforced as configured", async () => {
  await withClients(
    { maxRoomNameBytes: 8, maxNicknameBytes: 4 },
    1,
    async ([a]) => {
      await join(a, "12345678");
      await join(a, "ééé"); // 6 bytes
      await a.send(Tag.JOIN, "123456789");
      assert.deepEqual(await nextError(a), {
        tag: Tag.JOIN,
        reason: "room name is longer than 8 bytes",
      });
      await nick(a, "abcd");
      await a.send(Tag.NICK, "abcde");
      assert.deepEqual(await nextError(a), {
        tag: Tag.NICK,
        reason: "nickname is longer than 4 bytes",
      });
      await a.send(Tag.NICK, "ééé"); // 6 bytes, 3 characters
      assert.match((await nextError(a)).reason, /longer than 4 bytes/);
    },
  );
});

Deno.test("Limits: name-length flags stop at the protocol's maxima (64 and 32 bytes)", async () => {
  for (
    const [flag, value, max] of [
      ["--max-room-name-bytes", "65", "64"],
      ["--max-nickname-bytes", "33", "32"],
    ]
  ) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../server/main.ts", import.meta.url).pathname,
        flag,
        value,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(output.code, 2);
    const lines = new TextDecoder().decode(output.stderr).trim().split("\n");
    assert.equal(lines.length, 1);
    assert.match(lines[0], new RegExp(`${flag} must be at most ${max}`));
  }
});

Deno.test("Limits: the longest room name and nickname, in multibyte UTF-8, fit their presence frames", async () => {
  await withServer({}, async (server) => {
    const a = await RawClient.connect(server.address.port);
    const room = "\u{1F600}".repeat(16); // 64 bytes, needs JSON escaping of nothing
    const nickname = "\u00e9".repeat(16); // 32 bytes
    await join(a, room);
    await nick(a, nickname);
    const b = await RawClient.connect(server.address.port);
    await join(b, room);
    assert.deepEqual(
      await whoIsHere(b),
      [{ id: a.id, nick: nickname }, { id: b.id, nick: null }],
    );
    await closeAll(a, b);
  });
});

Deno.test("Hub: startServer refuses out-of-range settings before listening", async () => {
  await assert.rejects(
    () => withServer({ maxRoomNameBytes: 488 }, async () => {}),
    RangeError,
  );
  await assert.rejects(
    () => withServer({ messageBurst: 0 }, async () => {}),
    RangeError,
  );
  await assert.rejects(
    () => withServer({ maxPendingBytes: 1024 }, async () => {}),
    RangeError,
  );
});

// --- The accept loop at the open-file cap ------------------------------------

/** How a connection attempt went: served (ISSUE_ID) or refused. */
interface Attempt {
  client: RawClient;
  served: boolean;
  /** First frame's text when refused, or the error. */
  refusal?: string;
}

async function attempt(port: number): Promise<Attempt> {
  const client = await RawClient.connect(port, { handshake: false });
  try {
    const first = await client.next(undefined, 3000);
    if (first.tag === Tag.ISSUE_ID) {
      client.id = first.senderId;
      return { client, served: true };
    }
    return { client, served: false, refusal: `${first.tag}:${text(first)}` };
  } catch (error) {
    return { client, served: false, refusal: (error as Error).message };
  }
}

/** Connect until `refusals` connections in a row are refused (bounded). */
async function fillToCap(
  port: number,
  refusals: number,
): Promise<{ served: RawClient[]; refused: Attempt[] }> {
  const served: RawClient[] = [];
  const refused: Attempt[] = [];
  for (let i = 0; i < 200 && refused.length < refusals; i++) {
    const result = await attempt(port);
    if (result.served) served.push(result.client);
    else refused.push(result);
  }
  return { served, refused };
}

const OPEN_FILE_LIMIT = 64;

Deno.test("Accept loop: at the open-file cap extra connections get ERROR 'server full' and existing clients carry on", async () => {
  const server = await startServerProcess([], {
    openFileLimit: OPEN_FILE_LIMIT,
  });
  const { served, refused } = await fillToCap(server.port, 8);
  try {
    assert.ok(served.length >= 10, `only ${served.length} clients served`);
    assert.ok(served.length < OPEN_FILE_LIMIT);
    assert.equal(refused.length, 8);
    for (const result of refused) {
      assert.equal(result.refusal, `${Tag.ERROR}:server full`);
      await result.client.waitForEnd();
    }
    // Existing clients still chat.
    const first = served[0];
    const last = served[served.length - 1];
    await first.send(Tag.CHAT, "still serving");
    assert.equal(text(await last.next(Tag.CHAT)), "still serving");
    // One warning for the run of failures, not one per refusal.
    const warnings = server.lines.filter((l) => /Too many open files/.test(l));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /\bWARN\b/);
    assert.equal(server.process.exited, null);
  } finally {
    await closeAll(...served, ...refused.map((r) => r.client));
    await server.stop();
  }
});

Deno.test("Accept loop: after the open-file cap, newcomers are served again once clients leave, the first one included", async () => {
  const server = await startServerProcess([], {
    openFileLimit: OPEN_FILE_LIMIT,
  });
  const { served, refused } = await fillToCap(server.port, 3);
  const newcomers: Attempt[] = [];
  try {
    // Ten clients leave; wait until the server has seen them go.
    const leaving = served.splice(0, 10);
    await closeAll(...leaving);
    const gone = new Set(leaving.map((c) => c.id));
    await waitUntil(
      () =>
        server.lines.filter((line) => {
          const id = /Client disconnected id=(\d+)/.exec(line)?.[1];
          return id !== undefined && gone.has(Number(id));
        }).length === leaving.length,
      "the server to see ten clients leave",
    );
    for (let i = 0; i < 3; i++) newcomers.push(await attempt(server.port));
    assert.deepEqual(
      newcomers.map((n) => n.served ? "served" : n.refusal),
      ["served", "served", "served"],
      "descriptors were free, yet a newcomer was refused",
    );
    await server.process.waitForLine("stderr", /Accepting again/);
  } finally {
    await closeAll(
      ...served,
      ...refused.map((r) => r.client),
      ...newcomers.map((n) => n.client),
    );
    await server.stop();
  }
});
