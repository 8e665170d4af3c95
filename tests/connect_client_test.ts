/**
 * connectClient, the one path from a gateway into the hub: whatever the
 * transport, the hub hears `connect` before anything the reader posts, and a
 * failed write becomes `gone` with the connection's reason.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import { Channel, type HubEvent, type StreamTransport } from "../server/mod.ts";
import { systemClock } from "../server/clock.ts";
import { connectClient } from "../server/transport/mod.ts";

/** A stream whose writes fail as a reset connection's do. */
class ResetTransport implements StreamTransport {
  readonly remoteAddress = "127.0.0.1:1";
  write(): Promise<number> {
    return Promise.reject(
      Object.assign(new Deno.errors.ConnectionReset("reset"), {
        code: "ECONNRESET",
      }),
    );
  }
  close(): void {}
}

Deno.test("connectClient: connect comes before the reader's first event, and a failed write posts gone with the reason", async () => {
  const inbox = new Channel<HubEvent>(Number.MAX_SAFE_INTEGER);
  const frame = encodeFrame(Tag.PING, 0);
  const client = connectClient(
    {
      inbox,
      maxPendingBytes: 1 << 20,
      totals: { bytesOut: 0, writes: 0 },
      clock: systemClock,
    },
    new ResetTransport(),
    (reading, to) => {
      // The reader posts at once: it must still come after connect.
      to.push({ kind: "frames", client: reading, bytes: frame, end: 24 }, 24);
      return Promise.resolve();
    },
  );
  const first = (await inbox.receive()) ?? [];
  assert.deepEqual(first.map((e) => e.kind), ["connect", "frames"]);
  assert.equal(first[0].kind === "connect" && first[0].client, client);
  client.writer.append(frame);
  client.writer.flush();
  const next = (await inbox.receive()) ?? [];
  assert.equal(next.length, 1);
  const gone = next[0];
  assert.equal(gone.kind, "gone");
  assert.equal(gone.kind === "gone" && gone.detail, "connection reset");
  assert.equal(gone.kind === "gone" && gone.client, client);
  inbox.close();
});
