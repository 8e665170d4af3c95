/**
 * The chat page's state (web/chat_state.ts), without a browser: frames in,
 * log entries, member lists and frames out.
 */

import assert from "node:assert/strict";
import { encodeFrame, FrameReader, Tag } from "../protocol/mod.ts";
import type { Frame } from "../protocol/mod.ts";
import { ChatState } from "../web/chat_state.ts";

const time = new Date(0);

function frame(
  tag: number,
  senderId: number,
  body: string | object = "",
): Frame {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const reader = new FrameReader();
  reader.push(encodeFrame(tag, senderId, text));
  return reader.next()!;
}

function decoded(bytes: Uint8Array): { tag: number; body: string } {
  const reader = new FrameReader();
  reader.push(bytes);
  const f = reader.next()!;
  return { tag: f.tag, body: new TextDecoder().decode(f.body) };
}

function presence(
  event: "join" | "leave" | "nick",
  id: number,
  nick: string | null,
  room = "lobby",
): Frame {
  return frame(Tag.PRESENCE, id, { event, room, id, nick });
}

/** A state greeted as `id` and confirmed in the lobby with members listed. */
function greeted(id: number, others: { id: number; nick: string | null }[]) {
  const state = new ChatState();
  state.onConnect();
  state.onFrame(frame(Tag.ISSUE_ID, id), time);
  const joined = state.onFrame(presence("join", id, null), time);
  assert.deepEqual(joined.send.map(decoded), [
    { tag: Tag.WHO, body: "" },
    { tag: Tag.ROOMS, body: "" },
  ]);
  assert.deepEqual(joined.log.map((e) => e.text), ["You are in lobby"]);
  for (const other of others) state.onFrame(frame(Tag.WHO, 0, other), time);
  state.onFrame(frame(Tag.WHO, 0, { id, nick: null }), time);
  state.onFrame(frame(Tag.WHO, 0), time);
  return state;
}

Deno.test("Web chat state: a message over 488 bytes of UTF-8 is refused with its size, 488 bytes is sent", () => {
  const state = new ChatState();
  const refused = state.composeChat("é".repeat(245)); // 490 bytes, 245 characters
  assert.deepEqual(refused, {
    problem:
      "Not sent: the message is 490 bytes of UTF-8 and the limit is 488.",
  });
  const sent = state.composeChat("é".repeat(244));
  assert.ok("frame" in sent);
  assert.deepEqual(decoded(sent.frame), {
    tag: Tag.CHAT,
    body: "é".repeat(244),
  });
  assert.ok("problem" in state.composeChat(""));
});

Deno.test("Web chat state: the member list comes from WHO and follows joins, leaves and renames", () => {
  const state = greeted(5, [{ id: 2, nick: "ann" }, { id: 3, nick: null }]);
  assert.deepEqual([...state.members].sort(), [[2, "ann"], [3, null], [
    5,
    null,
  ]]);
  const joined = state.onFrame(presence("join", 7, "zed"), time);
  assert.deepEqual(joined.log.map((e) => e.text), ["zed joined"]);
  const renamed = state.onFrame(presence("nick", 3, "cy"), time);
  assert.deepEqual(renamed.log.map((e) => e.text), ["#3 is now known as cy"]);
  const left = state.onFrame(presence("leave", 2, "ann"), time);
  assert.deepEqual(left.log.map((e) => e.text), ["ann left"]);
  assert.deepEqual([...state.members].sort(), [[3, "cy"], [5, null], [
    7,
    "zed",
  ]]);
});

Deno.test("Web chat state: chat shows the sender's nickname and the text with control characters visible", () => {
  const state = greeted(5, [{ id: 2, nick: "a\u202eb" }]);
  const update = state.onFrame(frame(Tag.CHAT, 2, "hi\x1b[2J\r\n<b>"), time);
  assert.deepEqual(update.log, [{
    kind: "chat",
    time,
    sender: "a<U+202E>b",
    own: false,
    text: "hi␛[2J␍␊<b>",
  }]);
  const own = state.onFrame(frame(Tag.CHAT, 5, "mine"), time);
  assert.equal(own.log[0].own, true);
  assert.equal(own.log[0].sender, "#5");
});

Deno.test("Web chat state: a reconnection asks for the nickname and room the server last confirmed, and the lobby on the way is not announced", () => {
  const state = greeted(5, []);
  state.onFrame(presence("nick", 5, "kim"), time);
  state.onFrame(presence("join", 5, "kim", "dev"), time);
  assert.equal(state.room, "dev");
  state.onDisconnect();
  assert.equal(state.id, 0);
  assert.equal(state.members.size, 0);
  assert.deepEqual(state.rooms, []);
  assert.deepEqual(state.onConnect().map(decoded), [
    { tag: Tag.NICK, body: "kim" },
    { tag: Tag.JOIN, body: "dev" },
  ]);
  state.onFrame(frame(Tag.ISSUE_ID, 9), time);
  const lobby = state.onFrame(presence("join", 9, "kim", "lobby"), time);
  assert.deepEqual(lobby.log, []);
  const dev = state.onFrame(presence("join", 9, "kim", "dev"), time);
  assert.deepEqual(dev.log.map((e) => e.text), ["You are in dev"]);
});

Deno.test("Web chat state: refusals name what was refused, PING gets PONG, malformed presence is ignored", () => {
  const state = greeted(5, []);
  const refused = state.onFrame(
    frame(Tag.ERROR, Tag.NICK, "nickname is taken"),
    time,
  );
  assert.deepEqual(refused.log.map((e) => [e.kind, e.text]), [
    ["problem", "Cannot set nickname: nickname is taken"],
  ]);
  const ping = state.onFrame(frame(Tag.PING, 0, "abc"), time);
  assert.deepEqual(ping.send.map(decoded), [{ tag: Tag.PONG, body: "abc" }]);
  assert.deepEqual(state.onFrame(frame(Tag.PRESENCE, 1, "{nope"), time), {
    log: [],
    send: [],
  });
  const closed = state.onFrame(frame(Tag.CLOSE, 0, "shutting down"), time);
  assert.equal(closed.closed, "shutting down");
});

Deno.test("Web chat state: the room list is the last ROOMS answer asked for, sizes and all", () => {
  const state = greeted(5, []);
  // The list asked for on the join.
  state.onFrame(frame(Tag.ROOMS, 0, { room: "lobby", members: 1 }), time);
  state.onFrame(frame(Tag.ROOMS, 0), time);
  assert.deepEqual(state.rooms, [{ room: "lobby", members: 1 }]);
  const again = decoded(state.requestRooms());
  assert.deepEqual(again, { tag: Tag.ROOMS, body: "" });
  state.onFrame(frame(Tag.ROOMS, 0, { room: "dev", members: 3 }), time);
  state.onFrame(frame(Tag.ROOMS, 0, { room: "lobby", members: 1 }), time);
  state.onFrame(frame(Tag.ROOMS, 0, { more: 4 }), time);
  state.onFrame(frame(Tag.ROOMS, 0), time);
  assert.deepEqual(state.rooms, [
    { room: "dev", members: 3 },
    { room: "lobby", members: 1 },
  ]);
  assert.equal(state.moreRooms, 4);
  // An answer nobody asked for changes nothing.
  state.onFrame(frame(Tag.ROOMS, 0, { room: "x", members: 9 }), time);
  state.onFrame(frame(Tag.ROOMS, 0), time);
  assert.equal(state.rooms.length, 2);
});

Deno.test("Web chat state: the revision rises with the member and room lists, not with messages", () => {
  const state = greeted(5, []);
  const before = state.revision;
  state.onFrame(frame(Tag.CHAT, 5, "hello"), time);
  state.onFrame(frame(Tag.PING, 0, "x"), time);
  state.onFrame(frame(Tag.WHO, 0, { id: 6, nick: null }), time); // unasked
  assert.equal(state.revision, before);
  state.onFrame(presence("join", 6, null), time);
  assert.ok(state.revision > before);
  state.onFrame(frame(Tag.ROOMS, 0), time); // the list asked for on the join
  const joined = state.revision;
  state.requestRooms();
  state.onFrame(frame(Tag.ROOMS, 0, { room: "lobby", members: 2 }), time);
  assert.equal(state.revision, joined);
  state.onFrame(frame(Tag.ROOMS, 0), time);
  assert.ok(state.revision > joined);
});
