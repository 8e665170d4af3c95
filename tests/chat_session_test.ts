/**
 * Unit tests of `ChatSession` (client/chat_session.ts), the terminal
 * client's I/O-free logic: typed lines to frames, frames to printed lines,
 * and what it remembers (id, room, nicknames, pending lists).
 */

import assert from "node:assert/strict";
import { ChatSession, COMMAND_HELP } from "../client/chat_session.ts";
import {
  encodeJsonBody,
  type Frame,
  FrameReader,
  MAX_BODY_SIZE,
  type Presence,
  Tag,
} from "../protocol/mod.ts";

const decoder = new TextDecoder();

/** Decode the frames a session asked to send. */
function sent(frames: Uint8Array[]): { tag: number; body: string }[] {
  const reader = new FrameReader();
  const out: { tag: number; body: string }[] = [];
  for (const bytes of frames) {
    reader.push(bytes);
    for (let f = reader.next(); f; f = reader.next()) {
      out.push({ tag: f.tag, body: decoder.decode(f.body) });
    }
  }
  return out;
}

function frame(tag: number, senderId: number, body: string | Uint8Array = "") {
  const bytes = typeof body === "string"
    ? new TextEncoder().encode(body)
    : body;
  return { tag, senderId, body: bytes } satisfies Frame;
}

function presence(value: Presence): Frame {
  return frame(Tag.PRESENCE, value.id, encodeJsonBody(value));
}

/** A session that has received its id (3) and its lobby confirmation. */
function connected(): ChatSession {
  const session = new ChatSession("127.0.0.1:9000");
  session.onFrame(frame(Tag.ISSUE_ID, 3));
  const out = session.onFrame(
    presence({ event: "join", room: "lobby", id: 3, nick: null }),
  );
  // The automatic WHO after a join; its reply is not printed.
  assert.deepEqual(sent(out.send), [{ tag: Tag.WHO, body: "" }]);
  session.onFrame(frame(Tag.WHO, 0, encodeJsonBody({ id: 3, nick: null })));
  assert.deepEqual(session.onFrame(frame(Tag.WHO, 0)).print, []);
  return session;
}

// --- Typed lines ----------------------------------------------------------------

Deno.test("ChatSession: a typed line becomes one CHAT frame with sender id 0", () => {
  const session = connected();
  const out = session.onLine("hello there");
  assert.equal(out.send.length, 1);
  assert.deepEqual(sent(out.send), [{ tag: Tag.CHAT, body: "hello there" }]);
  assert.equal(new DataView(out.send[0].buffer).getBigUint64(16), 0n);
  assert.deepEqual([out.print, out.warn, out.exit], [[], [], undefined]);
});

Deno.test("ChatSession: an empty line sends nothing; '//text' sends '/text'", () => {
  const session = connected();
  assert.deepEqual(session.onLine("").send, []);
  assert.deepEqual(sent(session.onLine("//join is not a command").send), [
    { tag: Tag.CHAT, body: "/join is not a command" },
  ]);
  assert.deepEqual(sent(session.onLine("//").send), [
    { tag: Tag.CHAT, body: "/" },
  ]);
});

Deno.test("ChatSession: a line over 488 bytes is refused with a warning; 488 bytes are sent", () => {
  const session = connected();
  const fits = "é".repeat(MAX_BODY_SIZE / 2);
  assert.equal(session.onLine(fits).send.length, 1);
  const out = session.onLine(fits + "x");
  assert.deepEqual(out.send, []);
  assert.deepEqual(out.warn, [
    "Message not sent: it is 489 bytes and the limit is 488",
  ]);
});

Deno.test("ChatSession: /join and /nick send JOIN and NICK with the trimmed argument", () => {
  const session = connected();
  assert.deepEqual(sent(session.onLine("/join  dev room ").send), [
    { tag: Tag.JOIN, body: "dev room" },
  ]);
  assert.deepEqual(sent(session.onLine("/nick alice").send), [
    { tag: Tag.NICK, body: "alice" },
  ]);
});

Deno.test("ChatSession: invalid /join and /nick arguments are refused locally with the reason", () => {
  const session = connected();
  const cases: [string, string][] = [
    ["/join", "Cannot join: room name is empty"],
    [
      "/join " + "r".repeat(65),
      "Cannot join: room name is longer than 64 bytes",
    ],
    ["/nick", "Cannot set nickname: nickname is empty"],
    ["/nick two words", "Cannot set nickname: nickname has whitespace"],
    ["/nick 1234", "Cannot set nickname: nickname is all digits"],
    [
      "/nick " + "n".repeat(33),
      "Cannot set nickname: nickname is longer than 32 bytes",
    ],
  ];
  for (const [line, warning] of cases) {
    const out = session.onLine(line);
    assert.deepEqual(out.send, [], line);
    assert.deepEqual(out.warn, [warning]);
  }
});

Deno.test("ChatSession: /who and /rooms send empty WHO and ROOMS requests", () => {
  const session = connected();
  assert.deepEqual(sent(session.onLine("/who").send), [
    { tag: Tag.WHO, body: "" },
  ]);
  assert.deepEqual(sent(session.onLine("/rooms").send), [
    { tag: Tag.ROOMS, body: "" },
  ]);
});

Deno.test("ChatSession: /help prints the commands; an unknown command is refused", () => {
  const session = connected();
  assert.deepEqual(session.onLine("/help").print, [COMMAND_HELP]);
  for (const name of ["/join", "/nick", "/who", "/rooms", "/exit"]) {
    assert.ok(COMMAND_HELP.includes(name), name);
  }
  const out = session.onLine("/dance now");
  assert.deepEqual(out.send, []);
  assert.deepEqual(out.warn, [
    "Unknown command /dance; /help lists the commands",
  ]);
});

Deno.test("ChatSession: /exit, /quit and end of input send CLOSE once", () => {
  for (const leave of ["/exit", "/quit"]) {
    const session = connected();
    assert.deepEqual(sent(session.onLine(leave).send), [
      { tag: Tag.CLOSE, body: "" },
    ]);
    assert.deepEqual(session.onLine(leave).send, []);
    assert.deepEqual(session.onEndOfInput().send, []);
  }
  const session = connected();
  assert.deepEqual(sent(session.onEndOfInput().send), [
    { tag: Tag.CLOSE, body: "" },
  ]);
});

// --- Frames from the server -----------------------------------------------------

Deno.test("ChatSession: ISSUE_ID sets the id and prints the greeting", () => {
  const session = new ChatSession("example:9000");
  const out = session.onFrame(frame(Tag.ISSUE_ID, 42));
  assert.equal(session.id, 42);
  assert.deepEqual(out.print, [
    "Connected to example:9000 as client 42. Type /help for commands.",
  ]);
});

Deno.test("ChatSession: chats print as '<id> >>> text', or '<nick> >>> text' once the nickname is known", () => {
  const session = connected();
  assert.deepEqual(session.onFrame(frame(Tag.CHAT, 7, "hi")).print, [
    "7 >>> hi",
  ]);
  session.onFrame(
    presence({ event: "nick", room: "lobby", id: 7, nick: "alice", old: null }),
  );
  assert.deepEqual(session.onFrame(frame(Tag.CHAT, 7, "hi again")).print, [
    "alice >>> hi again",
  ]);
  assert.deepEqual(session.onFrame(frame(Tag.CHAT, 3, "me")).print, [
    "3 >>> me",
  ]);
});

Deno.test("ChatSession: its own join sets the room and asks WHO quietly; the reply teaches nicknames", () => {
  const session = connected();
  const out = session.onFrame(
    presence({ event: "join", room: "dev", id: 3, nick: null }),
  );
  assert.equal(session.room, "dev");
  assert.deepEqual(out.print, ["* You are in dev"]);
  assert.deepEqual(sent(out.send), [{ tag: Tag.WHO, body: "" }]);
  for (const entry of [{ id: 3, nick: null }, { id: 8, nick: "bob" }]) {
    assert.deepEqual(
      session.onFrame(frame(Tag.WHO, 0, encodeJsonBody(entry))).print,
      [],
    );
  }
  assert.deepEqual(session.onFrame(frame(Tag.WHO, 0)).print, []);
  assert.deepEqual(session.onFrame(frame(Tag.CHAT, 8, "yo")).print, [
    "bob >>> yo",
  ]);
});

Deno.test("ChatSession: /who prints the member list when its reply ends", () => {
  const session = connected();
  session.onLine("/who");
  session.onFrame(frame(Tag.WHO, 0, encodeJsonBody({ id: 3, nick: null })));
  session.onFrame(frame(Tag.WHO, 0, encodeJsonBody({ id: 5, nick: "eve" })));
  session.onFrame(frame(Tag.WHO, 0, encodeJsonBody({ more: 2 })));
  assert.deepEqual(session.onFrame(frame(Tag.WHO, 0)).print, [
    "* In lobby: 3, eve (5), and 2 more",
  ]);
});

Deno.test("ChatSession: a /who typed while the automatic WHO is pending prints only its own reply", () => {
  const session = connected();
  session.onFrame(presence({ event: "join", room: "dev", id: 3, nick: null }));
  session.onLine("/who");
  // First reply: the automatic one.
  session.onFrame(frame(Tag.WHO, 0, encodeJsonBody({ id: 3, nick: null })));
  assert.deepEqual(session.onFrame(frame(Tag.WHO, 0)).print, []);
  // Second reply: the user's.
  session.onFrame(frame(Tag.WHO, 0, encodeJsonBody({ id: 3, nick: null })));
  assert.deepEqual(session.onFrame(frame(Tag.WHO, 0)).print, [
    "* In dev: 3",
  ]);
});

Deno.test("ChatSession: /rooms prints the rooms with their sizes", () => {
  const session = connected();
  session.onLine("/rooms");
  session.onFrame(
    frame(Tag.ROOMS, 0, encodeJsonBody({ room: "lobby", members: 4 })),
  );
  session.onFrame(
    frame(Tag.ROOMS, 0, encodeJsonBody({ room: "dev", members: 1 })),
  );
  assert.deepEqual(session.onFrame(frame(Tag.ROOMS, 0)).print, [
    "* Rooms: lobby (4), dev (1)",
  ]);
  session.onLine("/rooms");
  assert.deepEqual(session.onFrame(frame(Tag.ROOMS, 0)).print, [
    "* Rooms: nobody",
  ]);
});

Deno.test("ChatSession: others' join, leave and renames print with their names", () => {
  const session = connected();
  const show = (p: Presence) => session.onFrame(presence(p)).print;
  assert.deepEqual(
    show({ event: "join", room: "lobby", id: 9, nick: "zoe" }),
    ["* zoe joined lobby"],
  );
  assert.deepEqual(
    show({ event: "nick", room: "lobby", id: 9, nick: "zed", old: "zoe" }),
    ["* zoe is now known as zed"],
  );
  assert.deepEqual(
    show({ event: "join", room: "lobby", id: 10, nick: null }),
    ["* 10 joined lobby"],
  );
  assert.deepEqual(
    show({ event: "nick", room: "lobby", id: 10, nick: "ten", old: null }),
    ["* 10 is now known as ten"],
  );
  assert.deepEqual(
    show({ event: "leave", room: "lobby", id: 9, nick: "zed" }),
    ["* zed left lobby"],
  );
  assert.deepEqual(
    show({ event: "nick", room: "lobby", id: 3, nick: "me", old: null }),
    ["* You are now known as me"],
  );
  assert.equal(session.nameOf(3), "me");
});

Deno.test("ChatSession: ERROR frames are explained by the refused tag", () => {
  const session = connected();
  const warn = (tag: number, reason: string) =>
    session.onFrame(frame(Tag.ERROR, tag, reason)).warn;
  assert.deepEqual(warn(Tag.JOIN, "room name is empty"), [
    "Cannot join: room name is empty",
  ]);
  assert.deepEqual(warn(Tag.NICK, "nickname is taken"), [
    "Cannot set nickname: nickname is taken",
  ]);
  assert.deepEqual(warn(Tag.CHAT, "rate limit exceeded"), [
    "Server: rate limit exceeded",
  ]);
  assert.deepEqual(warn(0, "slow consumer"), ["Server error: slow consumer"]);
});

Deno.test("ChatSession: the server's CLOSE ends the session with status 0 and its reason", () => {
  const session = connected();
  const out = session.onFrame(frame(Tag.CLOSE, 3, "server shutting down"));
  assert.equal(out.exit, 0);
  assert.deepEqual(out.warn, [
    "Server closed the connection: server shutting down",
  ]);
  // After /exit the CLOSE is the expected answer: no warning.
  const leaving = connected();
  leaving.onLine("/exit");
  const answer = leaving.onFrame(frame(Tag.CLOSE, 3));
  assert.equal(answer.exit, 0);
  assert.deepEqual(answer.warn, []);
});

Deno.test("ChatSession: PING is answered with PONG carrying the same body", () => {
  const session = connected();
  const out = session.onFrame(frame(Tag.PING, 0, "are you there"));
  assert.deepEqual(sent(out.send), [{ tag: Tag.PONG, body: "are you there" }]);
  assert.deepEqual([out.print, out.warn], [[], []]);
});

Deno.test("ChatSession: unknown tags and malformed JSON bodies are ignored", () => {
  const session = connected();
  for (
    const f of [
      frame(99, 0, "future"),
      frame(Tag.PONG, 0, "x"),
      frame(Tag.PRESENCE, 5, "{not json"),
      frame(Tag.PRESENCE, 5, ""),
      frame(Tag.WHO, 0, "[broken"),
      frame(Tag.PRESENCE, 3, '{"event":"join","room":7,"id":3,"nick":null}'),
      frame(Tag.WHO, 0, "5"),
      frame(Tag.PRESENCE, 3, '"text"'),
    ]
  ) {
    const out = session.onFrame(f);
    assert.deepEqual([out.print, out.warn, out.send, out.exit], [
      [],
      [],
      [],
      undefined,
    ]);
  }
  // Still works afterwards.
  assert.deepEqual(session.onFrame(frame(Tag.CHAT, 5, "ok")).print, [
    "5 >>> ok",
  ]);
});

Deno.test("ChatSession: chat bodies, nicknames, room names and reasons print inert, one line each", () => {
  const session = connected();
  const evil = "\x1b[2J\u202Ex";
  session.onFrame(
    presence({ event: "join", room: `r${evil}`, id: 9, nick: `n${evil}` }),
  );
  const chat = session.onFrame(frame(Tag.CHAT, 9, `a\nb${evil}`));
  assert.deepEqual(chat.print, ["n␛[2J<U+202E>x >>> a␊b␛[2J<U+202E>x"]);
  const error = session.onFrame(frame(Tag.ERROR, Tag.JOIN, `bad\r${evil}`));
  assert.deepEqual(error.warn, ["Cannot join: bad␍␛[2J<U+202E>x"]);
  const close = session.onFrame(frame(Tag.CLOSE, 3, `bye${evil}`));
  assert.match(close.warn[0], /bye␛\[2J<U\+202E>x$/);
});

// --- Reconnection -----------------------------------------------------------

Deno.test("ChatSession: on connect it JOINs the lobby, which marks it a hubbub client; the repeat confirmation is quiet", () => {
  const session = new ChatSession("127.0.0.1:9000");
  assert.deepEqual(sent(session.onConnect().send), [
    { tag: Tag.JOIN, body: "lobby" },
  ]);
  session.onFrame(frame(Tag.ISSUE_ID, 3));
  const first = session.onFrame(
    presence({ event: "join", room: "lobby", id: 3, nick: null }),
  );
  assert.deepEqual(first.print, ["* You are in lobby"]);
  // A server that also announced the lobby on connect confirms it again.
  const again = session.onFrame(
    presence({ event: "join", room: "lobby", id: 3, nick: null }),
  );
  assert.deepEqual([again.print, again.send], [[], []]);
});

Deno.test("ChatSession: after a reconnection it asks for its nickname and room back, and says so once", () => {
  const session = connected();
  session.onFrame(
    presence({ event: "nick", room: "lobby", id: 3, nick: "al" }),
  );
  session.onLine("/join den");
  session.onFrame(presence({ event: "join", room: "den", id: 3, nick: "al" }));
  session.onFrame(presence({ event: "join", room: "den", id: 8, nick: "bo" }));
  session.onDisconnect();
  assert.equal(session.id, 0);
  assert.equal(session.room, null);
  assert.equal(session.nameOf(8), "8", "names of the old connection forgotten");
  assert.deepEqual(sent(session.onConnect().send), [
    { tag: Tag.NICK, body: "al" },
    { tag: Tag.JOIN, body: "den" },
  ]);
  const hello = session.onFrame(frame(Tag.ISSUE_ID, 11));
  assert.match(
    hello.print[0],
    /^Reconnected to 127\.0\.0\.1:9000 as client 11/,
  );
  // The lobby announcement of a fresh connection is not shown...
  const lobby = session.onFrame(
    presence({ event: "join", room: "lobby", id: 11, nick: null }),
  );
  assert.deepEqual(lobby.print, []);
  // ...the room it asked for is.
  const den = session.onFrame(
    presence({ event: "join", room: "den", id: 11, nick: "al" }),
  );
  assert.deepEqual(den.print, ["* You are in den"]);
  assert.deepEqual(sent(den.send), [{ tag: Tag.WHO, body: "" }]);
});

Deno.test("ChatSession: an ERROR before ISSUE_ID is kept as the refusal, not printed", () => {
  const session = new ChatSession("127.0.0.1:9000");
  session.onConnect();
  const out = session.onFrame(frame(Tag.ERROR, 0, "authentication failed"));
  assert.deepEqual(out.warn, []);
  assert.equal(session.refusal, "authentication failed");
  assert.equal(session.greetings, 0);
});

Deno.test("ChatSession: a CLOSE the user did not ask for is marked closedByServer", () => {
  const session = connected();
  const out = session.onFrame(frame(Tag.CLOSE, 3, "server shutting down"));
  assert.equal(out.closedByServer, true);
  const leaving = connected();
  leaving.onLine("/exit");
  assert.equal(leaving.onFrame(frame(Tag.CLOSE, 3)).closedByServer, false);
});
