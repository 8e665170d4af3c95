/**
 * The attacks of issue 10's fuzzing round, kept as tests over real sockets:
 * random bytes from many connections, thousands of frames in one write,
 * frames only a server may send forged by a client, 2,000 room hops, and a
 * server killed with SIGKILL. Each costs only the connection at fault.
 */

import assert from "node:assert/strict";
import { encodeFrame, LOBBY, Tag } from "../protocol/mod.ts";
import {
  barrier,
  closeAll,
  concat,
  join,
  presences,
  RawClient,
  roomSizes,
  text,
  waitUntil,
  withClients,
} from "./_kit.ts";
import { spawnServer, withServer } from "./_server.ts";

/** A deterministic byte source (xorshift32), so a failure can be replayed. */
function randomBytes(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

Deno.test("Hostile input: random bytes from 40 connections cost only those connections; a chat beside them loses nothing", async () => {
  await withServer({ maxMessagesPerSecond: 0 }, async (server) => {
    const port = server.address.port;
    const a = await RawClient.connect(port);
    const b = await RawClient.connect(port);
    const attackers = await Promise.all(
      Array.from({ length: 40 }, () => RawClient.connect(port)),
    );
    let sent = 0;
    const chat = async (count: number) => {
      for (let i = 0; i < count; i++) await a.send(Tag.CHAT, `m${sent++}`);
    };
    await chat(50);
    await Promise.all(attackers.map(async (attacker, index) => {
      // A valid frame first on some, so the garbage starts mid-stream.
      const prefix = index % 2 === 0 ? encodeFrame(Tag.PING, 0, "x") : [];
      try {
        await attacker.write(
          concat(new Uint8Array(prefix), randomBytes(index + 1, 4096)),
        );
      } catch {
        // The server may close (and reset) before every byte is written.
      }
    }));
    await chat(50);
    for (const attacker of attackers) await attacker.waitForEnd(10_000);
    await chat(50);
    const got = await b.chats(sent, 10_000);
    assert.deepEqual(
      got.map(text),
      Array.from({ length: sent }, (_, i) => `m${i}`),
    );
    assert.ok(got.every((frame) => frame.senderId === a.id));
    await waitUntil(
      () => server.hub.gauges.clientCount === 2,
      "the attackers gone",
    );
    await closeAll(a, b, ...attackers);
  });
});

Deno.test("Hostile input: 5,000 frames in one write are relayed whole, in order, and the writer stays connected", async () => {
  await withServer({ maxMessagesPerSecond: 0 }, async (server) => {
    const port = server.address.port;
    const a = await RawClient.connect(port);
    const b = await RawClient.connect(port);
    const count = 5000;
    const frames = Array.from(
      { length: count },
      (_, i) => encodeFrame(Tag.CHAT, 0, `n${i}`),
    );
    await a.write(concat(...frames));
    const got = await b.chats(count, 20_000);
    assert.deepEqual(
      got.map(text),
      Array.from({ length: count }, (_, i) => `n${i}`),
    );
    await barrier(a, 20_000);
    assert.ok(!a.ended);
    await closeAll(a, b);
  });
});

Deno.test("Hostile input: frames only a server sends (ISSUE_ID, ERROR, PRESENCE, list entries), unasked PONG and unknown tags, forged by a client, reach nobody", async () => {
  await withClients({}, 2, async ([a, b]) => {
    await barrier(b);
    const forged = [
      encodeFrame(Tag.ISSUE_ID, b.id),
      encodeFrame(Tag.ERROR, Tag.CHAT, "server full"),
      encodeFrame(
        Tag.PRESENCE,
        0,
        JSON.stringify({ event: "join", room: LOBBY, id: 999, nick: "admin" }),
      ),
      encodeFrame(Tag.ROOMS, 0, JSON.stringify({ room: "fake", members: 9 })),
      encodeFrame(Tag.WHO, 0, JSON.stringify({ id: 1, nick: "root" })),
      encodeFrame(Tag.PONG, 0, "unasked"),
      encodeFrame(99, 0, "unknown tag"),
    ];
    await a.write(concat(...forged));
    // b hears nothing of it: at most the answers a's own requests earned go
    // to a, never to b.
    assert.deepEqual(await barrier(b), []);
    // a is still served normally, and the id it was issued still stands.
    await a.send(Tag.CHAT, "still me");
    const chat = await b.next(Tag.CHAT);
    assert.equal(chat.senderId, a.id);
    assert.equal(text(chat), "still me");
  });
});

Deno.test("Hostile input: 2,000 room hops leave no room behind and the hopper is still served", async () => {
  await withServer({ maxMessagesPerSecond: 0 }, async (server) => {
    const port = server.address.port;
    const hopper = await RawClient.connect(port);
    const watcher = await RawClient.connect(port);
    await barrier(watcher);
    const hops = 2000;
    const bytes = concat(
      ...Array.from(
        { length: hops },
        (_, i) => encodeFrame(Tag.JOIN, 0, `hop-${i}`),
      ),
    );
    await hopper.write(bytes);
    await join(hopper, "final");
    // The lobby heard the hopper leave once, nothing of the 2,000 rooms.
    const heard = presences(await barrier(watcher));
    assert.deepEqual(heard.map((p) => [p.event, p.room, p.id]), [
      ["leave", LOBBY, hopper.id],
    ]);
    assert.deepEqual(await roomSizes(watcher), { [LOBBY]: 1, final: 1 });
    await hopper.send(Tag.JOIN, LOBBY);
    await hopper.send(Tag.CHAT, "back");
    assert.equal(text(await watcher.next(Tag.CHAT)), "back");
    await closeAll(hopper, watcher);
  });
});

Deno.test("Hostile input: a server killed with SIGKILL ends every connection at once, and a new one on the same port serves again", async () => {
  const first = await spawnServer(["--quiet"]);
  const clients = await Promise.all(
    [1, 2, 3].map(() => RawClient.connect(first.port)),
  );
  await clients[0].send(Tag.CHAT, "before");
  for (const client of clients) await client.next(Tag.CHAT);
  const status = await first.stop("SIGKILL");
  assert.equal(status.signal, "SIGKILL");
  // Every client learns at once that the server is gone (end or reset).
  for (const client of clients) await client.waitForEnd(10_000);
  const second = await spawnServer(["--quiet", "--port", `${first.port}`]);
  try {
    assert.equal(second.port, first.port);
    const client = await RawClient.connect(second.port);
    // Nothing is kept across the kill: ids start again at 1.
    assert.equal(client.id, 1);
    await client.send(Tag.CHAT, "after");
    assert.equal(text(await client.next(Tag.CHAT)), "after");
    await client.close();
  } finally {
    await second.stop();
    await closeAll(...clients);
  }
});
