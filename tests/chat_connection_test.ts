/**
 * ChatConnection over any byte stream: the frame code does not depend on a
 * Deno connection, so a browser can run it over a WebSocket.
 */

import assert from "node:assert/strict";
import { type ByteStream, ChatConnection } from "../client/mod.ts";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import { concat, text } from "./_kit.ts";

/**
 * An in-memory stream that hands out what it was given `readSize` bytes at a
 * time and takes at most `writeSize` bytes per write, as a slow socket can.
 */
class ShortStream implements ByteStream {
  written: Uint8Array[] = [];
  closed = false;
  #incoming: Uint8Array;
  #offset = 0;
  #readSize: number;
  #writeSize: number;

  constructor(incoming: Uint8Array, readSize: number, writeSize: number) {
    this.#incoming = incoming;
    this.#readSize = readSize;
    this.#writeSize = writeSize;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#offset === this.#incoming.length) return Promise.resolve(null);
    const count = Math.min(
      this.#readSize,
      buffer.length,
      this.#incoming.length - this.#offset,
    );
    buffer.set(this.#incoming.subarray(this.#offset, this.#offset + count));
    this.#offset += count;
    return Promise.resolve(count);
  }

  write(bytes: Uint8Array): Promise<number> {
    const count = Math.min(this.#writeSize, bytes.length);
    this.written.push(bytes.slice(0, count));
    return Promise.resolve(count);
  }

  close(): void {
    this.closed = true;
  }
}

Deno.test("ChatConnection: frames over a byte stream that cuts reads and writes short", async () => {
  const incoming = concat(
    encodeFrame(Tag.ISSUE_ID, 7),
    encodeFrame(Tag.CHAT, 3, "hello there"),
    encodeFrame(Tag.CLOSE, 0, "bye"),
  );
  const stream = new ShortStream(incoming, 5, 7);
  const connection = new ChatConnection(stream);
  await connection.send(Tag.CHAT, "one");
  await connection.send(Tag.JOIN, "room");
  assert.deepEqual(
    concat(...stream.written),
    concat(encodeFrame(Tag.CHAT, 0, "one"), encodeFrame(Tag.JOIN, 0, "room")),
  );
  const frames = [];
  for await (const frame of connection.frames()) frames.push(frame);
  assert.deepEqual(
    frames.map((f) => [f.tag, f.senderId, text(f)]),
    [[Tag.ISSUE_ID, 7, ""], [Tag.CHAT, 3, "hello there"], [
      Tag.CLOSE,
      0,
      "bye",
    ]],
  );
  assert.equal(connection.firstByte, incoming[0]);
  connection.close();
  assert.ok(stream.closed);
});

Deno.test("ChatConnection: its module uses no Deno API, so a browser can load it", async () => {
  const source = await Deno.readTextFile(
    new URL("../client/chat_connection.ts", import.meta.url),
  );
  const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
  assert.doesNotMatch(code, /\bDeno\./);
});
