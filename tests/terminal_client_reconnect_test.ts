/**
 * The terminal client when the server goes away: it says so, reconnects
 * with backoff (each attempt shown), and is back in its room under its
 * nickname; `/exit` still works while it waits. Against a scripted peer
 * (to see the exact frames) and a real server process restarted on the
 * same port.
 */

import assert from "node:assert/strict";
import { encodeFrame, FrameReader, Tag } from "../protocol/mod.ts";
import { closedPort } from "./_loadtest_cli.ts";
import { RawClient, text } from "./_raw_client.ts";
import {
  framesUntil,
  presenceFrame,
  withScriptedPeer,
} from "./_scripted_peer.ts";
import { spawnServer } from "./_server.ts";
import { assertNoStackTrace, withClient } from "./_terminal_client.ts";

Deno.test("Terminal client: when the peer drops it, it reconnects and sends NICK and JOIN to be back where it was", async () => {
  await withScriptedPeer(async (peer) => {
    const port = peer.port;
    await withClient(port, async (client) => {
      const first = await peer.accept(10_000, "the client");
      const reader = new FrameReader();
      assert.deepEqual(await framesUntil(first, reader, Tag.JOIN), [
        [Tag.JOIN, "lobby"],
      ]);
      await first.write(encodeFrame(Tag.ISSUE_ID, 7));
      await first.write(presenceFrame(7, "join", "lobby", null));
      await client.waitFor("stdout", /You are in lobby/);
      await client.type("/nick al");
      assert.deepEqual(await framesUntil(first, reader, Tag.NICK), [
        [Tag.WHO, ""],
        [Tag.NICK, "al"],
      ]);
      await first.write(presenceFrame(7, "nick", "lobby", "al"));
      await client.type("/join den");
      assert.deepEqual(await framesUntil(first, reader, Tag.JOIN), [
        [Tag.JOIN, "den"],
      ]);
      await first.write(presenceFrame(7, "join", "den", "al"));
      await client.waitFor("stdout", /You are in den/);
      first.close();

      const notice = await client.waitFor("stderr", /reconnecting in/);
      assert.match(
        notice,
        new RegExp(
          `^Server at 127\\.0\\.0\\.1:${port} went away; reconnecting in \\d+\\.\\d s \\(attempt 1\\)$`,
        ),
      );
      const second = await peer.accept(20_000, "reconnection");
      assert.deepEqual(
        await framesUntil(second, new FrameReader(), Tag.JOIN),
        [[Tag.NICK, "al"], [Tag.JOIN, "den"]],
      );
      await second.write(encodeFrame(Tag.ISSUE_ID, 8));
      await second.write(presenceFrame(8, "join", "lobby", null));
      await second.write(presenceFrame(8, "nick", "lobby", "al"));
      await second.write(presenceFrame(8, "join", "den", "al"));
      await second.write(encodeFrame(Tag.CHAT, 8, "marker"));
      await client.waitFor("stdout", /^al >>> marker$/);
      assert.ok(
        client.stdout.some((l) => /^Reconnected to .* client 8$/.test(l)),
      );
      // Each room shown once per connection; the lobby of the fresh one not.
      const rooms = client.stdout.filter((l) => /You are in/.test(l));
      assert.deepEqual(rooms, [
        "* You are in lobby",
        "* You are in den",
        "* You are in den",
      ]);
      await client.type("/exit");
      await framesUntil(second, new FrameReader(), Tag.CLOSE);
      await second.write(encodeFrame(Tag.CLOSE, 8));
      assert.equal((await client.finish()).code, 0);
      assertNoStackTrace(client);
    });
  });
});

Deno.test("Terminal client: a restarted server gets it back, after attempts that each print a line", async () => {
  const port = closedPort();
  let server = await spawnServer(["--port", String(port)]);
  let watcher: RawClient | null = null;
  try {
    await withClient(port, async (client) => {
      await client.issuedId();
      await client.type("/nick rita");
      await client.waitFor("stdout", /You are now known as rita/);
      await client.type("/join attic");
      await client.waitFor("stdout", /You are in attic/);
      server.process.kill("SIGKILL");
      await server.stop();
      await client.waitFor("stderr", /(went away|lost: .*); reconnecting in/);
      // A failed attempt, shown with its reason and the next wait.
      const failed = await client.waitFor(
        "stderr",
        /refused.*; reconnecting in \d+\.\d s \(attempt 2\)$/,
        30_000,
      );
      assert.match(failed, new RegExp(`127\\.0\\.0\\.1:${port}`));
      // Typed while disconnected: refused in a line, nothing queued.
      await client.type("into the void");
      await client.waitFor("stderr", /Not connected: not sent/);

      server = await spawnServer(["--port", String(port)]);
      await client.waitFor("stdout", /^Reconnected to .* as client 1$/, 60_000);
      await client.waitFor("stdout", /You are now known as rita/);
      watcher = await RawClient.connect(port);
      await watcher.send(Tag.JOIN, "attic");
      await client.waitFor("stdout", /joined attic/);
      await client.type("back again");
      const chat = await watcher.next(Tag.CHAT);
      assert.equal(text(chat), "back again");
      assert.equal(chat.senderId, 1);
      assert.ok(!client.stdout.some((l) => /into the void/.test(l)));
      await client.type("/exit");
      assert.equal((await client.finish()).code, 0);
      assertNoStackTrace(client);
    });
  } finally {
    await (watcher as RawClient | null)?.close();
    await server.stop();
  }
});

Deno.test("Terminal client: a graceful shutdown prints its reason and reconnects; /exit while waiting exits 0", async () => {
  const server = await spawnServer();
  try {
    await withClient(server.port, async (client) => {
      await client.issuedId();
      assert.equal((await server.stop("SIGTERM")).code, 0);
      await client.waitFor(
        "stderr",
        /^Server closed the connection: server shutting down$/,
      );
      await client.waitFor("stderr", /^Reconnecting to .* in \d+\.\d s/);
      await client.type("/exit");
      assert.equal((await client.finish()).code, 0, client.transcript());
      assertNoStackTrace(client);
    });
  } finally {
    await server.stop();
  }
});
