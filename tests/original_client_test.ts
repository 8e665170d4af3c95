/**
 * Compatibility with the original Rust client, which handles only the first
 * frame of each `read()`: while a client has sent nothing newer than CLOSE,
 * it gets only ISSUE_ID, CHAT and CLOSE (ERROR only right before the end),
 * one frame per socket write; its first newer frame makes it a hubbub client
 * that gets everything, coalesced.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import { ClientWriter } from "../server/client_writer.ts";
import { formatMetrics } from "../server/prometheus.ts";
import type { Transport } from "../server/transport/transport.ts";
import { OriginalClient } from "./_original_client.ts";
import {
  barrier,
  closeAll,
  join,
  nick,
  presenceOf,
  RawClient,
  text,
} from "./_kit.ts";
import { withServer } from "./_server.ts";

const decoder = new TextDecoder();

/** Assert that `frame` is a CHAT with `body` from `senderId`. */
function assertChat(
  frame: { tag: number; senderId: number; body: Uint8Array },
  body: string,
  senderId: number,
): void {
  assert.deepEqual(
    {
      tag: frame.tag,
      senderId: frame.senderId,
      body: decoder.decode(frame.body),
    },
    { tag: Tag.CHAT, senderId, body },
    "the original client's next handled frame is the CHAT just sent",
  );
}

/** `sender` says `body`; everyone in `hubbubs` has it before this returns. */
async function say(
  sender: RawClient,
  body: string,
  hubbubs: RawClient[],
): Promise<void> {
  await sender.send(Tag.CHAT, body);
  await Promise.all(hubbubs.map(async (client) => {
    for (;;) {
      const frame = await client.next(Tag.CHAT);
      if (text(frame) === body) return;
    }
  }));
}

Deno.test("Original client: ISSUE_ID first, every CHAT right after it is sent (never one late), CLOSE answering its CLOSE", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const original = await OriginalClient.connect(port);
    const issued = await original.next();
    assert.equal(issued.tag, Tag.ISSUE_ID);
    assert.equal(issued.body.length, 0);
    const id = issued.senderId;
    const bob = await RawClient.connect(port);
    const carol = await RawClient.connect(port);
    const hubbubs = [bob, carol];
    try {
      await say(bob, "hello from bob", hubbubs);
      assertChat(await original.next(), "hello from bob", bob.id);

      // The original speaks; its own CHAT comes back to it at once.
      await original.send(Tag.CHAT, "hi, original here");
      assertChat(await original.next(), "hi, original here", id);
      for (const client of hubbubs) {
        assertChat(await client.next(Tag.CHAT), "hi, original here", id);
      }

      // Carol becomes a hubbub client and causes presence in the lobby.
      await nick(carol, "carol");
      await say(carol, "carol now", hubbubs);
      assertChat(await original.next(), "carol now", carol.id);

      await join(carol, "side");
      await join(carol, "lobby");
      await say(bob, "welcome back", hubbubs);
      assertChat(await original.next(), "welcome back", bob.id);

      // A newcomer's join, then its chat.
      const dave = await RawClient.connect(port);
      await nick(dave, "dave");
      hubbubs.push(dave);
      await say(dave, "dave here", hubbubs);
      assertChat(await original.next(), "dave here", dave.id);

      for (let i = 0; i < 10; i++) {
        const sender = hubbubs[i % hubbubs.length];
        await say(sender, `round ${i}`, hubbubs);
        assertChat(await original.next(), `round ${i}`, sender.id);
        await original.send(Tag.CHAT, `reply ${i}`);
        assertChat(await original.next(), `reply ${i}`, id);
        for (const client of hubbubs) await client.next(Tag.CHAT);
      }

      // /exit: the original sends CLOSE; the server answers CLOSE.
      await original.send(Tag.CLOSE);
      const close = await original.next();
      assert.equal(close.tag, Tag.CLOSE);
      assert.equal(close.senderId, id);
      await original.waitForEnd();
      assert.equal(original.overflow, null);
    } finally {
      await original.close();
      await closeAll(...hubbubs);
    }
  });
});

Deno.test("Original client: CLOSE with the reason on server shutdown, right after the last CHAT", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const original = await OriginalClient.connect(port);
    assert.equal((await original.next()).tag, Tag.ISSUE_ID);
    const bob = await RawClient.connect(port);
    await nick(bob, "bob");
    try {
      await say(bob, "last words", [bob]);
      assertChat(await original.next(), "last words", bob.id);
      const stopping = server.shutdown({ reason: "server shutting down" });
      const close = await original.next();
      assert.equal(close.tag, Tag.CLOSE);
      assert.equal(decoder.decode(close.body), "server shutting down");
      await original.waitForEnd();
      await stopping;
    } finally {
      await original.close();
      await bob.close();
    }
  });
});

Deno.test("Original client: no PING keepalive, no PRESENCE, no rate-limit ERROR while it is original", async () => {
  await withServer(
    { pingIntervalMs: 20, maxMessagesPerSecond: 0.01, messageBurst: 1 },
    async (server) => {
      const port = server.address.port;
      const original = await OriginalClient.connect(port);
      const issued = await original.next();
      assert.equal(issued.tag, Tag.ISSUE_ID);
      const id = issued.senderId;
      const bob = await RawClient.connect(port);
      await nick(bob, "bob");
      try {
        // Bob, silent since, is pinged: the original has been silent longer.
        await bob.next(Tag.PING);
        // Over its rate: the second CHAT is dropped, silently for it.
        await original.send(Tag.CHAT, "allowed");
        await original.send(Tag.CHAT, "dropped");
        assertChat(await bob.next(Tag.CHAT), "allowed", id);
        assertChat(await original.next(), "allowed", id);
        await barrier(bob);
        assert.equal(server.hub.metrics.rateLimitedFrames, 1);
        await original.send(Tag.CLOSE);
        const close = await original.next();
        assert.equal(close.tag, Tag.CLOSE, "nothing else came before");
      } finally {
        await original.close();
        await bob.close();
      }
    },
  );
});

Deno.test("Original client: its first frame of a newer tag makes it a hubbub client: the join confirmation, then everything", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const late = await RawClient.connect(port, { original: true });
    const bob = await RawClient.connect(port);
    await nick(bob, "bob");
    await barrier(bob);
    // So far only ISSUE_ID.
    assert.deepEqual(late.inbox.map((frame) => frame.tag), []);
    await late.send(Tag.PING, "hello");
    const confirmation = await late.next();
    assert.deepEqual(presenceOf(confirmation), {
      event: "join",
      room: "lobby",
      id: late.id,
      nick: null,
    });
    const pong = await late.next();
    assert.equal(pong.tag, Tag.PONG);
    assert.equal(text(pong), "hello");
    await bob.send(Tag.NICK, "robert");
    assert.equal(presenceOf(await late.next()).nick, "robert");
    await closeAll(late, bob);
  });
});

Deno.test("Original client: a JOIN or NICK as its first newer frame is confirmed once, by its own answer", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    for (
      const [tag, body, event, room] of [
        [Tag.JOIN, "lobby", "join", "lobby"],
        [Tag.JOIN, "side", "join", "side"],
        [Tag.NICK, "neo", "nick", "lobby"],
      ] as const
    ) {
      const client = await RawClient.connect(port, { original: true });
      await client.send(tag, body);
      const frames = await barrier(client);
      assert.deepEqual(
        frames.map((frame) => presenceOf(frame)).map((p) => [p.event, p.room]),
        [[event, room]],
      );
      await client.close();
    }
  });
});

Deno.test("Original client: ERROR only as its farewell, right before the end (idle timeout); counted in hubbub_original_clients", async () => {
  await withServer({ idleTimeoutMs: 1500 }, async (server) => {
    const original = await OriginalClient.connect(server.address.port);
    assert.equal((await original.next()).tag, Tag.ISSUE_ID);
    assert.match(formatMetrics(server.hub), /^hubbub_original_clients 1$/m);
    const farewell = await original.next();
    assert.equal(farewell.tag, Tag.ERROR);
    assert.equal(decoder.decode(farewell.body), "idle timeout");
    await original.waitForEnd();
    assert.deepEqual(original.handled, []);
    assert.match(formatMetrics(server.hub), /^hubbub_original_clients 0$/m);
    await original.close();
  });
});

/** A transport that records each write and completes it only when told. */
class RecordingTransport implements Transport {
  readonly remoteAddress = "test";
  readonly writes: Uint8Array[] = [];
  #pending: (() => void)[] = [];

  write(bytes: Uint8Array): Promise<number> {
    this.writes.push(bytes.slice());
    return new Promise((resolve) =>
      this.#pending.push(() => resolve(bytes.length))
    );
  }

  /** Complete the oldest write in flight; false when none is. */
  complete(): boolean {
    const next = this.#pending.shift();
    next?.();
    return next !== undefined;
  }

  close(): void {}
}

/** Let the writer's loop run after a completed write. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("ClientWriter: one frame per write, the next after the previous completed, until coalescing is turned back on", async () => {
  const transport = new RecordingTransport();
  const writer = new ClientWriter(transport, 1 << 20, () => {});
  writer.framePerWrite = true;
  const frames = [
    encodeFrame(Tag.ISSUE_ID, 7),
    encodeFrame(Tag.CHAT, 3, "one"),
    encodeFrame(Tag.CHAT, 3, "two"),
  ];
  for (const frame of frames) assert.ok(writer.append(frame));
  // A run of frames appended at once is split too.
  const run = new Uint8Array([...frames[1], ...frames[2]]);
  assert.ok(writer.append(run));
  writer.flush();
  const expected = [frames[0], frames[1], frames[2], frames[1], frames[2]];
  for (let i = 0; i < expected.length; i++) {
    assert.equal(
      transport.writes.length,
      i + 1,
      "one write in flight at a time",
    );
    assert.deepEqual(transport.writes[i], expected[i]);
    transport.complete();
    await settle();
  }
  assert.equal(writer.pendingBytes, 0);
  writer.framePerWrite = false;
  for (const frame of frames) writer.append(frame);
  writer.flush();
  assert.equal(transport.writes.length, expected.length + 1);
  assert.deepEqual(
    transport.writes.at(-1),
    new Uint8Array([...frames[0], ...frames[1], ...frames[2]]),
  );
  transport.complete();
  await settle();
  writer.close();
});

/** A transport that takes at most `chunk` bytes per write, at once. */
class TricklingTransport implements Transport {
  readonly remoteAddress = "test";
  readonly writes: Uint8Array[] = [];
  constructor(readonly chunk: number) {}

  write(bytes: Uint8Array): Promise<number> {
    const taken = bytes.slice(0, this.chunk);
    this.writes.push(taken);
    return Promise.resolve(taken.length);
  }

  close(): void {}
}

Deno.test("ClientWriter: one frame per write holds across partial writes: no write reaches into the next frame", async () => {
  const transport = new TricklingTransport(10);
  const writer = new ClientWriter(transport, 1 << 20, () => {});
  writer.framePerWrite = true;
  const frames = [
    encodeFrame(Tag.CHAT, 1, "first message"),
    encodeFrame(Tag.CHAT, 2, "second"),
    encodeFrame(Tag.CLOSE, 2),
  ];
  for (const frame of frames) writer.append(frame);
  writer.flush();
  for (let i = 0; i < 100 && writer.pendingBytes > 0; i++) await settle();
  assert.equal(writer.pendingBytes, 0);
  // Cut the writes back into frames: every write lies within one frame.
  const bounds = [0];
  for (const frame of frames) bounds.push(bounds.at(-1)! + frame.length);
  let position = 0;
  for (const write of transport.writes) {
    const frameEnd = bounds.find((bound) => bound > position)!;
    assert.ok(position + write.length <= frameEnd, "a write crossed a frame");
    position += write.length;
  }
  assert.equal(position, bounds.at(-1));
  writer.close();
});

/** A transport whose first write takes `first` bytes; later ones never complete. */
class StallingTransport implements Transport {
  readonly remoteAddress = "test";
  #writes = 0;
  constructor(readonly first: number) {}

  write(bytes: Uint8Array): Promise<number> {
    if (this.#writes++ === 0) {
      return Promise.resolve(Math.min(this.first, bytes.length));
    }
    return new Promise(() => {});
  }

  close(): void {}
}

Deno.test("ClientWriter: on close, frames not handed over whole are counted, a half-written one included", async () => {
  const frame = encodeFrame(Tag.CHAT, 1, "m0");
  for (
    const [first, unsent] of [
      [0, 5],
      [5, 5], // the first frame half written
      [frame.length, 4],
      [frame.length + 3, 4],
    ]
  ) {
    const writer = new ClientWriter(
      new StallingTransport(first),
      1 << 20,
      () => {},
    );
    for (let i = 0; i < 3; i++) {
      writer.append(encodeFrame(Tag.CHAT, 1, `m${i}`));
    }
    writer.flush(); // all three in flight
    for (let i = 0; i < 2; i++) {
      writer.append(encodeFrame(Tag.CHAT, 1, `q${i}`));
    }
    await settle();
    writer.close();
    assert.equal(
      writer.unsentAtClose,
      unsent,
      `first write took ${first} bytes`,
    );
  }
  const done = new ClientWriter(
    new TricklingTransport(1 << 20),
    1 << 20,
    () => {},
  );
  done.append(encodeFrame(Tag.CHAT, 1, "sent"));
  done.flush();
  await settle();
  done.close();
  assert.equal(done.unsentAtClose, 0);
});
