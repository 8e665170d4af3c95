/**
 * Nicknames over real sockets: NICK, validation, case-insensitive
 * uniqueness across rooms, release on rename and on every kind of
 * disconnect, and nicknames in PRESENCE and WHO.
 */

import assert from "node:assert/strict";
import { LOBBY, type MemberEntry, Tag } from "../protocol/mod.ts";
import {
  barrier,
  closeAll,
  join,
  nextError,
  nextPresence,
  nick,
  presences,
  RawClient,
  requestList,
  text,
  waitForLog,
  whoIsHere,
  withClients,
} from "./_kit.ts";
import { withServer } from "./_server.ts";

Deno.test("Hub: NICK sets the nickname and the room hears a nick PRESENCE with the old and new names", async () => {
  await withClients({}, 2, async ([a, b]) => {
    await barrier(a);
    await barrier(b);
    await a.send(Tag.NICK, "alice");
    const first = {
      event: "nick",
      room: LOBBY,
      id: a.id,
      nick: "alice",
      old: null,
    };
    assert.deepEqual(await nextPresence(a), first);
    assert.deepEqual(await nextPresence(b), first);
    await a.send(Tag.NICK, "Alicia");
    const second = { ...first, nick: "Alicia", old: "alice" };
    assert.deepEqual(await nextPresence(a), second);
    assert.deepEqual(await nextPresence(b), second);
  });
});

Deno.test("Hub: a nickname taken in any letter case, in any room, gets ERROR and changes nothing", async () => {
  await withClients({}, 2, async ([a, b]) => {
    await nick(a, "Alice");
    await nick(b, "bob");
    await join(a, "elsewhere");
    await barrier(a);
    for (const taken of ["Alice", "alice", "ALICE", "aLiCe"]) {
      await b.send(Tag.NICK, taken);
      const error = await nextError(b);
      assert.equal(error.tag, Tag.NICK);
      assert.match(error.reason, /taken/);
    }
    // Nothing changed: b is still bob, a heard nothing.
    assert.deepEqual(presences(await barrier(a)), []);
    assert.deepEqual(await whoIsHere(b), [{ id: b.id, nick: "bob" }]);
    assert.deepEqual(await whoIsHere(a), [{ id: a.id, nick: "Alice" }]);
  });
});

Deno.test("Hub: an invalid nickname gets ERROR with the reason (sender id = NICK) and changes nothing", async () => {
  await withClients({}, 1, async ([a]) => {
    await nick(a, "keeper");
    const cases: [string | Uint8Array, RegExp][] = [
      ["", /empty/],
      ["n".repeat(33), /longer than 32 bytes/],
      ["ü".repeat(16) + "x", /longer than 32 bytes/], // 33 bytes
      ["two words", /whitespace/],
      ["nbsp\u00a0", /whitespace/],
      ["bell\u0007", /control/],
      ["c1\u009b", /control/],
      ["12345", /digits/],
      [new Uint8Array([0x61, 0xc3]), /UTF-8/],
    ];
    for (const [name, reason] of cases) {
      await a.send(Tag.NICK, name);
      const error = await nextError(a);
      assert.equal(error.tag, Tag.NICK, `for ${JSON.stringify(name)}`);
      assert.match(error.reason, reason);
    }
    assert.deepEqual(presences(await barrier(a)), []);
    assert.deepEqual(await whoIsHere(a), [{ id: a.id, nick: "keeper" }]);
  });
});

Deno.test("Hub: nicknames of exactly 32 bytes, with digits and non-ASCII letters, are accepted", async () => {
  await withClients({}, 1, async ([a]) => {
    for (const name of ["n".repeat(32), "ü".repeat(16), "r2d2", "Zoë"]) {
      await nick(a, name);
      assert.deepEqual(await whoIsHere(a), [{ id: a.id, nick: name }]);
    }
  });
});

Deno.test("Hub: a client may change the letter case of its own nickname", async () => {
  await withClients({}, 1, async ([a]) => {
    await nick(a, "carol");
    await a.send(Tag.NICK, "Carol");
    assert.deepEqual(await nextPresence(a), {
      event: "nick",
      room: LOBBY,
      id: a.id,
      nick: "Carol",
      old: "carol",
    });
  });
});

Deno.test("Hub: a nickname is free again once its holder renames", async () => {
  await withClients({}, 2, async ([a, b]) => {
    await nick(a, "dave");
    await nick(a, "david");
    await nick(b, "DAVE"); // the old name is free
    await b.send(Tag.NICK, "David"); // the new one is not
    assert.match((await nextError(b)).reason, /taken/);
  });
});

Deno.test("Hub: a nickname is free again after its holder disconnects, whatever the reason", async () => {
  await withServer({ maxMessagesPerSecond: 0 }, async (server, logs) => {
    const port = server.address.port;
    const taker = await RawClient.connect(port);

    // Abrupt close.
    const abrupt = await RawClient.connect(port);
    await nick(abrupt, "erin");
    await abrupt.close();
    await waitForLog(
      logs,
      new RegExp(`Client disconnected id=${abrupt.id}\\b`),
    );
    await nick(taker, "Erin");

    // CLOSE frame.
    const polite = await RawClient.connect(port);
    await nick(polite, "frank");
    await polite.send(Tag.CLOSE);
    await polite.waitForEnd();
    await nick(taker, "frank");

    // Protocol violation (an oversized frame header).
    const rude = await RawClient.connect(port);
    await nick(rude, "gina");
    const header = new Uint8Array(24);
    new DataView(header.buffer).setBigUint64(0, 100_000n);
    new DataView(header.buffer).setBigUint64(8, 1n);
    await rude.write(header);
    await rude.waitForEnd();
    await nick(taker, "GINA");

    assert.equal(server.hub.gauges.clientCount, 1);
    await closeAll(taker, abrupt, polite, rude);
  });
});

Deno.test("Hub: join, leave and WHO show the nickname where one is set", async () => {
  await withClients({}, 3, async ([a, b, c]) => {
    await join(a, "study");
    await nick(b, "bea");
    await barrier(a);
    await join(b, "study");
    assert.deepEqual(await nextPresence(a), {
      event: "join",
      room: "study",
      id: b.id,
      nick: "bea",
    });
    await join(c, "study"); // no nickname
    assert.deepEqual(await nextPresence(a), {
      event: "join",
      room: "study",
      id: c.id,
      nick: null,
    });
    const who = await requestList<MemberEntry>(a, Tag.WHO);
    assert.deepEqual(who.entries.sort((x, y) => x.id - y.id), [
      { id: a.id, nick: null },
      { id: b.id, nick: "bea" },
      { id: c.id, nick: null },
    ]);
    await b.close();
    assert.deepEqual(await nextPresence(a), {
      event: "leave",
      room: "study",
      id: b.id,
      nick: "bea",
    });
  });
});

Deno.test("Hub: a nick change is announced only to the renamer's room", async () => {
  await withClients({}, 3, async ([a, b, other]) => {
    await join(a, "loft");
    await join(b, "loft");
    await join(other, "cellar");
    await barrier(a);
    await barrier(b);
    await a.send(Tag.NICK, "ann");
    assert.equal((await nextPresence(b)).nick, "ann");
    assert.deepEqual(presences(await barrier(other)), []);
  });
});

Deno.test("Hub: chats still carry the id; the nickname goes only in PRESENCE and lists", async () => {
  await withClients({}, 2, async ([a, b]) => {
    await nick(a, "hal");
    await a.send(Tag.CHAT, "hello");
    const frame = await b.next(Tag.CHAT);
    assert.equal(frame.senderId, a.id);
    assert.equal(text(frame), "hello");
  });
});

Deno.test("Hub: NICK with the client's current nickname changes nothing and announces nothing to the room", async () => {
  await withClients({}, 2, async ([a, b]) => {
    await nick(a, "same");
    await barrier(b);
    await a.send(Tag.NICK, "same");
    await barrier(a);
    // Like JOIN of the current room: at most a confirmation to the client
    // itself, never a "same is now known as same" to everyone.
    assert.deepEqual(presences(await barrier(b)), []);
  });
});

Deno.test("Hub: lookalike nicknames with invisible, bidi-control or format characters, and id lookalikes, get ERROR", async () => {
  await withClients({}, 1, async ([a]) => {
    await nick(a, "keeper");
    const cases: [string, RegExp][] = [
      ["alice\u200b", /invisible/], // zero width space
      ["ali\u00adce", /invisible/], // soft hyphen
      ["\u202eecila", /invisible/], // right-to-left override
      ["bob\u2060", /invisible/], // word joiner
      ["3\u200b", /invisible/], // looks like id 3
      ["\uff13", /digits/], // full-width 3
      ["\uff11\uff12", /digits/], // full-width 12
      ["\u0663", /digits/], // Arabic-Indic 3
    ];
    for (const [name, reason] of cases) {
      await a.send(Tag.NICK, name);
      const error = await nextError(a);
      assert.equal(error.tag, Tag.NICK, `for ${JSON.stringify(name)}`);
      assert.match(error.reason, reason, `for ${JSON.stringify(name)}`);
    }
    assert.deepEqual(presences(await barrier(a)), []);
    assert.deepEqual(await whoIsHere(a), [{ id: a.id, nick: "keeper" }]);
  });
});

Deno.test("Hub: a nickname that looks like a taken one (Cyrillic, Greek, full-width, 1 for l) is taken", async () => {
  await withClients({}, 2, async ([a, b]) => {
    await nick(a, "alice");
    await nick(b, "bob");
    for (
      const lookalike of [
        "\u0430lice", // Cyrillic а
        "\u0430l\u0456\u0441\u0435", // Cyrillic а, і, с, е
        "\u03b1lice", // Greek alpha
        "\uff41\uff4c\uff49\uff43\uff45", // full-width
        "a1ice",
      ]
    ) {
      await b.send(Tag.NICK, lookalike);
      const error = await nextError(b);
      assert.equal(error.tag, Tag.NICK);
      assert.match(error.reason, /taken/, `for ${JSON.stringify(lookalike)}`);
    }
    assert.deepEqual(
      await whoIsHere(b),
      [
        { id: a.id, nick: "alice" },
        { id: b.id, nick: "bob" },
      ].sort((x, y) => x.id - y.id),
    );
  });
});

Deno.test("Hub: a decomposed nickname is stored composed (NFC), and its composed twin is taken", async () => {
  await withClients({}, 2, async ([a, b]) => {
    await barrier(b);
    await a.send(Tag.NICK, "Jose\u0301"); // e + combining acute
    const presence = await nextPresence(b);
    assert.equal(presence.nick, "Jos\u00e9");
    await b.send(Tag.NICK, "Jos\u00e9");
    assert.match((await nextError(b)).reason, /taken/);
    await b.send(Tag.NICK, "Jose\u0301");
    assert.match((await nextError(b)).reason, /taken/);
    // The holder may resend either form: it is its own name, nothing changes.
    await a.send(Tag.NICK, "Jos\u00e9");
    await barrier(a);
    assert.deepEqual(presences(await barrier(b)), []);
  });
});

Deno.test("Hub: a lookalike nickname is free again once its holder renames or leaves", async () => {
  await withServer({}, async (server, logs) => {
    const port = server.address.port;
    const a = await RawClient.connect(port);
    const b = await RawClient.connect(port);
    const c = await RawClient.connect(port);
    await nick(a, "\u0430lice"); // Cyrillic а
    await b.send(Tag.NICK, "alice");
    assert.match((await nextError(b)).reason, /taken/);
    await nick(a, "anna");
    await nick(b, "alice");
    await b.close();
    await waitForLog(logs, new RegExp(`Client disconnected id=${b.id}\\b`));
    await nick(c, "\u0430lice");
    await closeAll(a, b, c);
  });
});
