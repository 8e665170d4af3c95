/**
 * The end of a client's input (`shutdown(SHUT_WR)`, what `nc -N` does at the
 * end of its input, or the FIN of a full close: TCP cannot tell them apart).
 * The client has said all it will say: it leaves its room at once, and the
 * server stops reading it, but everything already queued for it, the
 * replies to its last frames included, is still written before the
 * connection closes (within the linger time). The end of input in the
 * middle of a frame is a broken connection, dropped at once.
 */

import assert from "node:assert/strict";
import { encodeFrame, LOBBY, Tag } from "../protocol/mod.ts";
import {
  closeAll,
  nextPresence,
  RawClient,
  readToEnd,
  waitForLog,
} from "./_kit.ts";
import { withServer } from "./_server.ts";

/** `count` CHAT frames of 488-byte bodies in one array. */
function chats(count: number): Uint8Array {
  const frame = encodeFrame(Tag.CHAT, 0, "h".repeat(488));
  const bytes = new Uint8Array(count * frame.length);
  for (let i = 0; i < count; i++) bytes.set(frame, i * frame.length);
  return bytes;
}

Deno.test("Half-close: a client that ends its input still gets everything queued for it, then the end", async () => {
  await withServer({
    maxMessagesPerSecond: 0,
    maxPendingBytes: 32 * 1024 * 1024,
    lingerMs: 30_000,
  }, async (server, logs) => {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.address.port,
    });
    try {
      // 8 MiB of CHAT, echoed to the sender, which reads nothing until it
      // has ended its input: most of the echo is still queued then.
      const count = 16 * 1024;
      const input = [encodeFrame(Tag.PING, 0, "hubbub"), chats(count)];
      for (const bytes of input) {
        let offset = 0;
        while (offset < bytes.length) {
          offset += await conn.write(bytes.subarray(offset));
        }
      }
      await conn.closeWrite();
      await waitForLog(logs, /Client disconnected id=1\b.*reason=gone/, 20_000);
      const { frames: received, leftover } = await readToEnd(conn, 30_000);
      assert.equal(leftover, 0, "the stream ended inside a frame");
      const echoes = received.filter((frame) => frame.tag === Tag.CHAT);
      assert.equal(echoes.length, count);
      assert.equal(received[0].tag, Tag.ISSUE_ID);
    } finally {
      conn.close();
    }
  });
});

Deno.test("Half-close: a client that ends its input leaves its room at once", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const leaving = await RawClient.connect(port);
    const stays = await RawClient.connect(port);
    await nextPresence(stays); // its own join
    await leaving.conn.closeWrite();
    const leave = await nextPresence(stays);
    assert.deepEqual(
      [leave.event, leave.room, leave.id],
      ["leave", LOBBY, leaving.id],
    );
    assert.equal(server.hub.gauges.clientCount, 1);
    await leaving.waitForEnd();
    await closeAll(leaving, stays);
  });
});

Deno.test("Half-close: the end of input in the middle of a frame drops the client at once", async () => {
  await withServer({}, async (server, logs) => {
    const client = await RawClient.connect(server.address.port);
    await client.write(encodeFrame(Tag.CHAT, 0, "cut short").slice(0, 30));
    await client.conn.closeWrite();
    await client.waitForEnd(10_000);
    const line = await waitForLog(logs, /id=1\b.*reason=gone/);
    assert.match(line, /detail="closed by peer in the middle of a frame"/);
    assert.equal(server.hub.gauges.clientCount, 0);
    await client.close();
  });
});
