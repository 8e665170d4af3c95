/**
 * The clients' side of history without sockets: the HistoryTracker's
 * requests after each join confirmation (first join, reconnection gap,
 * repeat confirmation, room change, servers without history), its pairing
 * of HISTORY and HISTORY_TEXT frames, and the terminal session's lines and
 * `/history N`.
 */

import assert from "node:assert/strict";
import {
  encodeHistoryEnd,
  encodeHistoryEntry,
  encodeJsonBody,
  type Frame,
  type HistoryEnd,
  Tag,
} from "../protocol/mod.ts";
import {
  HISTORY_ON_JOIN,
  historyEndNotice,
  HistoryTracker,
} from "../client/history_tracker.ts";
import { ChatSession } from "../client/chat_session.ts";
import { ChatState } from "../web/chat_state.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function frame(
  tag: number,
  senderId: number,
  body: Uint8Array | string,
): Frame {
  return {
    tag,
    senderId,
    body: typeof body === "string" ? encoder.encode(body) : body,
  };
}

/** A HISTORY frame from `sender`: the metadata of message `id` in the lobby. */
function entryFrame(
  id: number,
  sender: number,
  nick: string | null,
  time: number,
): Frame {
  return frame(
    Tag.HISTORY,
    sender,
    encodeHistoryEntry({ room: "lobby", id, sender, nick, time }),
  );
}

function end(fields: Partial<HistoryEnd> = {}): HistoryEnd {
  return {
    room: "lobby",
    count: 0,
    first: null,
    last: null,
    complete: true,
    missing: 0,
    more: false,
    ...fields,
  };
}

Deno.test("History tracker: a first join asks for the last 20 up to the join's last_id", () => {
  const history = new HistoryTracker();
  assert.equal(HISTORY_ON_JOIN, 20);
  assert.deepEqual(history.onOwnJoin("lobby", 41), { last: 20, until: 41 });
  assert.equal(history.lastSeen, 41);
});

Deno.test("History tracker: an empty room, or a server without last_id, is asked nothing", () => {
  const history = new HistoryTracker();
  assert.equal(history.onOwnJoin("lobby", 0), null);
  assert.equal(history.onOwnJoin("den", undefined), null);
  assert.equal(history.lastSeen, null);
  history.onChat();
  assert.equal(history.lastSeen, null);
  assert.equal(history.onOwnJoin("dev", "12"), null);
  assert.equal(history.onOwnJoin("dev2", -1), null);
});

Deno.test("History tracker: after a reconnection into the same room it asks exactly the gap", () => {
  const history = new HistoryTracker();
  history.onOwnJoin("lobby", 41);
  history.onChat();
  history.onChat();
  assert.equal(history.lastSeen, 43);
  history.onDisconnect();
  // CHATs between connections (none should come) are not counted.
  history.onChat();
  assert.deepEqual(history.onOwnJoin("lobby", 50), { after: 43, until: 50 });
  assert.equal(history.lastSeen, 50);
  history.onDisconnect();
  // Nothing said while away: nothing to ask.
  assert.equal(history.onOwnJoin("lobby", 50), null);
  history.onDisconnect();
  // The server's ids went back (its history was lost): ask as on a first join.
  assert.deepEqual(history.onOwnJoin("lobby", 7), { last: 20, until: 7 });
});

Deno.test("History tracker: a repeat confirmation asks nothing; another room asks its last 20", () => {
  const history = new HistoryTracker();
  history.onOwnJoin("lobby", 41);
  history.onChat();
  assert.equal(history.onOwnJoin("lobby", 42), null);
  assert.equal(history.lastSeen, 42);
  assert.deepEqual(history.onOwnJoin("den", 3), { last: 20, until: 3 });
  history.onDisconnect();
  assert.deepEqual(history.onOwnJoin("den", 5), { after: 3, until: 5 });
});

Deno.test("History tracker: /history N asks the last N up to the last seen id", () => {
  const history = new HistoryTracker();
  assert.deepEqual(history.manual(5), { last: 5 });
  history.onOwnJoin("lobby", 9);
  history.onChat();
  assert.deepEqual(history.manual(5), { last: 5, until: 10 });
});

Deno.test("History tracker: `history is off` is shown once and stops the asking", () => {
  const history = new HistoryTracker();
  assert.equal(history.onRefusal("history is off"), true);
  assert.equal(history.onRefusal("history is off"), false);
  assert.equal(history.onRefusal('history "last" is negative'), true);
  assert.equal(history.off, true);
  assert.equal(history.onOwnJoin("lobby", 41), null);
});

Deno.test("History tracker: a HISTORY_TEXT pairs only with the metadata just before it from the same sender", () => {
  const history = new HistoryTracker();
  const meta = entryFrame(4, 3, null, 0);
  assert.equal(history.onText(frame(Tag.HISTORY_TEXT, 3, "orphan")), null);
  history.onEntry(meta);
  assert.equal(history.onText(frame(Tag.HISTORY_TEXT, 9, "wrong")), null);
  history.onEntry(meta);
  const message = history.onText(frame(Tag.HISTORY_TEXT, 3, "right"));
  assert.equal(message?.entry.id, 4);
  assert.equal(decoder.decode(message?.body), "right");
  history.onEntry(frame(Tag.HISTORY, 3, "not json"));
  assert.equal(history.onText(frame(Tag.HISTORY_TEXT, 3, "x")), null);
  assert.equal(history.onEnd(frame(Tag.HISTORY_END, 0, "{}")), null);
});

Deno.test("History tracker: the end notice says what was pruned and whether there is more", () => {
  assert.equal(historyEndNotice(end()), null);
  assert.equal(
    historyEndNotice(end({ complete: false, missing: 1 })),
    "1 earlier message was pruned",
  );
  assert.equal(
    historyEndNotice(end({ complete: false, missing: 18, more: true })),
    "18 earlier messages were pruned; more available: /history",
  );
  assert.equal(
    historyEndNotice(end({ more: true }), "more available"),
    "more available",
  );
});

function joinFrame(id: number, room: string, lastId: number): Frame {
  return frame(
    Tag.PRESENCE,
    id,
    encodeJsonBody({ event: "join", room, id, nick: null, last_id: lastId }),
  );
}

function bodies(frames: Uint8Array[], tag: number): string[] {
  return frames.filter((f) => f[15] === tag).map((f) =>
    decoder.decode(f.subarray(24))
  );
}

Deno.test("Terminal session: history on join, earlier lines made inert, /history N and the end notice", () => {
  const session = new ChatSession("127.0.0.1:9000");
  session.onConnect();
  session.onFrame(frame(Tag.ISSUE_ID, 7, ""));
  const joined = session.onFrame(joinFrame(7, "lobby", 41));
  assert.deepEqual(bodies(joined.send, Tag.HISTORY), [
    '{"last":20,"until":41}',
  ]);
  session.onFrame(
    entryFrame(41, 3, "ann\x1b]0;x", Date.UTC(2026, 0, 2, 3, 4)),
  );
  const shown = session.onFrame(frame(Tag.HISTORY_TEXT, 3, "hi\x1b[2J"));
  assert.equal(shown.print.length, 1);
  assert.match(
    shown.print[0],
    /^earlier \d{4}-\d\d-\d\d \d\d:\d\d ann␛\]0;x >>> hi␛\[2J$/,
  );
  const ended = session.onFrame(
    frame(
      Tag.HISTORY_END,
      0,
      encodeHistoryEnd(end({ count: 1, first: 41, last: 41, missing: 19 })),
    ),
  );
  assert.deepEqual(ended.print, ["* earlier: 19 earlier messages were pruned"]);
  session.onFrame(frame(Tag.CHAT, 7, "live"));
  assert.deepEqual(bodies(session.onLine("/history 5").send, Tag.HISTORY), [
    '{"last":5,"until":42}',
  ]);
  assert.equal(session.onLine("/history zero").warn.length, 1);
  const off = session.onFrame(frame(Tag.ERROR, Tag.HISTORY, "history is off"));
  assert.deepEqual(off.warn, ["Server: history is off"]);
  assert.deepEqual(
    session.onFrame(frame(Tag.ERROR, Tag.HISTORY, "history is off")).warn,
    [],
  );
});

Deno.test("Page state: asks history on join, logs it as earlier chat with the server's time, fills the gap after a reconnection", () => {
  const state = new ChatState();
  state.onConnect();
  state.onFrame(frame(Tag.ISSUE_ID, 7, ""), new Date());
  const joined = state.onFrame(joinFrame(7, "lobby", 41), new Date());
  assert.deepEqual(bodies(joined.send, Tag.HISTORY), [
    '{"last":20,"until":41}',
  ]);
  const time = Date.UTC(2026, 0, 2, 3, 4);
  state.onFrame(entryFrame(41, 3, null, time), new Date());
  const shown = state.onFrame(
    frame(Tag.HISTORY_TEXT, 3, "<b>hi</b>\x1b[2J"),
    new Date(),
  );
  assert.deepEqual(shown.log, [{
    kind: "chat",
    time: new Date(time),
    sender: "#3",
    text: "<b>hi</b>␛[2J",
    earlier: true,
  }]);
  const ended = state.onFrame(
    frame(
      Tag.HISTORY_END,
      0,
      encodeHistoryEnd(end({ count: 1, first: 41, last: 41, more: true })),
    ),
    new Date(),
  );
  assert.deepEqual(ended.log.map((e) => e.text), ["Earlier: more available"]);
  state.onFrame(frame(Tag.CHAT, 3, "live"), new Date());
  state.onDisconnect();
  state.onConnect();
  state.onFrame(frame(Tag.ISSUE_ID, 8, ""), new Date());
  const back = state.onFrame(joinFrame(8, "lobby", 45), new Date());
  assert.deepEqual(bodies(back.send, Tag.HISTORY), [
    '{"after":42,"until":45}',
  ]);
  const off = frame(Tag.ERROR, Tag.HISTORY, "history is off");
  assert.deepEqual(state.onFrame(off, new Date()).log.map((e) => e.text), [
    "History: history is off",
  ]);
  assert.deepEqual(state.onFrame(off, new Date()).log, []);
});
