/**
 * The core wire protocol of the server over real sockets on 127.0.0.1:
 * id issuing, broadcast and stamping, framing across writes, size limits,
 * CLOSE, unknown tags, abrupt disconnects, ordering under load, slow readers
 * and graceful shutdown.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  encodeFrame,
  type Frame,
  FrameReader,
  HEADER_SIZE,
  MAX_BODY_SIZE,
  MAX_FRAME_SIZE,
  Tag,
} from "../protocol/mod.ts";
import { deadline } from "./_deadline.ts";
import { addressOf, closeAll, concat, rawHeader } from "./_kit.ts";
import { RawClient, text } from "./_raw_client.ts";
import { type LogLines, waitForLog, withServer } from "./_server.ts";

const encoder = new TextEncoder();

/**
 * Have `client` send a marker CHAT and wait until every one of `receivers`
 * has it; return, per receiver, every frame that arrived before the marker
 * (so a test can check that nothing unexpected came first).
 */
async function roundTrip(
  client: RawClient,
  receivers: RawClient[],
  marker: string,
): Promise<Frame[][]> {
  await client.send(Tag.CHAT, marker);
  return await Promise.all(receivers.map(async (receiver) => {
    const before: Frame[] = [];
    for (;;) {
      const frame = await receiver.next();
      if (frame.tag === Tag.CHAT && text(frame) === marker) return before;
      before.push(frame);
    }
  }));
}

/** Frames that would mean a client was disturbed. */
function disturbances(frames: Frame[]): Frame[] {
  return frames.filter((f) => f.tag === Tag.ERROR || f.tag === Tag.CLOSE);
}

function warnLines(logs: LogLines): string[] {
  return logs.filter((line) => /\bWARN\b/.test(line));
}

/**
 * Connect a test client that sees the core protocol only: PRESENCE frames
 * (an extension the core tests do not cover) are dropped on arrival.
 */
function connect(
  port: number,
  options: { read?: boolean; handshake?: boolean } = {},
): Promise<RawClient> {
  return RawClient.connect(port, { ...options, skipTags: [Tag.PRESENCE] });
}

/** Give the event loop one turn (a 0 ms timer), not a real pause. */
function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

// --- ISSUE_ID --------------------------------------------------------------

Deno.test("Server: ISSUE_ID is the first frame, with an empty body and the new id", async () => {
  await withServer({}, async (server) => {
    const a = await connect(server.address.port, {
      handshake: false,
    });
    const first = await a.next();
    assert.equal(first.tag, Tag.ISSUE_ID);
    assert.equal(first.body.length, 0);
    assert.equal(first.senderId, 1);
    await a.close();
  });
});

Deno.test("Server: issues increasing ids starting at 1", async () => {
  await withServer({}, async (server) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    const c = await connect(server.address.port);
    assert.deepEqual([a.id, b.id, c.id], [1, 2, 3]);
    await closeAll(a, b, c);
  });
});

Deno.test("Server: ids are never reused after disconnects of any kind", async () => {
  await withServer({}, async (server, logs) => {
    const port = server.address.port;
    const a = await connect(port);
    const b = await connect(port);
    const c = await connect(port);
    assert.deepEqual([a.id, b.id, c.id], [1, 2, 3]);

    // The newest client leaves abruptly: its id must not come back.
    await c.close();
    await waitForLog(logs, /Client disconnected id=3 /);
    const d = await connect(port);
    assert.equal(d.id, 4);

    // A client leaves with CLOSE.
    await b.send(Tag.CLOSE);
    await b.waitForEnd();
    const e = await connect(port);
    assert.equal(e.id, 5);

    // A client is dropped for a protocol violation.
    await d.write(rawHeader(100_000n, 1n));
    await d.waitForEnd();
    const f = await connect(port);
    assert.equal(f.id, 6);

    // Everyone leaves; the counter still only grows.
    await closeAll(a, b, d, e, f);
    await waitForLog(logs, /Client disconnected id=6 /);
    const g = await connect(port);
    assert.equal(g.id, 7);
    await g.close();
  });
});

// --- CHAT broadcast and stamping ---------------------------------------------

Deno.test("Server: broadcasts CHAT to every client, sender included, stamped with the sender id", async () => {
  await withServer({}, async (server) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    const c = await connect(server.address.port);
    await a.send(Tag.CHAT, "hello", 999);
    for (const client of [a, b, c]) {
      const frame = await client.next(Tag.CHAT);
      assert.equal(frame.senderId, a.id);
      assert.equal(text(frame), "hello");
    }
    await closeAll(a, b, c);
  });
});

Deno.test("Server: stamps sender_id with the sender's id whatever the client wrote", async () => {
  await withServer({}, async (server) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    const written = [
      0n,
      1n,
      BigInt(b.id), // another client's id
      999n,
      2n ** 32n + BigInt(a.id), // right low half, wrong high half
      BigInt(Number.MAX_SAFE_INTEGER),
      2n ** 64n - 1n,
    ];
    const bytes = concat(
      ...written.map((sender, i) =>
        concat(
          rawHeader(BigInt(`msg${i}`.length), 1n, sender),
          encoder.encode(`msg${i}`),
        )
      ),
    );
    await a.write(bytes);
    for (const client of [a, b]) {
      const frames = await client.chats(written.length);
      assert.deepEqual(
        frames.map((f) => [f.senderId, text(f)]),
        written.map((_, i) => [a.id, `msg${i}`]),
      );
    }
    // And b's chats carry b's id.
    await b.send(Tag.CHAT, "from b", a.id);
    assert.equal((await a.next(Tag.CHAT)).senderId, b.id);
    await closeAll(a, b);
  });
});

Deno.test("Server: relays bodies byte for byte, including invalid UTF-8 and an empty body", async () => {
  await withServer({}, async (server) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    const bodies = [
      new Uint8Array(256).map((_, i) => i), // every byte value
      new Uint8Array([0xff, 0xfe, 0xc3, 0x28, 0x00, 0xed, 0xa0, 0x80]),
      new Uint8Array(0),
      encoder.encode("héllo ✓ 🎉\r\n\0"),
    ];
    for (const body of bodies) await a.send(Tag.CHAT, body);
    const frames = await b.chats(bodies.length);
    assert.deepEqual(
      frames.map((f) => Array.from(f.body)),
      bodies.map((b) => Array.from(b)),
    );
    await closeAll(a, b);
  });
});

// --- Framing across writes ---------------------------------------------------

Deno.test("Server: reassembles a frame written byte by byte, and others' frames are not held up by it", async () => {
  await withServer({}, async (server) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    const frame = encodeFrame(Tag.CHAT, 0, "split into single bytes");
    const syncPoints = new Set([1, 12, HEADER_SIZE, HEADER_SIZE + 5]);
    const markers: string[] = [];
    for (let i = 0; i < frame.length; i++) {
      await a.write(frame.subarray(i, i + 1));
      if (syncPoints.has(i + 1)) {
        // While a's frame is incomplete, b's chat goes through to both.
        const marker = `b while a has sent ${i + 1} bytes`;
        markers.push(marker);
        const [beforeA, beforeB] = await roundTrip(b, [a, b], marker);
        assert.deepEqual(beforeA, []);
        assert.deepEqual(beforeB, []);
      } else {
        await turn();
      }
    }
    for (const client of [a, b]) {
      const got = await client.next(Tag.CHAT);
      assert.equal(text(got), "split into single bytes");
      assert.equal(got.senderId, a.id);
    }
    assert.equal(markers.length, syncPoints.size);
    await closeAll(a, b);
  });
});

Deno.test("Server: reassembles frames split at every byte position of a pair", async () => {
  await withServer({}, async (server) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    const pair = concat(
      encodeFrame(Tag.CHAT, 0, "first"),
      encodeFrame(Tag.CHAT, 0, "second!"),
    );
    for (let cut = 1; cut < pair.length; cut++) {
      await a.write(pair.subarray(0, cut));
      await turn();
      await a.write(pair.subarray(cut));
      const frames = await b.chats(2);
      assert.deepEqual(frames.map(text), ["first", "second!"], `cut ${cut}`);
      assert.deepEqual(frames.map((f) => f.senderId), [a.id, a.id]);
    }
    await closeAll(a, b);
  });
});

Deno.test("Server: handles several frames in one write, in order", async () => {
  await withServer({}, async (server) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    const texts = Array.from({ length: 40 }, (_, i) => `frame ${i}`);
    await a.write(concat(...texts.map((t) => encodeFrame(Tag.CHAT, 0, t))));
    for (const client of [a, b]) {
      assert.deepEqual((await client.chats(texts.length)).map(text), texts);
    }
    // Including a maximal frame among small ones.
    const big = new Uint8Array(MAX_BODY_SIZE).fill(0x41);
    await a.write(concat(
      encodeFrame(Tag.CHAT, 0, "x"),
      encodeFrame(Tag.CHAT, 0, big),
      encodeFrame(Tag.CHAT, 0, "y"),
    ));
    const frames = await b.chats(3);
    assert.deepEqual(frames.map((f) => f.body.length), [1, MAX_BODY_SIZE, 1]);
    await closeAll(a, b);
  });
});

// --- Size limits -----------------------------------------------------------

Deno.test("Server: relays a 488-byte body (a 512-byte frame) whole", async () => {
  await withServer({}, async (server, logs) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    const body = new Uint8Array(MAX_BODY_SIZE).map((_, i) => i % 251);
    assert.equal(HEADER_SIZE + body.length, MAX_FRAME_SIZE);
    await a.send(Tag.CHAT, body);
    for (const client of [a, b]) {
      const frame = await client.next(Tag.CHAT);
      assert.equal(frame.body.length, MAX_BODY_SIZE);
      assert.deepEqual(frame.body, body);
    }
    assert.deepEqual(warnLines(logs), []);
    await closeAll(a, b);
  });
});

Deno.test("Server: a 489-byte body gets ERROR and a close; one warning line; others carry on unaware", async () => {
  await withServer({}, async (server, logs) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    const c = await connect(server.address.port);
    // A good chat, then an oversized frame whose body hides a CHAT frame
    // that must never be relayed, all in one write.
    const smuggled = encodeFrame(Tag.CHAT, 0, "smuggled");
    const body = new Uint8Array(MAX_BODY_SIZE + 1).fill(0x20);
    body.set(smuggled, 0);
    await a.write(concat(
      encodeFrame(Tag.CHAT, 0, "before"),
      rawHeader(BigInt(body.length), 1n),
      body,
      smuggled,
    ));
    const aFrames = await a.framesUntil(Tag.ERROR);
    assert.deepEqual(
      aFrames.map((f) => [f.tag, f.tag === Tag.CHAT ? text(f) : ""]),
      [[Tag.CHAT, "before"], [Tag.ERROR, ""]],
    );
    const reason = text(aFrames[aFrames.length - 1]);
    assert.match(reason, /513/);
    assert.match(reason, /512/);
    await a.waitForEnd();
    assert.deepEqual(a.inbox, [], "nothing after ERROR");

    // b and c saw "before", nothing disturbing, and go on chatting.
    for (const client of [b, c]) {
      const frame = await client.next(Tag.CHAT);
      assert.equal(text(frame), "before");
    }
    const [beforeB, beforeC] = await roundTrip(b, [b, c], "still here");
    for (const before of [beforeB, beforeC]) {
      assert.deepEqual(disturbances(before), []);
      assert.ok(!before.some((f) => text(f) === "smuggled"));
    }
    const [again] = await roundTrip(c, [b], "and again");
    assert.deepEqual(disturbances(again), []);
    assert.ok(!b.ended && !c.ended);

    // Exactly one warning line, naming the client and the size.
    const line = await waitForLog(logs, /\bWARN\b/);
    assert.match(line, new RegExp(`\\bid=${a.id}\\b`));
    assert.ok(line.includes(`address=${addressOf(a)}`), line);
    assert.match(line, /513/);
    assert.equal(warnLines(logs).length, 1, warnLines(logs).join("\n"));
    await closeAll(a, b, c);
  });
});

Deno.test("Server: an oversized header is refused as soon as it arrives, before any body", async () => {
  await withServer({}, async (server, logs) => {
    const b = await connect(server.address.port);
    for (const length of [489n, 2n ** 32n + 1n, 2n ** 40n, 2n ** 64n - 1n]) {
      const a = await connect(server.address.port);
      // The header alone, split in two writes; no body ever follows.
      const header = rawHeader(length, 1n);
      await a.write(header.subarray(0, 10));
      await turn();
      await a.write(header.subarray(10));
      const error = await a.next(Tag.ERROR);
      assert.match(text(error), /exceeds|limit|too large/i, `length ${length}`);
      await a.waitForEnd();
      await a.close();
    }
    const [before] = await roundTrip(b, [b], "unaffected");
    assert.deepEqual(disturbances(before), []);
    assert.equal(warnLines(logs).length, 4, warnLines(logs).join("\n"));
    await b.close();
  });
});

// --- Disconnects -------------------------------------------------------------

Deno.test("Server: CLOSE is answered with CLOSE, then the connection ends; later frames are ignored", async () => {
  await withServer({}, async (server, logs) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    await a.write(concat(
      encodeFrame(Tag.CHAT, 0, "last words"),
      encodeFrame(Tag.CLOSE, 0),
      encodeFrame(Tag.CHAT, 0, "after close"),
    ));
    const frames = await a.framesUntil(Tag.CLOSE);
    assert.deepEqual(
      frames.map((f) => [f.tag, text(f)]),
      [[Tag.CHAT, "last words"], [Tag.CLOSE, ""]],
    );
    await a.waitForEnd();
    assert.deepEqual(a.inbox, [], "nothing after CLOSE");
    assert.equal(a.readError, null, "a clean end, not a reset");

    assert.equal(text(await b.next(Tag.CHAT)), "last words");
    const [before] = await roundTrip(b, [b], "b goes on");
    assert.ok(!before.some((f) => text(f) === "after close"));
    assert.deepEqual(disturbances(before), []);
    const line = await waitForLog(logs, /Client disconnected/);
    assert.match(line, new RegExp(`\\bid=${a.id}\\b`));
    assert.match(line, /reason=closed/);
    assert.deepEqual(warnLines(logs), []);
    await closeAll(a, b);
  });
});

Deno.test("Server: CLOSE followed by a half-close still gets its CLOSE reply", async () => {
  await withServer({}, async (server, logs) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    await a.write(concat(
      encodeFrame(Tag.CHAT, 0, "parting"),
      encodeFrame(Tag.CLOSE, 0),
    ));
    await a.conn.closeWrite();
    const frames = await a.framesUntil(Tag.CLOSE);
    assert.deepEqual(frames.map((f) => [f.tag, text(f)]), [
      [Tag.CHAT, "parting"],
      [Tag.CLOSE, ""],
    ]);
    await a.waitForEnd();
    assert.equal(text(await b.next(Tag.CHAT)), "parting");
    assert.match(
      await waitForLog(logs, new RegExp(`Client disconnected id=${a.id}\\b`)),
      /reason=closed/,
    );
    await closeAll(a, b);
  });
});

Deno.test("Server: an abrupt disconnect mid-frame does not disturb others and is logged", async () => {
  await withServer({}, async (server, logs) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    const c = await connect(server.address.port);
    const frame = encodeFrame(Tag.CHAT, 0, "never finished ".repeat(10));
    await a.write(
      concat(encodeFrame(Tag.CHAT, 0, "whole"), frame.subarray(0, 60)),
    );
    for (const client of [b, c]) {
      assert.equal(text(await client.next(Tag.CHAT)), "whole");
    }
    await a.close();
    const line = await waitForLog(
      logs,
      new RegExp(`Client disconnected id=${a.id}\\b`),
    );
    assert.ok(line.includes(`address=${addressOf(a)}`), line);
    const [beforeB, beforeC] = await roundTrip(c, [b, c], "c goes on");
    for (const before of [beforeB, beforeC]) {
      assert.deepEqual(disturbances(before), []);
      assert.ok(
        !before.some((f) => f.tag === Tag.CHAT && text(f) !== "c goes on"),
      );
    }
    await closeAll(b, c);
  });
});

Deno.test("Server: an abrupt disconnect mid-header and one with unread data (reset) are handled", async () => {
  await withServer({}, async (server, logs) => {
    const b = await connect(server.address.port);
    // Mid-header.
    const a = await connect(server.address.port);
    await a.write(encodeFrame(Tag.CHAT, 0, "x").subarray(0, 7));
    await a.close();
    await waitForLog(logs, new RegExp(`Client disconnected id=${a.id}\\b`));
    // A client that never reads: closing with unread bytes resets the
    // connection while the server may still be writing to it.
    const r = await connect(server.address.port, { read: false });
    const chats = concat(
      ...Array.from(
        { length: 50 },
        (_, i) => encodeFrame(Tag.CHAT, 0, `r${i}`),
      ),
    );
    await r.write(chats);
    await b.chats(50);
    await r.write(chats.subarray(0, 100)); // and stop mid-frame
    await r.close();
    // r's id is the one after a's (it never read its ISSUE_ID).
    await waitForLog(logs, new RegExp(`Client disconnected id=${a.id + 1}\\b`));
    const [before] = await roundTrip(b, [b], "b is fine");
    assert.deepEqual(disturbances(before), []);
    assert.ok(!b.ended);
    await b.close();
  });
});

Deno.test("Server: a client that disconnects while sending a stream does not disturb others", async () => {
  await withServer({}, async (server, logs) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    const burst = concat(
      ...Array.from(
        { length: 2000 },
        (_, i) => encodeFrame(Tag.CHAT, 0, `burst ${i} `.padEnd(100, ".")),
      ),
    );
    // Start a large write and close while it may still be in progress.
    const writing = a.write(burst.subarray(0, burst.length - 37)).catch(
      () => {},
    );
    await b.chats(10);
    await a.close();
    await writing;
    await waitForLog(logs, new RegExp(`Client disconnected id=${a.id}\\b`));
    // Whatever of a's burst arrived is whole and in order, then b's marker.
    const before = (await roundTrip(b, [b], "after the burst"))[0];
    assert.deepEqual(disturbances(before), []);
    for (const frame of before.filter((f) => f.tag === Tag.CHAT)) {
      assert.equal(frame.body.length, 100);
      assert.equal(frame.senderId, a.id);
    }
    await b.close();
  });
});

// --- Unknown tags -------------------------------------------------------

Deno.test("Server: skips a frame of an unknown tag (body consumed) and the connection goes on", async () => {
  await withServer({}, async (server, logs) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    // The unknown frame's body looks like a CHAT frame: it must be consumed
    // as a body, not parsed.
    const hidden = encodeFrame(Tag.CHAT, 0, "hidden");
    await a.write(concat(
      encodeFrame(77, 0, hidden),
      encodeFrame(Tag.CHAT, 0, "visible"),
      rawHeader(0n, 2n ** 53n - 1n), // empty body, huge tag
      encodeFrame(2 ** 40, 0, new Uint8Array(MAX_BODY_SIZE).fill(7)),
      encodeFrame(Tag.CHAT, 0, "still visible"),
    ));
    for (const client of [a, b]) {
      const frames = await client.framesUntil(Tag.CHAT);
      assert.deepEqual(frames.map((f) => [f.tag, text(f)]), [[
        Tag.CHAT,
        "visible",
      ]]);
      const next = await client.framesUntil(Tag.CHAT);
      assert.deepEqual(next.map((f) => [f.tag, text(f)]), [[
        Tag.CHAT,
        "still visible",
      ]]);
    }
    // An unknown frame in a write of its own, then the connection goes on.
    await a.send(77, "just this");
    const [beforeA, beforeB] = await roundTrip(a, [a, b], "a goes on");
    assert.deepEqual(beforeA, []);
    assert.deepEqual(beforeB, []);
    assert.ok(!a.ended);
    assert.deepEqual(warnLines(logs), []);
    await closeAll(a, b);
  });
});

// --- Ordering under load --------------------------------------------------------

Deno.test("Server: 50 clients x 20 messages: everyone receives all 1000 in the same order, each sender's order kept", async () => {
  await withServer({}, async (server) => {
    const clients: RawClient[] = [];
    for (let i = 0; i < 50; i++) {
      clients.push(await connect(server.address.port));
    }
    const perClient = 20;
    await Promise.all(clients.map(async (client) => {
      for (let i = 0; i < perClient; i++) {
        await client.send(Tag.CHAT, `${client.id}:${i}`);
        if (i % 5 === 4) await turn(); // let the senders interleave
      }
    }));
    const total = clients.length * perClient;
    const received = await Promise.all(
      clients.map((client) => client.chats(total, 15_000)),
    );
    const reference = received[0].map((f) => `${f.senderId}|${text(f)}`);
    for (const frames of received) {
      assert.deepEqual(
        frames.map((f) => `${f.senderId}|${text(f)}`),
        reference,
      );
    }
    // Every message exactly once, stamped with its sender, in sender order.
    const next = new Map<number, number>(clients.map((c) => [c.id, 0]));
    for (const frame of received[0]) {
      const [sender, index] = text(frame).split(":").map(Number);
      assert.equal(frame.senderId, sender);
      assert.equal(index, next.get(sender), `order of sender ${sender}`);
      next.set(sender, index + 1);
    }
    for (const count of next.values()) assert.equal(count, perClient);
    // The senders really interleaved (otherwise the test proves little).
    const runs = received[0].filter((f, i, all) =>
      i > 0 && f.senderId !== all[i - 1].senderId
    ).length;
    assert.ok(runs >= clients.length, `only ${runs} sender changes`);
    await closeAll(...clients);
  });
});

// --- Slow readers ---------------------------------------------------------

/** A CHAT body of `size` bytes whose first 8 hold `index`. */
function numberedBody(index: number, size: number): Uint8Array {
  const body = new Uint8Array(size).fill(0x2e);
  new DataView(body.buffer).setFloat64(0, index);
  return body;
}

Deno.test("Server: a client that never reads does not delay delivery to the others", async () => {
  // A queue bound far above what the test sends, so the slow client stays
  // connected the whole time and nothing relieves the server of it.
  await withServer(
    {
      maxPendingBytes: 64 * 1024 * 1024,
      maxMessagesPerSecond: 0, // one sender sends far more than the default rate
    },
    async (server, logs) => {
      const port = server.address.port;
      const slow = await connect(port, { read: false });
      const a = await connect(port);
      const b = await connect(port);
      const count = 20_000;
      const size = 400;
      const batch = 100;
      for (let start = 0; start < count; start += batch) {
        await a.write(concat(
          ...Array.from(
            { length: batch },
            (_, i) => encodeFrame(Tag.CHAT, 0, numberedBody(start + i, size)),
          ),
        ));
      }
      // Far more than the kernel's socket buffers could absorb for `slow`.
      const totalBytes = count * (HEADER_SIZE + size);
      assert.ok(totalBytes > 8 * 1024 * 1024);
      for (const client of [a, b]) {
        const frames = await client.chats(count, 30_000);
        for (let i = 0; i < count; i++) {
          const view = new DataView(
            frames[i].body.buffer,
            frames[i].body.byteOffset,
          );
          assert.equal(view.getFloat64(0), i);
          assert.equal(frames[i].body.length, size);
        }
      }
      // The server really holds a backlog for the slow client (the kernel's
      // buffers did not absorb it all), so a server that waited on its
      // writes would have stalled everyone.
      const slowClient = [...server.hub.clients()].find((c) => c.id === 1);
      assert.ok(slowClient !== undefined, "the slow client was dropped");
      assert.ok(
        slowClient.writer.pendingBytes > 2 * 1024 * 1024,
        `only ${slowClient.writer.pendingBytes} bytes pending for the slow client`,
      );
      // The slow client was neither dropped nor able to hold things up.
      assert.deepEqual(warnLines(logs), []);
      assert.equal(server.hub.gauges.clientCount, 3);
      await slow.close();
      await waitForLog(logs, /Client disconnected id=1\b/);
      await closeAll(a, b);
    },
  );
});

Deno.test("Server: a slow consumer over its queue bound gets ERROR after whole frames and is dropped; others unaffected", async () => {
  await withServer({
    maxPendingBytes: 256 * 1024,
    maxMessagesPerSecond: 0, // one sender sends far more than the default rate
  }, async (server, logs) => {
    const port = server.address.port;
    const slow = await connect(port, { read: false });
    const a = await connect(port);
    const b = await connect(port);
    const frames = concat(
      ...Array.from(
        { length: 500 },
        (_, i) => encodeFrame(Tag.CHAT, 0, numberedBody(i, 400)),
      ),
    );
    let sent = 0;
    // Bounded: at most 40 batches (8 MB), stopping once slow is dropped.
    for (let i = 0; i < 40 && !/slow/.test(logs.join("\n")); i++) {
      await a.write(frames);
      sent += 500;
      await b.chats(500, 10_000);
    }
    const line = await waitForLog(logs, /slow/);
    assert.match(line, /\bWARN\b/);
    assert.match(line, /\bid=1\b/);
    // The dropped client's stream: frames whole, then ERROR, then the end.
    const reader = new FrameReader();
    const seen: Frame[] = [];
    await deadline(
      (async () => {
        const buffer = new Uint8Array(64 * 1024);
        for (;;) {
          const n = await slow.conn.read(buffer);
          if (n === null) break;
          reader.push(buffer.subarray(0, n));
          for (let f = reader.next(); f; f = reader.next()) {
            seen.push({ ...f, body: f.body.slice() });
          }
        }
      })(),
      10_000,
      "the slow client's stream to end",
    );
    assert.equal(reader.bufferedBytes, 0, "stream ended mid-frame");
    assert.equal(seen[0].tag, Tag.ISSUE_ID);
    const last = seen[seen.length - 1];
    assert.equal(last.tag, Tag.ERROR);
    assert.match(text(last), /slow/);
    const chats = seen.filter((f) => f.tag === Tag.CHAT);
    assert.ok(chats.length < sent);
    chats.forEach((f, i) => {
      assert.equal(new DataView(f.body.buffer).getFloat64(0), i % 500);
    });
    // The others still chat.
    const [beforeA, beforeB] = await roundTrip(b, [a, b], "after the drop");
    assert.deepEqual(disturbances(beforeA), []);
    assert.deepEqual(disturbances(beforeB), []);
    await closeAll(slow, a, b);
  });
});

// --- Shutdown -------------------------------------------------------------

Deno.test("Server: graceful shutdown sends CLOSE with the reason to every client, then ends them", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const clients = await Promise.all(
      Array.from({ length: 5 }, () => connect(port)),
    );
    await roundTrip(clients[0], clients, "before shutdown");
    await deadline(
      server.shutdown({ reason: "maintenance at noon", graceMs: 2000 }),
      5000,
      "shutdown",
    );
    for (const client of clients) {
      const frames = await client.framesUntil(Tag.CLOSE);
      assert.deepEqual(disturbances(frames.slice(0, -1)), []);
      assert.equal(text(frames[frames.length - 1]), "maintenance at noon");
      await client.waitForEnd();
      assert.deepEqual(client.inbox, [], "nothing after CLOSE");
    }
    // No longer accepting.
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port }),
      Deno.errors.ConnectionRefused,
    );
    await closeAll(...clients);
  });
});

Deno.test("Server: shutdown delivers what was queued before the CLOSE", async () => {
  await withServer({}, async (server) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    const texts = Array.from({ length: 200 }, (_, i) => `queued ${i}`);
    await a.write(concat(...texts.map((t) => encodeFrame(Tag.CHAT, 0, t))));
    await a.chats(texts.length); // the hub has handled them all
    await server.shutdown({ reason: "bye" });
    const frames = await b.framesUntil(Tag.CLOSE);
    assert.deepEqual(frames.slice(0, -1).map(text), texts);
    assert.equal(text(frames[frames.length - 1]), "bye");
    await b.waitForEnd();
    await closeAll(a, b);
  });
});

// --- Framing under random splits -------------------------------------------

Deno.test("Server property: random frames in random write splits are relayed whole and in order", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const receiver = await connect(port);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            tag: fc.oneof(
              { weight: 4, arbitrary: fc.constant<number>(Tag.CHAT) },
              { weight: 1, arbitrary: fc.constantFrom(77, 200, 2 ** 40) },
            ),
            body: fc.uint8Array({ maxLength: MAX_BODY_SIZE }),
          }),
          { minLength: 1, maxLength: 120 },
        ),
        fc.array(fc.nat(), { maxLength: 40 }),
        async (frames, cutSeeds) => {
          // A fresh sender per run: its own rate-limit budget, its own reader.
          const sender = await connect(port);
          const bytes = concat(
            ...frames.map((f) => encodeFrame(f.tag, 0, f.body)),
          );
          const cuts = [...new Set(cutSeeds.map((n) => n % bytes.length))]
            .sort((x, y) => x - y);
          let start = 0;
          for (const cut of [...cuts, bytes.length]) {
            if (cut > start) {
              await sender.write(bytes.subarray(start, cut));
              await turn();
            }
            start = cut;
          }
          const marker = `end of run ${run++}`;
          const [before] = await roundTrip(sender, [receiver], marker);
          const expected = frames.filter((f) => f.tag === Tag.CHAT);
          assert.deepEqual(
            before.map((f) => [f.tag, f.senderId, Array.from(f.body)]),
            expected.map((f) => [Tag.CHAT, sender.id, Array.from(f.body)]),
          );
          await sender.close();
        },
      ),
      { numRuns: 25 },
    );
    await receiver.close();
  });
});

Deno.test("Server: large writes (read buffer growth) then many small ones (shrink) then large again", async () => {
  await withServer({ maxMessagesPerSecond: 0 }, async (server) => {
    const a = await connect(server.address.port);
    const b = await connect(server.address.port);
    let sequence = 0;
    const frame = (size: number) =>
      encodeFrame(Tag.CHAT, 0, numberedBody(sequence++, size));
    const phases: Uint8Array[][] = [];
    // ~300 KB in one write, odd sizes so frames straddle every buffer end.
    phases.push([
      concat(
        ...Array.from({ length: 700 }, (_, i) => frame(8 + (i * 37) % 481)),
      ),
    ]);
    // 80 small writes of one small frame each.
    phases.push(Array.from({ length: 80 }, () => frame(9)));
    // Large again.
    phases.push([
      concat(
        ...Array.from({ length: 700 }, (_, i) => frame(8 + (i * 53) % 481)),
      ),
    ]);
    for (const writes of phases) {
      for (const bytes of writes) {
        await a.write(bytes);
        await turn(); // so that the small writes arrive as small reads
      }
    }
    const frames = await b.chats(sequence, 15_000);
    frames.forEach((f, i) => {
      const view = new DataView(f.body.buffer, f.body.byteOffset);
      assert.equal(view.getFloat64(0), i);
      assert.equal(f.senderId, a.id);
    });
    await closeAll(a, b);
  });
});

Deno.test("Server: 200 clients connecting at once get distinct ids 1..200 and all hear each other", async () => {
  await withServer({}, async (server) => {
    const clients = await Promise.all(
      Array.from({ length: 200 }, () => connect(server.address.port)),
    );
    assert.deepEqual(
      clients.map((c) => c.id).sort((x, y) => x - y),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    await clients[0].send(Tag.CHAT, "to all 200");
    await clients[199].send(Tag.CHAT, "and back");
    for (const client of clients) {
      assert.deepEqual((await client.chats(2)).map(text), [
        "to all 200",
        "and back",
      ]);
    }
    await closeAll(...clients);
  });
});
