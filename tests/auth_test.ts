/**
 * Authentication: with tokens configured, a client must send AUTH with a
 * valid token first and gets nothing (not even ISSUE_ID) until then; a
 * wrong token, a non-AUTH first frame or silence past the handshake
 * timeout cost the connection. Also `--token-file` on the server process,
 * the terminal client's `--token`, and tokens never reaching the logs.
 */

import assert from "node:assert/strict";
import { encodeFrame, LOBBY, Tag } from "../protocol/mod.ts";
import { DisconnectReason, TokenSet } from "../server/mod.ts";
import { makeCertificate } from "./_tls.ts";
import {
  barrier,
  closeAll,
  concat,
  RawClient,
  takeUntil,
  text,
  waitForLog,
  waitUntil,
  withClockedServer,
} from "./_kit.ts";
import { CLIENT_MAIN, runDeno, startServerProcess } from "./_process.ts";
import { withServer } from "./_server.ts";

const TOKENS = "# who may chat\nalpha-secret-1\n  beta-secret-2  \r\n\n";
const tokens = () => TokenSet.parse(TOKENS);

/** Connect and authenticate; return the client with its id. */
async function authed(port: number, token = "alpha-secret-1") {
  const client = await RawClient.connect(port, { handshake: false });
  await client.send(Tag.AUTH, token);
  const issued = await client.next();
  assert.equal(issued.tag, Tag.ISSUE_ID, text(issued));
  client.id = issued.senderId;
  return client;
}

Deno.test("Auth: a client gets nothing, not even ISSUE_ID, until it sends a valid AUTH", async () => {
  await withServer({ tokens: tokens() }, async (server) => {
    const port = server.address.port;
    const waiting = await RawClient.connect(port, { handshake: false });
    const talker = await authed(port);
    assert.equal(talker.id, 1, "the waiting connection got no id");
    await talker.send(Tag.CHAT, "anyone there?");
    await talker.next(Tag.CHAT);
    await barrier(talker);
    assert.equal(server.hub.gauges.awaitingAuthCount, 1);
    assert.deepEqual(waiting.inbox, []);
    // Anything the hub had queued for it would come before ISSUE_ID.
    await waiting.send(Tag.AUTH, "beta-secret-2");
    const first = await waiting.next();
    assert.equal(first.tag, Tag.ISSUE_ID);
    assert.equal(first.senderId, 2);
    const second = await waiting.next();
    assert.deepEqual(JSON.parse(text(second)), {
      event: "join",
      room: LOBBY,
      id: 2,
      nick: null,
    });
    assert.equal(server.hub.gauges.awaitingAuthCount, 0);
    await closeAll(waiting, talker);
  });
});

Deno.test("Auth: a wrong token gets ERROR 'authentication failed', then the end; it is counted and not logged", async () => {
  await withServer({ tokens: tokens() }, async (server, logs) => {
    const port = server.address.port;
    const member = await authed(port);
    await barrier(member);
    for (
      const wrong of ["wrong-token-xyz", "alpha-secret", "# who may chat", ""]
    ) {
      const client = await RawClient.connect(port, { handshake: false });
      await client.send(Tag.AUTH, wrong);
      const frames = await takeUntil(client, () => true);
      assert.equal(frames[0].tag, Tag.ERROR);
      assert.equal(text(frames[0]), "authentication failed");
      await client.waitForEnd();
      assert.deepEqual(client.inbox, []);
      await client.close();
    }
    assert.equal(server.hub.metrics.authFailures, 4);
    assert.equal(server.hub.metrics.disconnects.get("auth"), 4);
    await waitForLog(logs, /reason=auth detail="wrong token"/);
    // The member heard nothing of it; no id was used up.
    assert.deepEqual(await barrier(member), []);
    const next = await authed(port);
    assert.equal(next.id, 2);
    for (const line of logs) {
      assert.doesNotMatch(line, /wrong-token-xyz|alpha-secret|beta-secret/);
    }
    await closeAll(member, next);
  });
});

Deno.test("Auth: a first frame other than AUTH gets ERROR 'authentication required' and is not acted on", async () => {
  await withServer({ tokens: tokens() }, async (server) => {
    const port = server.address.port;
    const member = await authed(port);
    await barrier(member);
    const firsts = [
      encodeFrame(Tag.CHAT, 0, "sneaky chat"),
      encodeFrame(Tag.PING, 0, "ping"),
      encodeFrame(Tag.NICK, 0, "sneaky"),
      encodeFrame(Tag.JOIN, 0, "sneaky"),
      encodeFrame(99, 0, "unknown"),
      // AUTH after another frame is too late.
      concat(
        encodeFrame(Tag.CHAT, 0, "sneaky chat"),
        encodeFrame(Tag.AUTH, 0, "alpha-secret-1"),
      ),
    ];
    for (const bytes of firsts) {
      const client = await RawClient.connect(port, { handshake: false });
      await client.write(bytes);
      const first = await client.next();
      assert.equal(first.tag, Tag.ERROR);
      assert.equal(text(first), "authentication required");
      await client.waitForEnd();
      assert.deepEqual(client.inbox, []);
      await client.close();
    }
    assert.deepEqual(await barrier(member), []);
    assert.equal(server.hub.gauges.clientCount, 1);
    assert.equal(server.hub.metrics.authFailures, 0);
    await member.close();
  });
});

Deno.test("Auth: a client that sends no AUTH within handshakeTimeoutMs gets ERROR 'authentication timed out'", async () => {
  await withServer(
    { tokens: tokens(), handshakeTimeoutMs: 100 },
    async (server, logs) => {
      const port = server.address.port;
      // Authenticated before the others connect: once they are dropped, it
      // has been connected longer than the deadline too.
      const member = await authed(port);
      await barrier(member);
      const silent = await RawClient.connect(port, { handshake: false });
      // Half a frame does not count as sending anything.
      const partial = await RawClient.connect(port, { handshake: false });
      await partial.write(
        encodeFrame(Tag.AUTH, 0, "alpha-secret-1").slice(0, 20),
      );
      for (const client of [silent, partial]) {
        const frame = await client.next(undefined, 3000);
        assert.equal(frame.tag, Tag.ERROR);
        assert.equal(text(frame), "authentication timed out");
        await client.waitForEnd();
      }
      await waitForLog(logs, /reason=auth detail="no AUTH within/);
      assert.equal(server.hub.gauges.awaitingAuthCount, 0);
      // An authenticated client is not subject to it.
      assert.deepEqual(await barrier(member), []);
      assert.ok(!member.ended);
      await closeAll(silent, partial, member);
    },
  );
});

Deno.test("Auth: nothing happens to a client awaiting AUTH until exactly handshakeTimeoutMs, then ERROR 'authentication timed out' and the end", async () => {
  await withClockedServer(
    { tokens: tokens(), handshakeTimeoutMs: 1000 },
    async (server, clock, logs) => {
      const port = server.address.port;
      const member = await authed(port);
      await barrier(member);
      const silent = await RawClient.connect(port, { handshake: false });
      const partial = await RawClient.connect(port, { handshake: false });
      await partial.write(
        encodeFrame(Tag.AUTH, 0, "alpha-secret-1").slice(0, 20),
      );
      await waitUntil(
        () => server.hub.gauges.awaitingAuthCount === 2,
        "both connections to await AUTH",
      );
      clock.advance(999);
      assert.deepEqual(await barrier(member), []);
      assert.equal(server.hub.gauges.awaitingAuthCount, 2);
      assert.equal(server.hub.metrics.disconnects.get("auth"), undefined);
      clock.advance(1);
      for (const client of [silent, partial]) {
        await client.waitForEnd();
        assert.deepEqual(client.inbox.map((f) => [f.tag, text(f)]), [
          [Tag.ERROR, "authentication timed out"],
        ]);
      }
      await waitForLog(logs, /reason=auth detail="no AUTH within/);
      assert.equal(server.hub.gauges.awaitingAuthCount, 0);
      assert.equal(server.hub.metrics.disconnects.get("auth"), 2);
      assert.deepEqual(await barrier(member), []);
      assert.equal(server.hub.gauges.clientCount, 1);
      await closeAll(silent, partial, member);
    },
  );
});

Deno.test("Auth: surrounding whitespace is ignored and every token of the file works", async () => {
  await withServer({ tokens: tokens() }, async (server) => {
    const port = server.address.port;
    const clients = [];
    for (
      const token of [
        "alpha-secret-1",
        "beta-secret-2",
        "  alpha-secret-1\r\n",
        "\tbeta-secret-2 ",
      ]
    ) {
      clients.push(await authed(port, token));
    }
    assert.deepEqual(clients.map((c) => c.id), [1, 2, 3, 4]);
    await closeAll(...clients);
  });
});

Deno.test("Auth: only whitespace around a token is ignored: NUL and other control bytes make it wrong", async () => {
  await withServer({ tokens: tokens() }, async (server) => {
    const port = server.address.port;
    for (
      const token of [
        "\0alpha-secret-1",
        "alpha-secret-1\0",
        "\x01beta-secret-2",
        "beta-secret-2\x1f",
        "\x0balpha-secret-1",
        "\x0calpha-secret-1",
      ]
    ) {
      const client = await RawClient.connect(port, { handshake: false });
      await client.send(Tag.AUTH, token);
      const frame = await client.next();
      assert.equal(frame.tag, Tag.ERROR, JSON.stringify(token));
      assert.equal(text(frame), "authentication failed");
      await client.waitForEnd();
      await client.close();
    }
    assert.equal(server.hub.metrics.authFailures, 6);
  });
});

Deno.test("Auth: AUTH and CHAT in one write: the chat is relayed once the client is registered", async () => {
  await withServer({ tokens: tokens() }, async (server) => {
    const port = server.address.port;
    const member = await authed(port);
    const eager = await RawClient.connect(port, { handshake: false });
    await eager.write(concat(
      encodeFrame(Tag.AUTH, 0, "beta-secret-2"),
      encodeFrame(Tag.CHAT, 0, "right away"),
    ));
    const chat = await member.next(Tag.CHAT);
    assert.equal(text(chat), "right away");
    assert.equal(chat.senderId, 2);
    const frames = await takeUntil(eager, (f) => f.tag === Tag.CHAT);
    assert.deepEqual(frames.map((f) => f.tag), [
      Tag.ISSUE_ID,
      Tag.PRESENCE,
      Tag.CHAT,
    ]);
    await closeAll(member, eager);
  });
});

Deno.test("Auth: a second AUTH after authenticating, and AUTH on a server without tokens, are skipped", async () => {
  await withServer({ tokens: tokens() }, async (server) => {
    const a = await authed(server.address.port);
    await a.send(Tag.AUTH, "wrong-now-but-ignored");
    assert.deepEqual(
      (await barrier(a)).filter((f) => f.tag !== Tag.PRESENCE),
      [],
    );
    assert.ok(!a.ended);
    await a.close();
  });
  await withServer({}, async (server) => {
    const a = await RawClient.connect(server.address.port);
    await a.send(Tag.AUTH, "anything");
    assert.deepEqual(
      (await barrier(a)).filter((f) => f.tag !== Tag.PRESENCE),
      [],
    );
    assert.ok(!a.ended);
    await a.close();
  });
});

Deno.test("Auth: sockets that never send AUTH do not take the client slots: with maxClients 5, five of them leave room for a valid token", async () => {
  await withServer({ tokens: tokens(), maxClients: 5 }, async (server) => {
    const port = server.address.port;
    const silent: RawClient[] = [];
    for (let i = 0; i < 5; i++) {
      silent.push(await RawClient.connect(port, { handshake: false }));
    }
    await waitUntil(
      () => server.hub.gauges.awaitingAuthCount === 5,
      "the hub to hold five connections awaiting AUTH",
    );
    const members = [];
    for (let i = 0; i < 5; i++) members.push(await authed(port));
    assert.deepEqual(members.map((member) => member.id), [1, 2, 3, 4, 5]);
    // Now the five client slots are taken: a sixth valid token is refused.
    const sixth = await RawClient.connect(port, { handshake: false });
    await sixth.send(Tag.AUTH, "alpha-secret-1");
    const refused = await sixth.next();
    assert.equal(refused.tag, Tag.ERROR);
    assert.equal(text(refused), "server full");
    await sixth.waitForEnd();
    for (const client of silent) assert.deepEqual(client.inbox, []);
    await closeAll(...silent, ...members, sixth);
  });
});

Deno.test("Auth: connections awaiting AUTH have their own bound, maxHandshakes: over it a newcomer gets ERROR 'server busy'", async () => {
  await withServer({ tokens: tokens(), maxHandshakes: 2 }, async (server) => {
    const port = server.address.port;
    const waiting = [
      await RawClient.connect(port, { handshake: false }),
      await RawClient.connect(port, { handshake: false }),
    ];
    await waitUntil(
      () => server.hub.gauges.awaitingAuthCount === 2,
      "the hub to hold two connections awaiting AUTH",
    );
    const third = await RawClient.connect(port, { handshake: false });
    const refused = await third.next();
    assert.equal(refused.tag, Tag.ERROR);
    assert.equal(text(refused), "server busy");
    await third.waitForEnd();
    // One authenticates: its place is free again.
    await waiting[0].send(Tag.AUTH, "alpha-secret-1");
    assert.equal((await waiting[0].next()).tag, Tag.ISSUE_ID);
    const fourth = await authed(port, "beta-secret-2");
    assert.equal(fourth.id, 2);
    await closeAll(...waiting, third, fourth);
  });
});

Deno.test("Auth: TLS handshakes share the maxHandshakes allowance and take no client slot", async () => {
  const certificate = await makeCertificate();
  try {
    await withServer({
      tls: { cert: certificate.cert, key: certificate.key },
      maxClients: 1,
      maxHandshakes: 2,
    }, async (server) => {
      const port = server.address.port;
      // A peer that never starts its TLS handshake takes a handshake place,
      // not the one client slot.
      const silent = [await Deno.connect({ hostname: "127.0.0.1", port })];
      await waitUntil(
        () => server.hub.handshakes.inUse === 1,
        "a TLS handshake under way",
      );
      const client = await RawClient.connectTls(port, certificate.cert);
      assert.equal(client.id, 1);
      assert.equal(server.hub.gauges.clientCount, 1);
      // A second silent peer takes the last place; a third is closed at once.
      silent.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      await waitUntil(
        () => server.hub.handshakes.inUse === 2,
        "two TLS handshakes under way",
      );
      const third = await Deno.connect({ hostname: "127.0.0.1", port });
      const ended = await third.read(new Uint8Array(16)).catch(() => null);
      assert.equal(ended, null);
      third.close();
      assert.equal(
        server.hub.metrics.disconnects.get(DisconnectReason.HandshakeLimit),
        1,
      );
      await client.close();
      for (const conn of silent) conn.close();
    });
  } finally {
    await certificate.remove();
  }
});

Deno.test("Auth: shutdown sends CLOSE to connections still awaiting AUTH", async () => {
  await withServer({ tokens: tokens() }, async (server) => {
    const waiting = await RawClient.connect(server.address.port, {
      handshake: false,
    });
    const member = await authed(server.address.port);
    await barrier(member);
    await server.shutdown({ reason: "going away", graceMs: 500 });
    const frame = await waiting.next();
    assert.equal(frame.tag, Tag.CLOSE);
    assert.equal(text(frame), "going away");
    await waiting.waitForEnd();
    await closeAll(waiting, member);
  });
});

Deno.test("Auth: --token-file on the server process, and the terminal client's --token", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubbub-auth-" });
  const tokenFile = `${dir}/tokens.txt`;
  await Deno.writeTextFile(tokenFile, TOKENS);
  const server = await startServerProcess([
    "--token-file",
    tokenFile,
    "--log-level",
    "debug",
    "--log-format",
    "json",
  ]);
  try {
    assert.equal(JSON.parse(server.lines[0]).auth, true);
    // The right token: the client joins and leaves normally.
    const good = await runDeno(CLIENT_MAIN, [
      "--port",
      String(server.port),
      "--token",
      "beta-secret-2",
    ], { stdin: true });
    assert.equal(good.code, 0, good.stderr.join("\n"));
    assert.match(good.stdout[0], /Connected to .* as client 1\b/);
    // A wrong token: one clear line, non-zero exit.
    const bad = await runDeno(CLIENT_MAIN, [
      "--port",
      String(server.port),
      "--token",
      "not-the-token-42",
    ], { stdin: true });
    assert.notEqual(bad.code, 0);
    assert.ok(
      bad.stderr.some((l) => /authentication failed/.test(l)),
      bad.stderr.join("\n"),
    );
    assert.ok(!bad.stdout.some((l) => /Connected/.test(l)));
    // A raw client without AUTH.
    const raw = await RawClient.connect(server.port, { handshake: false });
    await raw.send(Tag.CHAT, "hi");
    assert.equal(text(await raw.next()), "authentication required");
    await raw.close();
    await server.process.waitForLine(
      "stderr",
      /authentication required|first frame was not AUTH/,
    );
    // Tokens never reach the log, in any form.
    for (const line of server.lines) {
      assert.doesNotMatch(line, /beta-secret|alpha-secret|not-the-token/);
      JSON.parse(line); // and every line is JSON
    }
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
