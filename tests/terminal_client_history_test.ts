/**
 * The terminal client's side of history, against a scripted peer on a real
 * loopback socket (so the exact frames are seen, with no server support
 * needed): it asks for the last 20 up to its join's last_id, prints the
 * reply marked as earlier and inert, asks `/history N` up to its last seen
 * id, fills the gap after a reconnection with `{after, until}`, and says
 * `history is off` once.
 */

import assert from "node:assert/strict";
import {
  encodeFrame,
  encodeHistoryEnd,
  encodeHistoryEntry,
  FrameReader,
  Tag,
} from "../protocol/mod.ts";
import {
  framesUntil,
  presenceFrame,
  withScriptedPeer,
} from "./_scripted_peer.ts";
import { assertNoStackTrace, withClient } from "./_terminal_client.ts";

function stored(
  id: number,
  sender: number,
  nick: string | null,
  body: string,
): Uint8Array[] {
  const time = Date.UTC(2026, 11, 1, 9, 30);
  return [
    encodeFrame(
      Tag.HISTORY,
      sender,
      encodeHistoryEntry({ room: "lobby", id, sender, nick, time }),
    ),
    encodeFrame(Tag.HISTORY_TEXT, sender, body),
  ];
}

Deno.test("Terminal client: asks history after its join, shows it as earlier and inert, fills the gap after a reconnection", async () => {
  await withScriptedPeer(async (peer) => {
    await withClient(peer.port, async (client) => {
      const first = await peer.accept(20_000, "the client");
      const reader = new FrameReader();
      await framesUntil(first, reader, Tag.JOIN);
      await first.write(encodeFrame(Tag.ISSUE_ID, 7));
      await first.write(presenceFrame(7, "join", "lobby", null, 41));
      assert.deepEqual(await framesUntil(first, reader, Tag.HISTORY), [
        [Tag.WHO, ""],
        [Tag.HISTORY, '{"last":20,"until":41}'],
      ]);
      for (
        const bytes of [
          ...stored(40, 3, "ann", "hi\x1b[2Jthere"),
          ...stored(41, 5, null, "second"),
          encodeFrame(
            Tag.HISTORY_END,
            0,
            encodeHistoryEnd({
              room: "lobby",
              count: 2,
              first: 40,
              last: 41,
              complete: false,
              missing: 18,
              more: false,
            }),
          ),
        ]
      ) await first.write(bytes);
      await client.waitFor(
        "stdout",
        /^earlier \d{4}-\d\d-\d\d \d\d:\d\d ann >>> hi␛\[2Jthere$/,
      );
      await client.waitFor("stdout", /^earlier .* 5 >>> second$/);
      await client.waitFor(
        "stdout",
        /^\* earlier: 18 earlier messages were pruned$/,
      );
      // Two live messages: ids 42 and 43 by counting.
      await first.write(encodeFrame(Tag.CHAT, 3, "live one"));
      await first.write(encodeFrame(Tag.CHAT, 7, "live two"));
      await client.waitFor("stdout", /^7 >>> live two$/);
      await client.type("/history 5");
      assert.deepEqual(await framesUntil(first, reader, Tag.HISTORY), [
        [Tag.HISTORY, '{"last":5,"until":43}'],
      ]);
      first.close();

      const second = await peer.accept(30_000, "reconnection");
      const again = new FrameReader();
      await framesUntil(second, again, Tag.JOIN);
      await second.write(encodeFrame(Tag.ISSUE_ID, 8));
      await second.write(presenceFrame(8, "join", "lobby", null, 50));
      assert.deepEqual(await framesUntil(second, again, Tag.HISTORY), [
        [Tag.WHO, ""],
        [Tag.HISTORY, '{"after":43,"until":50}'],
      ]);
      // A server without history says so; it is shown once.
      await second.write(encodeFrame(Tag.ERROR, Tag.HISTORY, "history is off"));
      await second.write(encodeFrame(Tag.ERROR, Tag.HISTORY, "history is off"));
      await second.write(encodeFrame(Tag.CHAT, 3, "marker"));
      await client.waitFor("stdout", /^3 >>> marker$/);
      assert.equal(
        client.stderr.filter((l) => /history is off/.test(l)).length,
        1,
        client.transcript(),
      );
      await client.type("/exit");
      await framesUntil(second, again, Tag.CLOSE);
      await second.write(encodeFrame(Tag.CLOSE, 8));
      assert.equal((await client.finish()).code, 0);
      assertNoStackTrace(client);
    });
  });
});
