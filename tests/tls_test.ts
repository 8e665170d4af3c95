/**
 * TLS: `startServer({tls})` and `--tls-cert/--tls-key`, with a throwaway
 * certificate made by openssl at test time; round trips with
 * `Deno.connectTls` and with the terminal client's `--tls --ca`.
 */

import assert from "node:assert/strict";
import { encodeFrame, LOBBY, Tag } from "../protocol/mod.ts";
import { numberedChats, RawClient, text } from "./_kit.ts";
import {
  CLIENT_MAIN,
  type ServerProcess,
  spawnDeno,
  startServerProcess,
} from "./_process.ts";
import { withServer } from "./_server.ts";
import { makeCertificate, type TestCertificate } from "./_tls.ts";
import type { Server, ServerOptions } from "../server/mod.ts";
import { deadline } from "./_deadline.ts";

/**
 * Descriptors this process has open now, as `ls` sees them (reading
 * `/proc` from Deno itself needs `--allow-all`). The pipes of `ls` itself
 * add the same few each time.
 */
async function openDescriptors(): Promise<number> {
  const { stdout } = await new Deno.Command("ls", {
    args: [`/proc/${Deno.pid}/fd`],
    stdin: "null",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(stdout).split("\n").filter(Boolean).length;
}

/** Poll {@linkcode openDescriptors} until it is at most `most`. */
async function descriptorsDownTo(most: number, timeoutMs = 10_000) {
  const started = Date.now();
  let now = await openDescriptors();
  while (now > most) {
    if (Date.now() - started > timeoutMs) {
      throw new Error(
        `${now} descriptors open after ${timeoutMs} ms, not ${most}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    now = await openDescriptors();
  }
}

/**
 * Run `body` against an in-process server that speaks TLS with a throwaway
 * certificate; the certificate is removed afterwards.
 */
async function withTlsServer(
  body: (server: Server, certificate: TestCertificate) => Promise<void>,
  options: ServerOptions = {},
): Promise<void> {
  const certificate = await makeCertificate();
  try {
    await withServer(
      { tls: { cert: certificate.cert, key: certificate.key }, ...options },
      (server) => body(server, certificate),
    );
  } finally {
    await certificate.remove();
  }
}

/**
 * Run `body` against a server process started with `--tls-cert` and
 * `--tls-key` of a throwaway certificate; the server is stopped and the
 * certificate removed afterwards.
 */
async function withTlsServerProcess(
  body: (server: ServerProcess, certificate: TestCertificate) => Promise<void>,
): Promise<void> {
  const certificate = await makeCertificate();
  try {
    const server = await startServerProcess([
      "--tls-cert",
      certificate.certFile,
      "--tls-key",
      certificate.keyFile,
    ]);
    try {
      await body(server, certificate);
    } finally {
      await server.stop();
    }
  } finally {
    await certificate.remove();
  }
}

Deno.test("TLS: a round trip with Deno.connectTls against startServer({tls})", async () => {
  await withTlsServer(async (server, certificate) => {
    const port = server.address.port;
    const a = await RawClient.connectTls(port, certificate.cert);
    const b = await RawClient.connectTls(port, certificate.cert);
    assert.deepEqual([a.id, b.id], [1, 2]);
    const join = await a.next(Tag.PRESENCE);
    assert.deepEqual(JSON.parse(text(join)), {
      event: "join",
      room: LOBBY,
      id: 1,
      nick: null,
    });
    await a.send(Tag.NICK, "tlsa");
    await a.send(Tag.CHAT, "over TLS");
    const frame = await b.next(Tag.CHAT);
    assert.equal(text(frame), "over TLS");
    assert.equal(frame.senderId, a.id);
    // Plenty of data both ways, to go past a TLS record or two.
    const body = "y".repeat(480);
    for (let i = 0; i < 200; i++) await a.send(Tag.CHAT, body);
    for (let i = 0; i < 200; i++) {
      assert.equal((await b.next(Tag.CHAT)).body.length, 480);
    }
    await a.send(Tag.CLOSE);
    await a.next(Tag.CLOSE);
    await a.close();
    await b.close();
  });
});

Deno.test("TLS: a plain TCP client on the TLS port gets no frames and cannot chat", async () => {
  await withTlsServer(async (server, certificate) => {
    const port = server.address.port;
    const tls = await RawClient.connectTls(port, certificate.cert);
    const plain = await Deno.connect({ hostname: "127.0.0.1", port });
    await plain.write(
      new Uint8Array([0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]),
    );
    // The server gives up on the handshake: the connection ends, and no
    // plain-text frame ever arrives.
    const buffer = new Uint8Array(1024);
    let received = 0;
    for (let i = 0; i < 100; i++) {
      const count = await plain.read(buffer).catch(() => null);
      if (count === null) break;
      received += count;
      // A TLS alert is fine; a frame header (24 bytes of zeros) is not.
      assert.ok(buffer[0] !== 0, "a plain-text frame arrived");
    }
    assert.ok(received < 24);
    plain.close();
    await tls.send(Tag.CHAT, "unbothered");
    assert.equal(text(await tls.next(Tag.CHAT)), "unbothered");
    await tls.close();
  });
});

Deno.test("TLS: a connection that has not finished the TLS handshake is not announced to the lobby", async () => {
  await withTlsServer(async (server, certificate) => {
    const port = server.address.port;
    const member = await RawClient.connectTls(port, certificate.cert);
    await member.next(Tag.PRESENCE); // its own join
    // A TCP connection that never starts the TLS handshake.
    const silent = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      // A later client that does complete its handshake: the member hears
      // its join, and nothing before it about the silent connection.
      const late = await RawClient.connectTls(port, certificate.cert);
      const frames: string[] = [];
      for (;;) {
        const frame = await member.next();
        if (frame.tag === Tag.PRESENCE && frame.senderId === late.id) break;
        frames.push(`${frame.tag} ${text(frame)}`);
      }
      assert.deepEqual(frames, [], "the lobby heard about it");
      assert.equal(server.hub.gauges.clientCount, 2, "it was given an id");
      await late.close();
    } finally {
      silent.close();
      await member.close();
    }
  });
});

Deno.test("TLS: the server process serves TLS with --tls-cert/--tls-key, and the terminal client chats with --tls --ca", async () => {
  await withTlsServerProcess(async (server, certificate) => {
    let peer: RawClient | null = null;
    const client = spawnDeno(CLIENT_MAIN, [
      "--port",
      String(server.port),
      "--tls",
      "--ca",
      certificate.certFile,
    ], { stdin: true });
    try {
      assert.match(server.lines[0], /Listening .*tls=true/);
      await client.waitForLine("stdout", /Connected to .* as client 1\b/);
      peer = await RawClient.connectTls(server.port, certificate.cert);
      await client.writeLine("/nick tlsuser");
      await client.waitForLine("stdout", /You are now known as tlsuser/);
      await client.writeLine("hello over tls");
      const frame = await peer.next(Tag.CHAT);
      assert.equal(text(frame), "hello over tls");
      assert.equal(frame.senderId, 1);
      await peer.send(Tag.CHAT, "and back");
      await client.waitForLine("stdout", /^2 >>> and back$/);
      await client.writeLine("/exit");
      const status = await client.wait();
      assert.equal(status.code, 0);
    } finally {
      await peer?.close();
      await client.stop();
    }
  });
});

Deno.test("TLS: without --ca the terminal client refuses the self-signed certificate in one line, exit 1", async () => {
  await withTlsServerProcess(async (server) => {
    const client = spawnDeno(CLIENT_MAIN, [
      "--port",
      String(server.port),
      "--tls",
    ], { stdin: true });
    try {
      const status = await client.wait();
      assert.equal(status.code, 1);
      assert.equal(client.stderr.length, 1, client.stderr.join("\n"));
      assert.match(client.stderr[0], /127\.0\.0\.1:\d+.*certificate/);
      assert.doesNotMatch(client.stderr[0], /\bat .*:\d+:\d+/);
      assert.deepEqual(client.stdout, []);
    } finally {
      await client.stop();
    }
  });
});

Deno.test("TLS: silent peers on the TLS port are closed after the handshake timeout, and their descriptors freed", async () => {
  await withTlsServer(async (server, certificate) => {
    const port = server.address.port;
    const baseline = await openDescriptors();
    const silent: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        silent.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      }
      // Each peer sees the end of its stream (EOF, or a reset) once the
      // server gives up on its handshake, however long that takes.
      await deadline(
        Promise.all(silent.map(async (conn) => {
          const buffer = new Uint8Array(1024);
          for (;;) {
            const count = await conn.read(buffer).catch(() => null);
            if (count === null) return;
          }
        })),
        15_000,
        "the server to close every silent peer",
      );
      // The server's side of each is closed: only the peers' own remain.
      await descriptorsDownTo(baseline + silent.length);
      const member = await RawClient.connectTls(port, certificate.cert);
      assert.equal(member.id, 1);
      await member.close();
      assert.equal(server.hub.metrics.disconnects.get("gone"), 20);
    } finally {
      for (const conn of silent) conn.close();
    }
    await descriptorsDownTo(baseline);
  }, { handshakeTimeoutMs: 300 });
});

Deno.test("TLS: a client that never reads is dropped as a slow consumer, and the others carry on", async () => {
  await withTlsServer(async (server, certificate) => {
    const port = server.address.port;
    // It writes once (so its handshake completes) and never reads.
    const stalled = await Deno.connectTls({
      hostname: "127.0.0.1",
      port,
      caCerts: [certificate.cert],
    });
    try {
      await stalled.write(encodeFrame(Tag.PONG, 0));
      const talker = await RawClient.connectTls(port, certificate.cert);
      const metrics = server.hub.metrics;
      let sent = 0;
      while (!metrics.disconnects.has("slow_consumer") && sent < 40_000) {
        await talker.write(numberedChats(sent, 500));
        await talker.chats(500, 20_000);
        sent += 500;
      }
      assert.equal(metrics.disconnects.get("slow_consumer"), 1);
      await talker.send(Tag.CHAT, "carry on");
      assert.equal(text(await talker.next(Tag.CHAT)), "carry on");
      await talker.close();
    } finally {
      stalled.close();
    }
  }, { maxPendingBytes: 256 * 1024, maxMessagesPerSecond: 0 });
});
