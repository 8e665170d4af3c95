/**
 * The terminal client against text meant to take over the reader's
 * terminal: escape sequences, control characters, forged lines and bidi
 * controls in chat bodies (through a real server), and in nicknames, room
 * names, error and close reasons (from a scripted peer, since the server
 * itself refuses such names). Each goes through a real client process, and
 * its output is checked byte for byte.
 */

import assert from "node:assert/strict";
import { encodeFrame, encodeJsonBody, Tag } from "../protocol/mod.ts";
import { deadline } from "./_deadline.ts";
import { RawClient } from "./_raw_client.ts";
import { withServer } from "./_server.ts";
import { type TerminalClient, withClient } from "./_terminal_client.ts";

/** Bodies that would act on a terminal printed raw, and how each must show. */
const HOSTILE: [body: string, shown: string][] = [
  ["up\x1b[2Ahere", "up␛[2Ahere"],
  ["\x1b[31mred", "␛[31mred"],
  ["\x1b]52;c;aGVsbG8=\x07clip", "␛]52;c;aGVsbG8=␇clip"],
  ["\x1b]0;title\x1b\\t", "␛]0;title␛\\t"],
  ["fine\nzed >>> I agree", "fine␊zed >>> I agree"],
  ["fine\rzed >>> I agree", "fine␍zed >>> I agree"],
  ["c1\x9b2Acsi", "c1<U+009B>2Acsi"],
  ["bidi\u202Eevil\u2066x\u200F", "bidi<U+202E>evil<U+2066>x<U+200F>"],
  ["bell\x07del\x7f", "bell␇del␡"],
];

/** Nothing a terminal would obey: no C0 (tab included), DEL, C1 or bidi. */
function assertInert(client: TerminalClient): void {
  for (const line of [...client.stdout, ...client.stderr]) {
    assert.doesNotMatch(
      line,
      // deno-lint-ignore no-control-regex
      /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/,
      `an active character reached the terminal: ${JSON.stringify(line)}`,
    );
  }
}

Deno.test("Terminal client: chat bodies with escape sequences, CR/LF, C1 and bidi controls print visibly, one line each", async () => {
  await withServer({}, async (server) => {
    const sender = await RawClient.connect(server.address.port);
    await withClient(server.address.port, async (client) => {
      await client.issuedId();
      for (const [body] of HOSTILE) await sender.send(Tag.CHAT, body);
      await sender.send(Tag.CHAT, "the end");
      await client.waitFor("stdout", /the end/);
      const chats = client.stdout.filter((l) => l.includes(`${sender.id} >>>`));
      assert.deepEqual(chats, [
        ...HOSTILE.map(([, shown]) => `${sender.id} >>> ${shown}`),
        `${sender.id} >>> the end`,
      ]);
      // The forged line is only ever part of the real one.
      assert.ok(!client.stdout.some((l) => l.startsWith("zed >>>")));
      assertInert(client);
      await client.type("/exit");
      assert.equal((await client.finish()).code, 0);
    });
    await sender.close();
  });
});

Deno.test("Terminal client: nicknames, room names, error and close reasons from the server print visibly", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let conn: Deno.Conn | null = null;
  const evilNick = "\x1b[2Jzed\u202E";
  const evilRoom = "room\x1b]0;t\x07\nfake";
  try {
    await withClient(port, async (client) => {
      const accepted = await deadline(listener.accept(), 10_000, "client");
      conn = accepted;
      const drain = (async () => {
        const buffer = new Uint8Array(4096);
        while (await accepted.read(buffer).catch(() => null) !== null);
      })();
      const send = (
        tag: number,
        sender: number,
        body: string | Parameters<typeof encodeJsonBody>[0],
      ) =>
        accepted.write(
          encodeFrame(
            tag,
            sender,
            typeof body === "string" ? body : encodeJsonBody(body),
          ),
        );
      await send(Tag.ISSUE_ID, 42, "");
      // The confirmation of the client's JOIN of the lobby, then a move.
      await send(Tag.PRESENCE, 42, {
        event: "join",
        room: "lobby",
        id: 42,
        nick: null,
      });
      await send(Tag.WHO, 0, "");
      await send(Tag.PRESENCE, 42, {
        event: "join",
        room: evilRoom,
        id: 42,
        nick: null,
      });
      await send(Tag.PRESENCE, 5, {
        event: "join",
        room: evilRoom,
        id: 5,
        nick: evilNick,
      });
      await send(Tag.CHAT, 5, "hi");
      await send(Tag.PRESENCE, 5, {
        event: "nick",
        room: evilRoom,
        id: 5,
        nick: "b\x1b[1m",
      });
      await send(Tag.ERROR, Tag.NICK, "reason\x1b[5m\nblink");
      await client.waitFor("stderr", /reason/);
      // The automatic WHO after the join is answered quietly; then /who and
      // /rooms print what they are told.
      await send(Tag.WHO, 0, "");
      await client.type("/who");
      await send(Tag.WHO, 0, { id: 5, nick: evilNick });
      await send(Tag.WHO, 0, "");
      await client.waitFor("stdout", /^\* In /);
      await client.type("/rooms");
      await send(Tag.ROOMS, 0, { room: evilRoom, members: 2 });
      await send(Tag.ROOMS, 0, "");
      await client.waitFor("stdout", /^\* Rooms/);
      await send(Tag.CLOSE, 42, "bye\x1b[8m\r\nnow");
      await client.finish();
      const out = client.stdout.join("\n");
      const err = client.stderr.join("\n");
      assert.match(out, /You are in room␛\]0;t␇␊fake/);
      assert.match(out, /␛\[2Jzed<U\+202E> joined room␛/);
      assert.match(out, /^␛\[2Jzed<U\+202E> >>> hi$/m);
      assert.match(out, /is now known as b␛\[1m/);
      assert.match(out, /In room␛\]0;t␇␊fake: ␛\[2Jzed<U\+202E> \(5\)/);
      assert.match(out, /Rooms: room␛\]0;t␇␊fake \(2\)/);
      assert.match(err, /reason␛\[5m␊blink/);
      assert.match(err, /bye␛\[8m␍␊now/);
      assertInert(client);
      conn.close();
      conn = null;
      await drain;
    }, ["--no-reconnect"]);
  } finally {
    (conn as Deno.Conn | null)?.close();
    listener.close();
  }
});
