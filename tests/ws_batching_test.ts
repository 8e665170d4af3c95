/**
 * Unit tests of the WebSocket gateway's batching, over fake sockets: the
 * reader hands every whole message of a socket read to the hub as one
 * `frames` event (a message cut across reads goes with the read that
 * completes it), and the transport frames every hubbub frame of one write
 * as its own binary message, all of them in one socket write. The load
 * generator's WebSocket connection unwraps a read's messages the same way.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { Tag } from "../protocol/constants.ts";
import { encodeFrame } from "../protocol/mod.ts";
import { Channel } from "../server/channel.ts";
import { Connection } from "../server/connection.ts";
import type { HubEvent } from "../server/events.ts";
import { readWebSocket } from "../server/transport/ws/reader.ts";
import {
  type WebSocketConnection,
  WebSocketTransport,
} from "../server/transport/ws/transport.ts";
import { WebSocketConnection as GeneratorWebSocket } from "../client/loadtest/_ws_connection.ts";
import { concat } from "./_kit.ts";

const ADDRESS = {
  transport: "tcp",
  hostname: "127.0.0.1",
  port: 5000,
} as const;

/** A socket whose reads return `chunks` in turn, then the end; writes are kept. */
function fakeSocket(chunks: Uint8Array[]) {
  const writes: Uint8Array[] = [];
  let next = 0;
  const conn = {
    remoteAddr: ADDRESS,
    read(buffer: Uint8Array): Promise<number | null> {
      if (next === chunks.length) return Promise.resolve(null);
      const chunk = chunks[next];
      const count = Math.min(chunk.length, buffer.length);
      buffer.set(chunk.subarray(0, count));
      if (count === chunk.length) next++;
      else chunks[next] = chunk.subarray(count);
      return Promise.resolve(count);
    },
    write(bytes: Uint8Array): Promise<number> {
      writes.push(bytes.slice());
      return Promise.resolve(bytes.length);
    },
    close() {},
  };
  return { conn: conn as unknown as WebSocketConnection & Deno.Conn, writes };
}

/** One WebSocket message as a client sends it: masked, 7- or 16-bit length. */
function clientMessage(
  payload: Uint8Array,
  opcode = 0x2,
  mask = [0x12, 0x34, 0x56, 0x78],
): Uint8Array {
  const long = payload.length >= 126;
  const header = long ? 4 : 2;
  const out = new Uint8Array(header + 4 + payload.length);
  out[0] = 0x80 | opcode;
  if (long) {
    out[1] = 0x80 | 126;
    out[2] = payload.length >> 8;
    out[3] = payload.length & 0xff;
  } else {
    out[1] = 0x80 | payload.length;
  }
  out.set(mask, header);
  for (let i = 0; i < payload.length; i++) {
    out[header + 4 + i] = payload[i] ^ mask[i & 3];
  }
  return out;
}

/** One WebSocket message as the server sends it: unmasked. */
function serverMessage(payload: Uint8Array, opcode = 0x2): Uint8Array {
  const long = payload.length >= 126;
  const header = long ? 4 : 2;
  const out = new Uint8Array(header + payload.length);
  out[0] = 0x80 | opcode;
  if (long) {
    out[1] = 126;
    out[2] = payload.length >> 8;
    out[3] = payload.length & 0xff;
  } else {
    out[1] = payload.length;
  }
  out.set(payload, header);
  return out;
}

/** Frames of different sizes: short (7-bit length) and long (16-bit). */
const FRAMES = [
  encodeFrame(Tag.CHAT, 1, "a"),
  encodeFrame(Tag.CHAT, 2, "b".repeat(300)),
  encodeFrame(Tag.PING, 3),
  encodeFrame(Tag.CHAT, 4, "c".repeat(101)),
  encodeFrame(Tag.CHAT, 5, "d".repeat(102)),
  encodeFrame(Tag.CHAT, 6, "e".repeat(488)),
];

/** Frames whose messages fit the reader's first read buffer together. */
const READER_FRAMES = FRAMES.slice(0, 5);

/** Run the reader over `chunks`; the events it posted, in order. */
async function readAll(chunks: Uint8Array[]) {
  const { conn } = fakeSocket(chunks);
  const transport = new WebSocketTransport(conn);
  const client = new Connection(transport, 1 << 20, () => {});
  const channel = new Channel<HubEvent>(1 << 20);
  await readWebSocket(conn, transport, client, channel);
  channel.close();
  const events: { kind: string; bytes?: Uint8Array }[] = [];
  for (;;) {
    const batch = await channel.receive();
    if (batch === null) break;
    for (const event of batch) {
      events.push(
        event.kind === "frames"
          ? { kind: "frames", bytes: event.bytes.slice(0, event.end) }
          : { kind: event.kind },
      );
    }
  }
  return events;
}

Deno.test("WebSocket reader: the messages of one socket read reach the hub as one batch of frames", async () => {
  const events = await readAll([
    concat(...READER_FRAMES.map((f) => clientMessage(f))),
  ]);
  assert.equal(events.length, 2);
  assert.equal(events[0].kind, "frames");
  assert.deepEqual(events[0].bytes, concat(...READER_FRAMES));
  assert.equal(events[1].kind, "gone");
});

Deno.test("WebSocket reader: a message cut across reads goes with the read that completes it, whole", async () => {
  const wire = concat(...READER_FRAMES.map((f) => clientMessage(f)));
  const first = clientMessage(READER_FRAMES[0]).length;
  const second = first + clientMessage(READER_FRAMES[1]).length;
  // Cut inside the second message's header, then inside its payload.
  const events = await readAll([
    wire.slice(0, first + 3),
    wire.slice(first + 3, second - 10),
    wire.slice(second - 10),
  ]);
  const frames = events.filter((event) => event.kind === "frames");
  assert.deepEqual(frames.map((event) => event.bytes), [
    READER_FRAMES[0],
    concat(...READER_FRAMES.slice(1)),
  ]);
  assert.equal(events.at(-1)!.kind, "gone");
});

Deno.test("WebSocket transport: one write of several frames is one socket write of one binary message per frame", async () => {
  const { conn, writes } = fakeSocket([]);
  const transport = new WebSocketTransport(conn);
  for (const batch of [FRAMES, FRAMES.slice(2), FRAMES.slice(0, 1)]) {
    const bytes = concat(...batch);
    assert.equal(await transport.write(bytes), bytes.length);
    assert.deepEqual(
      writes.at(-1),
      concat(...batch.map((frame) => serverMessage(frame))),
    );
  }
  assert.equal(writes.length, 3);
});

/** What the generator's connection hands its reader from `chunks`. */
async function generatorReads(chunks: Uint8Array[], readSize: number) {
  const { conn, writes } = fakeSocket(chunks);
  const ws = new GeneratorWebSocket(conn, new Uint8Array(0));
  const reads: Uint8Array[] = [];
  const buffer = new Uint8Array(readSize);
  for (;;) {
    const count = await ws.read(buffer);
    if (count === null) break;
    reads.push(buffer.slice(0, count));
  }
  return { reads, writes };
}

Deno.test("Load generator WebSocket: the messages of a read are unwrapped together, a message cut across reads whole", async () => {
  const wire = concat(...FRAMES.map((f) => serverMessage(f)));
  const cut = serverMessage(FRAMES[0]).length + 3;
  const { reads } = await generatorReads(
    [wire.slice(0, cut), wire.slice(cut, wire.length - 7), wire.slice(-7)],
    64 * 1024,
  );
  assert.deepEqual(reads, [
    FRAMES[0],
    concat(...FRAMES.slice(1, -1)),
    FRAMES.at(-1)!,
  ]);
});

Deno.test("Load generator WebSocket: a read buffer smaller than a message still gets every byte in order; a ping is answered", async () => {
  const ping = serverMessage(new Uint8Array([7, 8]), 0x9);
  const wire = concat(
    serverMessage(FRAMES[0]),
    ping,
    ...FRAMES.slice(1).map((f) => serverMessage(f)),
  );
  for (const readSize of [1, 10, 100, 600]) {
    const chunks = [wire.slice(0, 50), wire.slice(50, 700), wire.slice(700)];
    const { reads, writes } = await generatorReads(chunks, readSize);
    assert.deepEqual(
      concat(...reads),
      concat(...FRAMES),
      `reads of ${readSize}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(writes.length, 1);
    assert.equal(writes[0][0], 0x8a);
  }
});

Deno.test("Load generator WebSocket: any frames, cut anywhere, read in any sizes, come out exactly, in order", async () => {
  const frame = fc.record({
    sender: fc.integer({ min: 0, max: 1000 }),
    body: fc.uint8Array({ maxLength: 488 }),
  }).map(({ sender, body }) => encodeFrame(Tag.CHAT, sender, body));
  await fc.assert(
    fc.asyncProperty(
      fc.array(frame, { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 0, max: 20_000 }), { maxLength: 20 }),
      fc.integer({ min: 1, max: 4096 }),
      async (frames, cuts, readSize) => {
        const wire = concat(...frames.map((f) => serverMessage(f)));
        const points = [0, ...cuts.map((c) => c % (wire.length + 1))]
          .sort((a, b) => a - b);
        points.push(wire.length);
        const chunks = points.slice(1).map((end, i) =>
          wire.slice(points[i], end)
        ).filter((chunk) => chunk.length > 0);
        const { reads } = await generatorReads(chunks, readSize);
        assert.deepEqual(concat(...reads), concat(...frames));
      },
    ),
    { numRuns: 300 },
  );
});
