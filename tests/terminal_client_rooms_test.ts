/**
 * The terminal client (`client/main.ts`, a real subprocess) with rooms and
 * nicknames: `/nick`, `/join`, `/who`, `/rooms`, refusals on stderr, and
 * chat lines shown as `<nick> >>> <text>`.
 */

import assert from "node:assert/strict";
import { Tag } from "../protocol/mod.ts";
import { closeAll, join, nextPresence, nick, RawClient, text } from "./_kit.ts";
import { CLIENT_MAIN, spawnDeno, type Spawned } from "./_process.ts";
import { withServer } from "./_server.ts";

function startClient(port: number, args: string[] = []): Spawned {
  return spawnDeno(CLIENT_MAIN, ["--port", String(port), ...args], {
    stdin: true,
  });
}

/** Type a line and wait for an output line matching `pattern` after it. */
async function type(
  client: Spawned,
  line: string,
  stream: "stdout" | "stderr",
  pattern: RegExp,
): Promise<string> {
  const from = client[stream].length;
  await client.writeLine(line);
  return await client.waitForLine(stream, pattern, 5000, from);
}

Deno.test("Terminal client: /nick, /join, /who, /rooms and nicknames in chat lines", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const bob = await RawClient.connect(port);
    await nick(bob, "bob");
    const client = startClient(port);
    try {
      await client.waitForLine(
        "stdout",
        /^Connected to 127\.0\.0\.1:\d+ as client 2\. Type \/help/,
      );
      await client.waitForLine("stdout", /^\* You are in lobby$/);
      assert.deepEqual(await nextPresence(bob), {
        event: "join",
        room: "lobby",
        id: 2,
        nick: null,
      });

      // It learnt bob's nickname from the WHO it sent on joining.
      await bob.send(Tag.CHAT, "hi there");
      await client.waitForLine("stdout", /^bob >>> hi there$/);

      await type(client, "/nick alice", "stdout", /You are now known as alice/);
      assert.deepEqual(await nextPresence(bob), {
        event: "nick",
        room: "lobby",
        id: 2,
        nick: "alice",
        old: null,
      });
      await type(client, "hello bob", "stdout", /^alice >>> hello bob$/);
      const chat = await bob.next(Tag.CHAT);
      assert.equal(text(chat), "hello bob");
      assert.equal(chat.senderId, 2);

      const who = await type(client, "/who", "stdout", /^\* In lobby: /);
      assert.match(who, /alice \(2\)/);
      assert.match(who, /bob \(1\)/);
      await type(client, "/rooms", "stdout", /^\* Rooms: lobby \(2\)$/);

      await type(client, "/join dev", "stdout", /^\* You are in dev$/);
      assert.deepEqual(await nextPresence(bob), {
        event: "leave",
        room: "lobby",
        id: 2,
        nick: "alice",
      });
      await type(
        client,
        "/rooms",
        "stdout",
        /^\* Rooms: dev \(1\), lobby \(1\)$/,
      );
      const from = client.stdout.length;
      await join(bob, "dev");
      await client.waitForLine("stdout", /^\* bob joined dev$/, 5000, from);
      await bob.send(Tag.CHAT, "in dev now");
      await client.waitForLine("stdout", /^bob >>> in dev now$/);
      await type(
        client,
        "/who",
        "stdout",
        /^\* In dev: (alice \(2\), bob \(1\)|bob \(1\), alice \(2\))$/,
      );

      // Refusals go to stderr with the reason.
      await type(
        client,
        "/nick BOB",
        "stderr",
        /^Cannot set nickname: nickname is taken$/,
      );
      await type(
        client,
        "/nick two words",
        "stderr",
        /^Cannot set nickname: nickname has whitespace$/,
      );
      await type(
        client,
        "/join",
        "stderr",
        /^Cannot join: room name is empty$/,
      );
      await type(
        client,
        "/dance",
        "stderr",
        /^Unknown command \/dance; \/help lists the commands$/,
      );

      const before = client.stdout.length;
      await bob.close();
      await client.waitForLine("stdout", /^\* bob left dev$/, 5000, before);

      await client.writeLine("/exit");
      const status = await client.wait();
      assert.equal(status.code, 0);
    } finally {
      await client.stop();
      await bob.close();
    }
  });
});

Deno.test("Terminal client: a nickname set by a peer after the client joined shows in its chat lines", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const peer = await RawClient.connect(port);
    const client = startClient(port);
    try {
      await client.waitForLine("stdout", /^\* You are in lobby$/);
      await peer.send(Tag.CHAT, "anonymous");
      await client.waitForLine("stdout", /^1 >>> anonymous$/);
      await peer.send(Tag.NICK, "carol");
      await client.waitForLine("stdout", /^\* 1 is now known as carol$/);
      await peer.send(Tag.CHAT, "named");
      await client.waitForLine("stdout", /^carol >>> named$/);
      await peer.send(Tag.NICK, "caroline");
      await client.waitForLine(
        "stdout",
        /^\* carol is now known as caroline$/,
      );
      await client.closeStdin(); // end of input leaves like /exit
      assert.equal((await client.wait()).code, 0);
    } finally {
      await client.stop();
      await closeAll(peer);
    }
  });
});

Deno.test("Terminal client: /help lists the room commands", async () => {
  await withServer({}, async (server) => {
    const client = startClient(server.address.port);
    try {
      await client.waitForLine("stdout", /^\* You are in lobby$/);
      await type(client, "/help", "stdout", /\/rooms/);
      await client.waitForLine("stdout", /\/exit/);
      for (const command of ["/join ROOM", "/nick NAME", "/who"]) {
        assert.ok(
          client.stdout.some((line) => line.includes(command)),
          command,
        );
      }
      await client.closeStdin();
      assert.equal((await client.wait()).code, 0);
    } finally {
      await client.stop();
    }
  });
});
