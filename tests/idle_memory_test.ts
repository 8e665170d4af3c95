/**
 * Idle connections give their buffers back: after a burst (which grows the
 * read buffer to 64 KiB and the outgoing ones as far), a connection that has
 * gone quiet holds at most 40 KB of buffers once a tick or two has passed.
 * Measured exactly with the buffers' capacities, as the hub sees them and as
 * `/metrics` reports them (`hubbub_client_buffer_bytes`).
 *
 * Not measured here: the process's resident memory. Released buffers are
 * freed when V8 next collects, which an idle server may not do for a long
 * time, and glibc keeps freed 64 KiB chunks for reuse instead of returning
 * them, so resident memory stays at its peak either way (before this fix,
 * too) and cannot show the release.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import { closeAll, join, RawClient, waitUntil } from "./_kit.ts";
import { withServer } from "./_server.ts";
import { formatMetrics } from "../server/mod.ts";

/** The most buffer memory an idle connection may keep, in bytes. */
const IDLE_BYTES = 40_000;

/** 256 KiB and a little of CHAT frames of 488-byte bodies, one array. */
function burst(): Uint8Array {
  const frame = encodeFrame(Tag.CHAT, 0, "b".repeat(488));
  const count = Math.ceil(256 * 1024 / frame.length);
  const bytes = new Uint8Array(count * frame.length);
  for (let i = 0; i < count; i++) bytes.set(frame, i * frame.length);
  return bytes;
}

const BURST = burst();
const BURST_FRAMES = BURST.length / 512;

Deno.test("Idle memory: a connection quiet after a 256 KiB burst keeps at most 40 KB of buffers", async () => {
  await withServer({ maxMessagesPerSecond: 0 }, async (server) => {
    const port = server.address.port;
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const client = await RawClient.connect(port);
        await join(client, `burst-${i}`);
        clients.push(client);
      }
      await Promise.all(clients.map(async (client) => {
        await client.write(BURST);
        await client.chats(BURST_FRAMES, 20_000);
      }));
      const held = () =>
        [...server.hub.clients()].map((client) =>
          client.readBufferCapacity + client.writer.bufferedCapacity
        );
      await waitUntil(
        () => held().every((bytes) => bytes <= IDLE_BYTES),
        `every idle connection down to ${IDLE_BYTES} bytes of buffers (now ${held()})`,
        10_000,
      );
      const exposed = Number(
        /^hubbub_client_buffer_bytes (\d+)$/m.exec(
          formatMetrics(server.hub),
        )?.[1],
      );
      assert.ok(
        exposed <= clients.length * IDLE_BYTES,
        `hubbub_client_buffer_bytes ${exposed}`,
      );
      // And they still work, growing again as needed.
      await clients[0].write(BURST);
      await clients[0].chats(BURST_FRAMES, 20_000);
    } finally {
      await closeAll(...clients);
    }
  });
});
