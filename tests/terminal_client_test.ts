/**
 * The terminal client `client/main.ts` as a real subprocess, driven through
 * its stdin and read through its stdout and stderr, against an in-process
 * server, a server subprocess or a scripted peer on a real socket.
 */

import assert from "node:assert/strict";
import { encodeFrame, type Frame, FrameReader, Tag } from "../protocol/mod.ts";
import { deadline } from "./_deadline.ts";
import { closedPort } from "./_loadtest_cli.ts";
import { RawClient, text } from "./_raw_client.ts";
import { spawnServer, waitForLog, withServer } from "./_server.ts";
import { TokenSet } from "../server/mod.ts";
import { assertNoStackTrace, withClient } from "./_terminal_client.ts";

/** Read frames from a raw accepted connection until one of `tag` arrives. */
async function readUntil(
  conn: Deno.Conn,
  reader: FrameReader,
  tag: number,
): Promise<Frame[]> {
  const frames: Frame[] = [];
  const buffer = new Uint8Array(4096);
  for (;;) {
    for (let f = reader.next(); f !== null; f = reader.next()) {
      frames.push({ ...f, body: f.body.slice() });
      if (f.tag === tag) return frames;
    }
    const n = await conn.read(buffer);
    if (n === null) throw new Error("connection ended");
    reader.push(buffer.slice(0, n));
  }
}

Deno.test("Terminal client: prints the issued id", async () => {
  await withServer({}, async (server) => {
    const first = await RawClient.connect(server.address.port);
    await withClient(server.address.port, async (client) => {
      const line = await client.waitFor("stdout", /as client/);
      assert.match(
        line,
        new RegExp(`127\\.0\\.0\\.1:${server.address.port}.* as client 2\\b`),
      );
      assert.equal(await client.issuedId(), first.id + 1);
      await client.type("/exit");
      assert.equal((await client.finish()).code, 0);
    });
    await first.close();
  });
});

Deno.test("Terminal client: prints chats as '<sender_id> >>> <text>', its own included", async () => {
  await withServer({}, async (server) => {
    const other = await RawClient.connect(server.address.port);
    await withClient(server.address.port, async (client) => {
      const id = await client.issuedId();
      await other.send(Tag.CHAT, "hello from the other side");
      await other.send(Tag.CHAT, "héllo ✓ 🎉");
      await client.waitFor("stdout", /héllo/);
      await client.type("my own line");
      await client.waitFor("stdout", /my own line/);
      const chatLines = client.stdout.filter((l) => l.includes(">>>"));
      assert.deepEqual(chatLines, [
        `${other.id} >>> hello from the other side`,
        `${other.id} >>> héllo ✓ 🎉`,
        `${id} >>> my own line`,
      ]);
      await client.type("/exit");
      assert.equal((await client.finish()).code, 0);
    });
    await other.close();
  });
});

Deno.test("Terminal client: each stdin line goes out as one CHAT frame with the client's id", async () => {
  await withServer({}, async (server) => {
    const watcher = await RawClient.connect(server.address.port);
    await withClient(server.address.port, async (client) => {
      const id = await client.issuedId();
      const typed = [
        "first line",
        "  spaced out  ",
        "",
        "tab\there",
        "//starts with a slash",
        "unicode ✓ é 🎉",
        "last",
      ];
      for (const line of typed) await client.type(line);
      // Windows line endings lose their \r.
      await client.type("crlf line\r");
      const frames = await watcher.chats(7);
      assert.deepEqual(frames.map(text), [
        "first line",
        "  spaced out  ",
        "tab\there",
        "/starts with a slash",
        "unicode ✓ é 🎉",
        "last",
        "crlf line",
      ]);
      for (const frame of frames) assert.equal(frame.senderId, id);
      await client.type("/exit");
      assert.equal((await client.finish()).code, 0);
    });
    await watcher.close();
  });
});

Deno.test("Terminal client: /exit sends CLOSE and exits 0 after the server's reply", async () => {
  await withServer({}, async (server, logs) => {
    await withClient(server.address.port, async (client) => {
      const id = await client.issuedId();
      await client.type("/exit");
      const status = await client.finish();
      assert.equal(status.code, 0, client.transcript());
      const line = await waitForLog(
        logs,
        new RegExp(`Client disconnected id=${id}\\b`),
      );
      assert.match(line, /reason=closed/);
      assertNoStackTrace(client);
    });
  });
});

Deno.test("Terminal client: /exit waits for the server's CLOSE before exiting (scripted peer)", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let conn: Deno.Conn | null = null;
  try {
    await withClient(port, async (client) => {
      conn = await deadline(listener.accept(), 10_000, "the client");
      await conn.write(encodeFrame(Tag.ISSUE_ID, 42));
      assert.equal(await client.issuedId(), 42);
      const reader = new FrameReader();
      await client.type("bye now");
      await client.type("/exit");
      const frames = await deadline(
        readUntil(conn, reader, Tag.CLOSE),
        10_000,
        "CLOSE from the client",
      );
      assert.deepEqual(
        frames.map((f) => [f.tag, text(f)]),
        // The JOIN of the lobby on connect, then what was typed.
        [[Tag.JOIN, "lobby"], [Tag.CHAT, "bye now"], [Tag.CLOSE, ""]],
      );
      // It is waiting for our answer, not gone already: it still shows a
      // chat that arrives after its CLOSE.
      await conn.write(encodeFrame(Tag.CHAT, 7, "one more thing"));
      await client.waitFor("stdout", /one more thing/);
      assert.equal(client.exited, false, "exited before the server replied");
      await conn.write(encodeFrame(Tag.CLOSE, 42));
      assert.equal((await client.finish()).code, 0, client.transcript());
      // A reply to its own /exit is not reported as the server closing.
      assert.ok(!client.stderr.some((l) => /closed the connection/i.test(l)));
    });
  } finally {
    (conn as Deno.Conn | null)?.close();
    listener.close();
  }
});

Deno.test("Terminal client: end of input leaves like /exit", async () => {
  await withServer({}, async (server, logs) => {
    await withClient(server.address.port, async (client) => {
      const id = await client.issuedId();
      await client.closeStdin();
      assert.equal((await client.finish()).code, 0, client.transcript());
      assert.match(
        await waitForLog(logs, new RegExp(`Client disconnected id=${id}\\b`)),
        /reason=closed/,
      );
    });
  });
});

Deno.test("Terminal client: with --no-reconnect, a server that dies is reported with a clear message and a non-zero exit", async () => {
  const server = await spawnServer();
  try {
    await withClient(server.port, async (client) => {
      await client.issuedId();
      server.process.kill("SIGKILL");
      const status = await client.finish();
      assert.notEqual(status.code, 0, client.transcript());
      const line = await client.waitFor("stderr", /went away|lost/);
      assert.match(line, new RegExp(`127\\.0\\.0\\.1:${server.port}`));
      assertNoStackTrace(client);
    }, ["--no-reconnect"]);
  } finally {
    await server.stop();
  }
});

Deno.test("Terminal client: with --no-reconnect, a peer that drops the connection without CLOSE is reported, exit non-zero", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  try {
    await withClient(port, async (client) => {
      const conn = await deadline(listener.accept(), 10_000, "the client");
      await conn.write(encodeFrame(Tag.ISSUE_ID, 7));
      assert.equal(await client.issuedId(), 7);
      conn.close();
      const status = await client.finish();
      assert.notEqual(status.code, 0, client.transcript());
      assert.match(
        await client.waitFor("stderr", /went away|lost/),
        new RegExp(`127\\.0\\.0\\.1:${port}`),
      );
      assertNoStackTrace(client);
    }, ["--no-reconnect"]);
  } finally {
    listener.close();
  }
});

Deno.test("Terminal client: with --no-reconnect, a graceful server shutdown is reported with its reason, exit 0", async () => {
  const server = await spawnServer();
  try {
    await withClient(server.port, async (client) => {
      await client.issuedId();
      const serverStatus = await server.stop("SIGTERM");
      assert.equal(serverStatus.code, 0);
      const status = await client.finish();
      const line = await client.waitFor("stderr", /closed the connection/i);
      assert.match(line, /shutting down/);
      assert.equal(status.code, 0, client.transcript());
      assertNoStackTrace(client);
    }, ["--no-reconnect"]);
  } finally {
    await server.stop();
  }
});

Deno.test("Terminal client: a line over 488 bytes is refused with a clear message and nothing is sent", async () => {
  await withServer({}, async (server) => {
    const watcher = await RawClient.connect(server.address.port);
    await withClient(server.address.port, async (client) => {
      await client.issuedId();
      await client.type("x".repeat(489));
      const refusal = await client.waitFor("stderr", /not sent/i);
      assert.match(refusal, /489 bytes/);
      assert.match(refusal, /488/);
      // 245 two-byte characters: 490 bytes, though only 245 characters.
      await client.type("é".repeat(245));
      await client.waitFor("stderr", /490 bytes/);
      // Exactly at the limit goes through, in bytes as in characters.
      await client.type("é".repeat(244));
      await client.type("y".repeat(488));
      const frames = await watcher.chats(2);
      assert.deepEqual(frames.map((f) => f.body.length), [488, 488]);
      assert.deepEqual(frames.map(text), ["é".repeat(244), "y".repeat(488)]);
      assert.equal(client.exited, false);
      await client.type("/exit");
      assert.equal((await client.finish()).code, 0);
      assertNoStackTrace(client);
    });
    await watcher.close();
  });
});

Deno.test("Terminal client: connection refused costs one line and exit 1", async () => {
  const port = closedPort();
  await withClient(port, async (client) => {
    const status = await client.finish();
    assert.equal(status.code, 1, client.transcript());
    const lines = client.stderr.filter((l) => l.trim() !== "");
    assert.equal(lines.length, 1, client.transcript());
    assert.match(lines[0], new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(lines[0], /refused/);
    assert.deepEqual(client.stdout.filter((l) => l.trim() !== ""), []);
    assertNoStackTrace(client);
  });
});

Deno.test("Terminal client: a server that needs a token says so in one line with the fix, exit 1; a wrong token too", async () => {
  const tokens = TokenSet.parse("right-token\n");
  await withServer({ tokens }, async (server) => {
    const port = server.address.port;
    for (
      const [args, pattern] of [
        [[], /authentication required; it needs a token: pass --token TOKEN$/],
        [["--token", "wrong"], /authentication failed; the token is wrong/],
      ] as [string[], RegExp][]
    ) {
      await withClient(port, async (client) => {
        const status = await client.finish();
        assert.equal(status.code, 1, client.transcript());
        const lines = client.stderr.filter((l) => l.trim() !== "");
        assert.equal(lines.length, 1, client.transcript());
        assert.match(lines[0], new RegExp(`127\\.0\\.0\\.1:${port}`));
        assert.match(lines[0], pattern);
        assertNoStackTrace(client);
      }, args);
    }
  });
});

Deno.test("Terminal client: SIGINT leaves like /exit (CLOSE, wait for the answer); a second SIGINT exits 130", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let conn: Deno.Conn | null = null;
  try {
    await withClient(port, async (client) => {
      conn = await deadline(listener.accept(), 10_000, "the client");
      await conn.write(encodeFrame(Tag.ISSUE_ID, 42));
      assert.equal(await client.issuedId(), 42);
      client.process.kill("SIGINT");
      const frames = await deadline(
        readUntil(conn, new FrameReader(), Tag.CLOSE),
        10_000,
        "CLOSE from the client",
      );
      assert.deepEqual(frames.map((f) => f.tag), [Tag.JOIN, Tag.CLOSE]);
      assert.equal(client.exited, false, "it waits for the answer");
      client.process.kill("SIGINT");
      assert.equal((await client.finish()).code, 130, client.transcript());
      assertNoStackTrace(client);
    });
  } finally {
    (conn as Deno.Conn | null)?.close();
    listener.close();
  }
});
