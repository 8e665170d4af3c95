/**
 * Rooms over real sockets: the lobby, JOIN, room-scoped CHAT, join/leave
 * PRESENCE, ROOMS and WHO, the presence size cap, and old clients that only
 * know tags 0–2 chatting in the lobby beside new ones.
 */

import assert from "node:assert/strict";
import {
  encodeFrame,
  LOBBY,
  type MemberEntry,
  type RoomEntry,
  Tag,
} from "../protocol/mod.ts";
import {
  barrier,
  closeAll,
  join,
  nextError,
  nextPresence,
  nick,
  ofTag,
  presences,
  RawClient,
  requestList,
  roomSizes,
  takeUntil,
  text,
  waitForLog,
  whoIsHere,
  withClients,
} from "./_kit.ts";
import { withServer } from "./_server.ts";

Deno.test("Hub: a new client is in the lobby and hears its own join as confirmation, after ISSUE_ID, once it has sent a hubbub frame", async () => {
  await withServer({}, async (server) => {
    const a = await RawClient.connect(server.address.port, {
      handshake: false,
    });
    // Any tag above CLOSE makes it a hubbub client (see original_client_test).
    await a.send(Tag.PONG);
    const issued = await a.next();
    assert.equal(issued.tag, Tag.ISSUE_ID);
    const confirmation = await a.next();
    assert.equal(confirmation.tag, Tag.PRESENCE);
    assert.equal(confirmation.senderId, issued.senderId);
    assert.deepEqual(JSON.parse(text(confirmation)), {
      event: "join",
      room: LOBBY,
      id: issued.senderId,
      nick: null,
    });
    await a.close();
  });
});

Deno.test("Hub: members of the lobby hear a newcomer's join", async () => {
  await withClients({}, 2, async ([a, b]) => {
    const seen = await nextPresence(a);
    // a's own join came first; skip it if still queued.
    const newcomer = seen.id === a.id ? await nextPresence(a) : seen;
    assert.deepEqual(newcomer, {
      event: "join",
      room: LOBBY,
      id: b.id,
      nick: null,
    });
  });
});

Deno.test("Hub: a message in room A never reaches room B or the lobby", async () => {
  await withClients({}, 4, async ([a1, a2, b1, lobby]) => {
    await join(a1, "A");
    await join(a2, "A");
    await join(b1, "B");
    await a1.send(Tag.CHAT, "for A only");
    for (const member of [a1, a2]) {
      const frame = await member.next(Tag.CHAT);
      assert.equal(text(frame), "for A only");
      assert.equal(frame.senderId, a1.id);
    }
    // The hub has handled a1's CHAT; anything for b1 or the lobby is queued
    // before the PONG of a later PING.
    for (const outsider of [b1, lobby]) {
      assert.deepEqual(ofTag(await barrier(outsider), Tag.CHAT), []);
    }
    // And B's chat reaches B only.
    await b1.send(Tag.CHAT, "for B only");
    assert.equal(text(await b1.next(Tag.CHAT)), "for B only");
    for (const outsider of [a1, a2, lobby]) {
      assert.deepEqual(ofTag(await barrier(outsider), Tag.CHAT), []);
    }
  });
});

Deno.test("Hub: JOIN announces leave to the old room and join to the new one, the joiner included", async () => {
  await withClients({}, 3, async ([mover, stayer, waiting]) => {
    await join(waiting, "kitchen");
    await barrier(stayer); // drop the lobby joins seen so far
    await barrier(mover);

    await mover.send(Tag.JOIN, "kitchen");
    // The mover: exactly one PRESENCE, its own join to kitchen.
    const moverFrames = await takeUntil(mover, (f) => f.tag === Tag.PRESENCE);
    assert.deepEqual(presences(moverFrames), [
      { event: "join", room: "kitchen", id: mover.id, nick: null },
    ]);
    // The lobby: one leave.
    assert.deepEqual(await nextPresence(stayer), {
      event: "leave",
      room: LOBBY,
      id: mover.id,
      nick: null,
    });
    // The kitchen: one join.
    assert.deepEqual(await nextPresence(waiting), {
      event: "join",
      room: "kitchen",
      id: mover.id,
      nick: null,
    });
    // Nobody got a second copy.
    for (const client of [mover, stayer, waiting]) {
      assert.deepEqual(presences(await barrier(client)), []);
    }
  });
});

Deno.test("Hub: JOIN of the room the client is in confirms to it alone and changes nothing", async () => {
  await withClients({}, 2, async ([a, b]) => {
    await join(a, "den");
    await join(b, "den");
    await barrier(a);
    await a.send(Tag.JOIN, "den");
    assert.deepEqual(await nextPresence(a), {
      event: "join",
      room: "den",
      id: a.id,
      nick: null,
    });
    assert.deepEqual(presences(await barrier(b)), []);
    assert.deepEqual(await roomSizes(a), { den: 2, [LOBBY]: 0 });
  });
});

Deno.test("Hub: an invalid room name gets ERROR with the reason (sender id = JOIN) and the client stays put", async () => {
  await withClients({}, 2, async ([a, b]) => {
    const cases: [string | Uint8Array, RegExp][] = [
      ["", /empty/],
      ["x".repeat(65), /longer than 64 bytes/],
      ["é".repeat(32) + "x", /longer than 64 bytes/], // 65 bytes, 33 chars
      ["bell\u0007", /control/],
      ["tab\there", /control/],
      ["del\u007f", /control/],
      ["c1\u0085", /control/],
      [new Uint8Array([0x72, 0xff, 0xfe]), /UTF-8/],
    ];
    await barrier(b);
    for (const [name, reason] of cases) {
      await a.send(Tag.JOIN, name);
      const error = await nextError(a);
      assert.equal(error.tag, Tag.JOIN);
      assert.match(error.reason, reason);
    }
    // Still in the lobby: b's lobby chat reaches a, no presence was sent.
    await b.send(Tag.CHAT, "still here?");
    assert.equal(text(await a.next(Tag.CHAT)), "still here?");
    assert.deepEqual(presences(await barrier(b)), []);
    assert.deepEqual(await roomSizes(a), { [LOBBY]: 2 });
    assert.ok(!a.ended);
  });
});

Deno.test("Hub: room names of 64 bytes (multi-byte UTF-8), with spaces and any case are accepted as given", async () => {
  await withClients({}, 3, async ([a, b, c]) => {
    const long = "é".repeat(32); // 64 bytes
    await join(a, long);
    await join(b, "Room With Spaces");
    await join(c, "room with spaces"); // names are case-sensitive
    const sizes = await roomSizes(a);
    assert.deepEqual(sizes, {
      [long]: 1,
      "Room With Spaces": 1,
      "room with spaces": 1,
      [LOBBY]: 0,
    });
  });
});

Deno.test("Hub: ROOMS lists every room with its member count (largest first), then an empty frame", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const clients = await Promise.all(
      Array.from({ length: 6 }, () => RawClient.connect(port)),
    );
    await join(clients[0], "big");
    await join(clients[1], "big");
    await join(clients[2], "big");
    await join(clients[3], "small");
    const { entries, other } = await requestList<RoomEntry>(
      clients[5],
      Tag.ROOMS,
    );
    assert.deepEqual(entries, [
      { room: "big", members: 3 },
      { room: LOBBY, members: 2 },
      { room: "small", members: 1 },
    ]);
    assert.deepEqual(ofTag(other, Tag.ERROR), []);
    await closeAll(...clients);
  });
});

Deno.test("Hub: an emptied room disappears from ROOMS; the empty lobby stays", async () => {
  await withClients({}, 2, async ([a, b], server, logs) => {
    await join(a, "temp");
    await join(b, "other");
    assert.deepEqual(await roomSizes(a), { temp: 1, other: 1, [LOBBY]: 0 });
    await join(a, "other"); // temp is left empty
    assert.deepEqual(await roomSizes(a), { other: 2, [LOBBY]: 0 });
    await b.close(); // leaves by disconnecting
    await waitForLog(logs, new RegExp(`Client disconnected id=${b.id}\\b`));
    assert.deepEqual(await roomSizes(a), { other: 1, [LOBBY]: 0 });
    assert.equal(server.hub.gauges.roomCount, 2);
  });
});

Deno.test("Hub: WHO lists the members of the client's room only, then an empty frame", async () => {
  await withClients({}, 3, async ([a, b, c]) => {
    await join(a, "attic");
    await join(b, "attic");
    const attic = await whoIsHere(a);
    assert.deepEqual(attic, [
      { id: a.id, nick: null },
      { id: b.id, nick: null },
    ]);
    const lobby = await requestList<MemberEntry>(c, Tag.WHO);
    assert.deepEqual(lobby.entries, [{ id: c.id, nick: null }]);
  });
});

Deno.test("Hub: a client that disconnects is announced to its room with a leave", async () => {
  await withClients({}, 2, async ([a, b]) => {
    await join(a, "porch");
    await join(b, "porch");
    await barrier(a);
    await b.close();
    assert.deepEqual(await nextPresence(a), {
      event: "leave",
      room: "porch",
      id: b.id,
      nick: null,
    });
    assert.deepEqual(presences(await barrier(a)), []);
    assert.deepEqual(await whoIsHere(a), [{ id: a.id, nick: null }]);
  });
});

Deno.test("Hub: a client leaving with CLOSE is announced once, and nothing it sent after CLOSE is relayed", async () => {
  await withClients({}, 2, async ([a, b]) => {
    await barrier(a);
    await b.write(
      new Uint8Array([
        ...encodeFrame(Tag.CHAT, 0, "before"),
        ...encodeFrame(Tag.CLOSE, 0),
        ...encodeFrame(Tag.CHAT, 0, "after"),
        ...encodeFrame(Tag.JOIN, 0, "elsewhere"),
      ]),
    );
    await b.waitForEnd();
    const frames = await barrier(a);
    assert.deepEqual(
      frames.map((f) =>
        f.tag === Tag.PRESENCE ? JSON.parse(text(f)).event : text(f)
      ),
      ["before", "leave"],
    );
    assert.deepEqual(await roomSizes(a), { [LOBBY]: 1 });
  });
});

Deno.test("Hub: presence is announced only in rooms of at most presenceMaxMembers; the joiner is always confirmed", async () => {
  await withClients({ presenceMaxMembers: 2 }, 3, async ([a, b, c]) => {
    await join(a, "hall");
    await join(b, "hall"); // 2 members: announced
    assert.deepEqual(await nextPresence(a), {
      event: "join",
      room: "hall",
      id: b.id,
      nick: null,
    });
    await join(c, "hall"); // 3 members: only c hears its join
    for (const member of [a, b]) {
      assert.deepEqual(presences(await barrier(member)), []);
    }
  });
});

Deno.test("Hub: with presenceMaxMembers 0 nobody hears others' presence, yet JOIN is still confirmed", async () => {
  await withClients({ presenceMaxMembers: 0 }, 2, async ([a, b]) => {
    await join(b, "quiet");
    await join(a, "quiet");
    await b.send(Tag.NICK, "bob");
    assert.equal((await nextPresence(b)).event, "nick");
    await b.close();
    assert.deepEqual(presences(await barrier(a)), []);
  });
});

Deno.test("Hub: an old client that only knows tags 0-2 chats in the lobby beside new clients and never has to answer", async () => {
  await withClients({}, 3, async ([old, modern, elsewhere]) => {
    // The old client sends CHAT with sender id 0 and nothing else.
    await join(elsewhere, "annex");
    await nick(modern, "modern");

    await old.send(Tag.CHAT, "hello from the past", 0);
    const fromOld = await modern.next(Tag.CHAT);
    assert.equal(text(fromOld), "hello from the past");
    assert.equal(fromOld.senderId, old.id);

    await elsewhere.send(Tag.CHAT, "not for the lobby");
    await elsewhere.next(Tag.CHAT);
    await modern.send(Tag.CHAT, "hello from now");
    const frames = await takeUntil(
      old,
      (f) => f.tag === Tag.CHAT && text(f) === "hello from now",
    );
    assert.deepEqual(
      ofTag(frames, Tag.CHAT).map((f) => [f.senderId, text(f)]),
      [[old.id, "hello from the past"], [modern.id, "hello from now"]],
    );
    // Besides chats it only got PRESENCE frames, which it may ignore; never
    // a PING or anything else it would have to answer.
    assert.deepEqual(
      [...new Set(frames.map((f) => f.tag))].sort(),
      [Tag.CHAT, Tag.PRESENCE],
    );
    assert.ok(!old.ended);
  });
});

Deno.test("Hub: frames of one write are handled in order: a CHAT before a JOIN goes to the old room, one after it to the new room", async () => {
  await withClients({}, 3, async ([a, lobby, den]) => {
    await join(den, "den");
    await barrier(lobby);
    await barrier(den);
    await a.write(
      new Uint8Array([
        ...encodeFrame(Tag.CHAT, 0, "before"),
        ...encodeFrame(Tag.JOIN, 0, "den"),
        ...encodeFrame(Tag.CHAT, 0, "after"),
        ...encodeFrame(Tag.NICK, 0, "ann"),
        ...encodeFrame(Tag.CHAT, 0, "named"),
      ]),
    );
    const inDen = await takeUntil(
      den,
      (f) => f.tag === Tag.CHAT && text(f) === "named",
    );
    assert.deepEqual(
      inDen.map((f) => f.tag === Tag.CHAT ? text(f) : JSON.parse(text(f))),
      [
        { event: "join", room: "den", id: a.id, nick: null },
        "after",
        { event: "nick", room: "den", id: a.id, nick: "ann", old: null },
        "named",
      ],
    );
    const inLobby = await barrier(lobby);
    assert.deepEqual(
      inLobby.map((f) => f.tag === Tag.CHAT ? text(f) : JSON.parse(text(f))),
      ["before", { event: "leave", room: LOBBY, id: a.id, nick: null }],
    );
  });
});

Deno.test("Hub: around presenceMaxMembers, members never hear a leave for a join they were not told of", async () => {
  await withClients({ presenceMaxMembers: 2 }, 3, async ([a, b, c]) => {
    await join(a, "hall");
    await join(b, "hall");
    await barrier(a);
    await join(c, "hall"); // the third member: not announced
    await join(c, "elsewhere"); // and it leaves again
    const heard = presences(await barrier(a));
    const joins = heard.filter((p) => p.event === "join").map((p) => p.id);
    const leaves = heard.filter((p) => p.event === "leave").map((p) => p.id);
    for (const id of leaves) {
      assert.ok(
        joins.includes(id),
        `a heard client ${id} leave, never having heard it join: ${
          JSON.stringify(heard)
        }`,
      );
    }
  });
});

Deno.test("Hub: WHO and ROOMS list at most 1000 entries, then {more: N}, then the empty frame", async () => {
  // 1003 connections from one address at once: over the default connect burst.
  const options = { presenceMaxMembers: 0, maxAddressConnectsPerSecond: 0 };
  await withClients(options, 1003, async (clients) => {
    const who = await requestList<MemberEntry | { more: number }>(
      clients[0],
      Tag.WHO,
    );
    assert.equal(who.entries.length, 1001);
    assert.deepEqual(who.entries[1000], { more: 3 });
    const ids = new Set(
      who.entries.slice(0, 1000).map((e) => (e as MemberEntry).id),
    );
    assert.equal(ids.size, 1000);
    // Every client in a room of its own: 1003 rooms and the empty lobby.
    await Promise.all(clients.map((client, i) => join(client, `r${i}`)));
    const rooms = await requestList<RoomEntry | { more: number }>(
      clients[0],
      Tag.ROOMS,
    );
    assert.equal(rooms.entries.length, 1001);
    assert.deepEqual(rooms.entries[1000], { more: 4 });
  });
});

Deno.test("Hub: room names with line separators or invisible, bidi-control or format characters get ERROR", async () => {
  await withClients({}, 1, async ([a]) => {
    for (
      const name of [
        "a\u2028b", // line separator
        "a\u2029b", // paragraph separator
        "lobby\u200b", // zero width space
        "lob\u00adby", // soft hyphen
        "\u202elobby", // right-to-left override
        "lobby\u2060", // word joiner
      ]
    ) {
      await a.send(Tag.JOIN, name);
      const error = await nextError(a);
      assert.equal(error.tag, Tag.JOIN, `for ${JSON.stringify(name)}`);
      assert.match(error.reason, /invisible/, `for ${JSON.stringify(name)}`);
    }
    assert.deepEqual(await roomSizes(a), { [LOBBY]: 1 });
  });
});

Deno.test("Hub: a room name is stored composed (NFC): decomposed and composed José are one room", async () => {
  await withClients({}, 2, async ([a, b]) => {
    await join(a, "Jos\u00e9");
    await b.send(Tag.JOIN, "Jose\u0301");
    const presence = await nextPresence(a);
    assert.deepEqual(presence, {
      event: "join",
      room: "Jos\u00e9",
      id: b.id,
      nick: null,
    });
    assert.deepEqual(await roomSizes(a), { "Jos\u00e9": 2, [LOBBY]: 0 });
  });
});
