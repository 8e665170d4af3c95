/**
 * The WebSocket gateway on the HTTP endpoint: `/ws` carries the TCP wire
 * format, one frame per binary message, so a browser and a TCP client are
 * the same kind of client to the hub (ids, rooms, nicknames, limits, the
 * slow-consumer policy); anything else in a message gets ERROR and a
 * close; upgrades from origins not allowed get 403; `/` serves the page.
 */

import assert from "node:assert/strict";
import {
  decodeJsonBody,
  encodeFrame,
  type Frame,
  FrameReader,
  type Presence,
  Tag,
} from "../protocol/mod.ts";
import {
  type HttpEndpoint,
  type HttpEndpointOptions,
  startHttpEndpoint,
} from "../server/http_endpoint.ts";
import { Logger, MIN_PENDING_BYTES, type Server } from "../server/mod.ts";
import { parseAllowedOrigins } from "../server/transport/ws/mod.ts";
import { loadWebFiles } from "../web/transpile.ts";
import { deadline } from "./_deadline.ts";
import {
  concat,
  httpGet,
  join,
  nick,
  parseMetrics,
  RawClient,
  text,
  waitUntil,
  whoIsHere,
} from "./_kit.ts";
import { type LogLines, waitForLog, withServer } from "./_server.ts";
import type { ServerOptions } from "../server/server.ts";

/** An in-process server with its HTTP endpoint (and so `/ws`). */
async function withGateway(
  serverOptions: ServerOptions,
  options: Partial<HttpEndpointOptions>,
  body: (
    server: Server,
    http: HttpEndpoint,
    logs: LogLines,
    httpLogs: LogLines,
  ) => Promise<void>,
): Promise<void> {
  await withServer(serverOptions, async (server, logs) => {
    const httpLogs: LogLines = [];
    const http = startHttpEndpoint(server.hub, {
      hostname: "127.0.0.1",
      port: 0,
      logger: new Logger({ level: "debug", write: (l) => httpLogs.push(l) }),
      maxPendingBytes: serverOptions.maxPendingBytes,
      ...options,
    });
    try {
      await body(server, http, logs, httpLogs);
    } finally {
      await http.close();
    }
  });
}

/** A client on Deno's WebSocket, as a browser page has one. */
class SocketClient {
  readonly socket: WebSocket;
  /** Every message, each parsed as exactly one frame. */
  readonly frames: Frame[] = [];
  /** Messages that were not exactly one frame. */
  readonly malformed: number[] = [];
  readonly closed: Promise<CloseEvent>;
  id = 0;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    this.closed = new Promise((resolve) => {
      socket.onclose = resolve;
    });
    socket.onmessage = (event) => {
      if (typeof event.data === "string") {
        this.malformed.push(-1);
        return;
      }
      const bytes = new Uint8Array(event.data as ArrayBuffer);
      const reader = new FrameReader();
      reader.push(bytes);
      const frame = reader.next();
      if (
        frame === null || reader.next() !== null || reader.bufferedBytes > 0
      ) {
        this.malformed.push(bytes.length);
      } else this.frames.push(frame);
    };
  }

  /** Open `/ws` and wait for ISSUE_ID and the join confirmation. */
  static async open(port: number): Promise<SocketClient> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const client = new SocketClient(socket);
    await deadline(
      new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onerror = () => reject(new Error("WebSocket failed"));
      }),
      10_000,
      "the WebSocket to open",
    );
    client.id = (await client.next((f) => f.tag === Tag.ISSUE_ID)).senderId;
    await client.next((f) =>
      f.tag === Tag.PRESENCE && presence(f).event === "join" &&
      presence(f).id === client.id
    );
    return client;
  }

  send(tag: number, body: string | Uint8Array = new Uint8Array(0)): void {
    this.socket.send(encodeFrame(tag, 0, body));
  }

  /** Take the first frame (removing it and those before) that matches. */
  async next(match: (frame: Frame) => boolean): Promise<Frame> {
    let found: Frame | undefined;
    await waitUntil(() => {
      const at = this.frames.findIndex(match);
      if (at < 0) return false;
      found = this.frames.splice(0, at + 1)[at];
      return true;
    }, "a WebSocket frame");
    return found!;
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.closed;
  }
}

function presence(frame: Frame): Presence {
  return decodeJsonBody(frame.body) as Presence;
}

const encoder = new TextEncoder();

/** A masked client frame, built by hand. */
function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const mask = [0x12, 0x34, 0x56, 0x78];
  const length = payload.length;
  const head = length < 126
    ? [0x80 | opcode, 0x80 | length]
    : [0x80 | opcode, 0x80 | 126, length >>> 8, length & 0xff];
  const out = new Uint8Array(head.length + 4 + length);
  out.set(head);
  out.set(mask, head.length);
  for (let i = 0; i < length; i++) {
    out[head.length + 4 + i] = payload[i] ^ mask[i & 3];
  }
  return out;
}

/** A raw upgrade over TCP, with any headers; returns the socket and status. */
async function rawUpgrade(
  port: number,
  extraHeaders: string,
  withHead: Uint8Array = new Uint8Array(0),
): Promise<{ conn: Deno.TcpConn; status: number; head: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = concat(
    encoder.encode(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
        `Sec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`,
    ),
    withHead,
  );
  let written = 0;
  while (written < request.length) {
    written += await conn.write(request.subarray(written));
  }
  // Read byte by byte up to the end of the head, leaving the frames unread.
  const one = new Uint8Array(1);
  let head = "";
  while (!head.endsWith("\r\n\r\n")) {
    const count = await deadline(conn.read(one), 10_000, "the upgrade reply");
    if (count === null) break;
    head += String.fromCharCode(one[0]);
  }
  return { conn, status: Number(head.split(" ")[1]), head };
}

for (
  const [what, message, reason] of [
    [
      "a text message",
      "hello" as string | Uint8Array,
      /text message/,
    ],
    [
      "an oversized message",
      concat(
        encodeFrame(Tag.CHAT, 0, new Uint8Array(488)),
        new Uint8Array(100),
      ),
      /exceeds the 512-byte/,
    ],
    [
      "a message holding a partial frame",
      encodeFrame(Tag.CHAT, 0, "cut short").subarray(0, 28),
      /part of one/,
    ],
    [
      "a message holding several frames",
      concat(encodeFrame(Tag.CHAT, 0, "one"), encodeFrame(Tag.CHAT, 0, "two")),
      /holds several/,
    ],
  ] as const
) {
  Deno.test(`WebSocket gateway: ${what} gets ERROR, then the connection closes; others carry on`, async () => {
    await withGateway({}, {}, async (server, http, logs) => {
      const port = http.address.port;
      const bystander = await RawClient.connect(server.address.port);
      const client = await SocketClient.open(port);
      client.socket.send(message);
      const error = await client.next((f) => f.tag === Tag.ERROR);
      assert.match(text(error), reason);
      await deadline(client.closed, 10_000, "the close");
      assert.deepEqual(client.malformed, []);
      await waitForLog(logs, /reason=protocol/);
      assert.equal(server.hub.metrics.disconnects.get("protocol"), 1);
      // Nobody else was concerned.
      await bystander.send(Tag.CHAT, "still here");
      assert.equal(text(await bystander.next(Tag.CHAT)), "still here");
      await bystander.close();
    });
  });
}

Deno.test("WebSocket gateway: a WebSocket client and a TCP client chat in one room both ways, with shared ids, rooms and nicknames", async () => {
  await withGateway({}, {}, async (server, http) => {
    const tcp = await RawClient.connect(server.address.port);
    const web = await SocketClient.open(http.address.port);
    assert.notEqual(web.id, tcp.id, "ids come from one counter");
    await join(tcp, "garden");
    web.send(Tag.JOIN, "garden");
    await web.next((f) =>
      f.tag === Tag.PRESENCE && presence(f).event === "join" &&
      presence(f).id === web.id && presence(f).room === "garden"
    );
    web.send(Tag.NICK, "webby");
    await web.next((f) =>
      f.tag === Tag.PRESENCE && presence(f).event === "nick" &&
      presence(f).id === web.id
    );
    await nick(tcp, "terminal");
    const members = await whoIsHere(tcp);
    assert.deepEqual(
      members.map((m) => [m.id, m.nick]).sort(),
      [[tcp.id, "terminal"], [web.id, "webby"]].sort(),
    );
    // WebSocket to TCP, and the sender's echo.
    web.send(Tag.CHAT, "hello from the browser");
    const atTcp = await tcp.next(Tag.CHAT);
    assert.equal(atTcp.senderId, web.id);
    assert.equal(text(atTcp), "hello from the browser");
    const echo = await web.next((f) => f.tag === Tag.CHAT);
    assert.equal(echo.senderId, web.id);
    // TCP to WebSocket: a burst, each frame in a message of its own.
    await tcp.write(concat(
      ...Array.from(
        { length: 20 },
        (_, i) => encodeFrame(Tag.CHAT, 0, `line ${i}`),
      ),
    ));
    for (let i = 0; i < 20; i++) {
      const frame = await web.next((f) => f.tag === Tag.CHAT);
      assert.equal(frame.senderId, tcp.id);
      assert.equal(text(frame), `line ${i}`);
    }
    assert.deepEqual(web.malformed, [], "every message held one frame");
    await web.close();
    await tcp.close();
  });
});

Deno.test("WebSocket gateway: a WebSocket client that stops reading is dropped as a slow consumer while a TCP member carries on", async () => {
  const maxPendingBytes = MIN_PENDING_BYTES;
  await withGateway(
    { maxPendingBytes, maxMessagesPerSecond: 0 },
    {},
    async (server, http, logs) => {
      const { conn: stalled, status } = await rawUpgrade(
        http.address.port,
        "",
      );
      assert.equal(status, 101);
      const sender = await RawClient.connect(server.address.port);
      const member = await RawClient.connect(server.address.port);
      await waitUntil(
        () => server.hub.gauges.clientCount === 3,
        "three clients",
      );
      const chat = encodeFrame(Tag.CHAT, 0, "x".repeat(400));
      const batch = concat(...Array.from({ length: 500 }, () => chat));
      let sent = 0;
      // Bounded: 40 MB at most; loopback buffers take a few MB first.
      for (
        let i = 0;
        i < 200 && !server.hub.metrics.disconnects.get("slow_consumer");
        i++
      ) {
        await sender.write(batch);
        sent += 500;
        await member.chats(500, 20_000);
        await sender.chats(500, 20_000);
      }
      const line = await waitForLog(logs, /reason=slow_consumer/);
      assert.match(line, /Client disconnected id=1\b/);
      assert.equal(server.hub.metrics.disconnects.get("slow_consumer"), 1);
      // The member still chats.
      await sender.send(Tag.CHAT, "after");
      const after = await member.next(Tag.CHAT);
      assert.equal(text(after), "after");
      // The stalled peer, reading at last, finds whole messages, the reason
      // last, then the close.
      const bytes = await readUntilClosed(stalled);
      const frames = webSocketMessages(bytes);
      const last = frames.at(-2)!;
      assert.equal(last.opcode, 2);
      const reader = new FrameReader();
      reader.push(last.payload);
      const error = reader.next()!;
      assert.equal(error.tag, Tag.ERROR);
      assert.equal(text(error), "slow consumer");
      assert.equal(frames.at(-1)!.opcode, 8, "a close frame ends it");
      // Loopback's socket buffers took megabytes before the bound was hit.
      assert.ok(sent >= 2000, `dropped after only ${sent} messages`);
      const pending = Number(/detail="(\d+) bytes pending"/.exec(line)?.[1]);
      assert.ok(pending > 0 && pending <= maxPendingBytes, line);
      await sender.close();
      await member.close();
    },
  );
});

async function readUntilClosed(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  await deadline(
    (async () => {
      try {
        for (;;) {
          const count = await conn.read(buffer);
          if (count === null) break;
          chunks.push(buffer.slice(0, count));
        }
      } catch {
        // Reset at the end: what was read is enough.
      }
    })(),
    20_000,
    "the stalled peer's backlog",
  );
  conn.close();
  return concat(...chunks);
}

/** Server frames (unmasked) in a byte stream, whole ones only. */
function webSocketMessages(
  bytes: Uint8Array,
): { opcode: number; payload: Uint8Array }[] {
  const out: { opcode: number; payload: Uint8Array }[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    let length = bytes[at + 1] & 0x7f;
    let start = at + 2;
    if (length === 126) {
      length = (bytes[at + 2] << 8) | bytes[at + 3];
      start += 2;
    }
    if (start + length > bytes.length) break;
    out.push({
      opcode: bytes[at] & 0x0f,
      payload: bytes.subarray(start, start + length),
    });
    at = start + length;
  }
  return out;
}

Deno.test("WebSocket gateway: an upgrade from an origin not allowed gets 403 and a log line; the page's own origin and listed ones may connect", async () => {
  await withGateway(
    {},
    { allowedOrigins: parseAllowedOrigins("https://chat.example") },
    async (_server, http, _logs, httpLogs) => {
      const port = http.address.port;
      const refused = await rawUpgrade(
        port,
        "Origin: https://evil.example\r\n",
      );
      assert.equal(refused.status, 403);
      refused.conn.close();
      const line = await waitForLog(httpLogs, /WebSocket upgrade refused/);
      assert.match(line, /evil\.example/);
      assert.match(line, /address=127\.0\.0\.1:\d+/);
      assert.equal(http.webSockets.refusedOrigins, 1);
      for (
        const origin of [`http://127.0.0.1:${port}`, "https://chat.example"]
      ) {
        const accepted = await rawUpgrade(port, `Origin: ${origin}\r\n`);
        assert.equal(accepted.status, 101, origin);
        assert.match(
          accepted.head,
          /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i,
        );
        accepted.conn.close();
      }
    },
  );
});

Deno.test("WebSocket gateway: upgraded connections leave the HTTP server's connection bound and are counted in /metrics", async () => {
  await withGateway({}, { maxConnections: 2 }, async (server, http) => {
    const clients = [];
    for (let i = 0; i < 4; i++) {
      clients.push(await SocketClient.open(http.address.port));
    }
    const reply = await httpGet(http.address.port, "/metrics");
    assert.equal(reply.status, 200);
    const metrics = parseMetrics(reply.body);
    assert.equal(metrics.get("hubbub_websocket_connections"), 4);
    assert.equal(metrics.get("hubbub_connections"), 4);
    assert.equal(server.hub.gauges.clientCount, 4);
    for (const client of clients) await client.close();
    await waitUntil(() => http.webSockets.open === 0, "the sockets to close");
  });
});

Deno.test("WebSocket gateway: / serves the chat page and the page's modules as JavaScript; nothing else is reachable", async () => {
  const page = await loadWebFiles();
  await withGateway({}, { page }, async (_server, http) => {
    const port = http.address.port;
    const index = await httpGet(port, "/");
    assert.equal(index.status, 200);
    assert.match(index.headers.get("content-type")!, /^text\/html/);
    assert.match(index.body, /<script type="module"/);
    assert.equal(index.headers.get("cache-control"), "no-cache");
    assert.ok(index.headers.get("content-security-policy"));
    const module = await httpGet(port, "/app/protocol/frame.ts");
    assert.equal(module.status, 200);
    assert.match(module.headers.get("content-type")!, /^text\/javascript/);
    assert.doesNotMatch(module.body, /: Uint8Array\b/, "types stripped");
    for (
      const path of [
        "/app/server/hub.ts",
        "/app/../deno.json",
        "/app/web/../../deno.json",
        "/app/%2e%2e/deno.json",
        "/web/index.html",
      ]
    ) {
      assert.equal((await httpGet(port, path)).status, 404, path);
    }
    assert.equal((await httpGet(port, "/ws")).status, 426);
  });
});

/** Read server frames from a raw connection until `count` have arrived. */
async function readMessages(
  conn: Deno.Conn,
  done: (messages: { opcode: number; payload: Uint8Array }[]) => boolean,
): Promise<{ opcode: number; payload: Uint8Array }[]> {
  let bytes: Uint8Array = new Uint8Array(0);
  const buffer = new Uint8Array(4096);
  for (;;) {
    const messages = webSocketMessages(bytes);
    if (done(messages)) return messages;
    const count = await deadline(conn.read(buffer), 10_000, "a message");
    if (count === null) return messages;
    bytes = concat(bytes, buffer.subarray(0, count));
  }
}

Deno.test("WebSocket gateway: a ping gets its pong; a close frame from the client ends it with a close frame after what was queued", async () => {
  await withGateway({}, {}, async (server, http, logs) => {
    const { conn } = await rawUpgrade(http.address.port, "");
    await conn.write(clientFrame(0x9, encoder.encode("are you there")));
    const messages = await readMessages(
      conn,
      (m) => m.some((x) => x.opcode === 0xa),
    );
    const pong = messages.find((m) => m.opcode === 0xa)!;
    assert.equal(new TextDecoder().decode(pong.payload), "are you there");
    await conn.write(clientFrame(0x8, new Uint8Array([0x03, 0xe8])));
    const rest = await readMessages(
      conn,
      (m) => m.some((x) => x.opcode === 0x8),
    );
    assert.equal(rest.at(-1)!.opcode, 0x8);
    conn.close();
    await waitForLog(logs, /Client disconnected.*reason=gone/);
    assert.equal(server.hub.metrics.disconnects.get("gone"), 1);
  });
});

for (
  const [what, frame, reason] of [
    [
      "an unmasked message",
      (() => {
        const chat = encodeFrame(Tag.CHAT, 0, "hi");
        return concat(new Uint8Array([0x82, chat.length]), chat);
      })(),
      /unmasked/,
    ],
    [
      "a fragmented message",
      (() => {
        const first = clientFrame(0x2, encodeFrame(Tag.CHAT, 0, "hi"));
        first[0] &= 0x7f;
        return first;
      })(),
      /fragmented/,
    ],
  ] as const
) {
  Deno.test(`WebSocket gateway: ${what} gets ERROR, then a close`, async () => {
    await withGateway({}, {}, async (server, http) => {
      const { conn } = await rawUpgrade(http.address.port, "");
      await conn.write(frame);
      const messages = await readMessages(
        conn,
        (m) => m.some((x) => x.opcode === 0x8),
      );
      conn.close();
      const frames = messages.filter((m) => m.opcode === 0x2).map((m) => {
        const reader = new FrameReader();
        reader.push(m.payload);
        return reader.next()!;
      });
      const error = frames.find((f) => f.tag === Tag.ERROR)!;
      assert.match(text(error), reason);
      assert.equal(server.hub.metrics.disconnects.get("protocol"), 1);
    });
  });
}

Deno.test("WebSocket gateway: messages sent in the same packet as the upgrade request are read", async () => {
  await withGateway({}, {}, async (server, http) => {
    const tcp = await RawClient.connect(server.address.port);
    const { conn, status } = await rawUpgrade(
      http.address.port,
      "",
      concat(
        clientFrame(0x2, encodeFrame(Tag.CHAT, 0, "early one")),
        clientFrame(0x2, encodeFrame(Tag.CHAT, 0, "early two")),
      ),
    );
    assert.equal(status, 101);
    assert.equal(text(await tcp.next(Tag.CHAT)), "early one");
    assert.equal(text(await tcp.next(Tag.CHAT)), "early two");
    conn.close();
    await tcp.close();
  });
});

Deno.test("WebSocket gateway: WebSocket clients meet the hub's admission: past --max-clients one gets ERROR server full, then a close", async () => {
  await withGateway({ maxClients: 1 }, {}, async (server, http) => {
    const tcp = await RawClient.connect(server.address.port);
    const { conn, status } = await rawUpgrade(http.address.port, "");
    assert.equal(status, 101);
    const messages = await readMessages(
      conn,
      (m) => m.some((x) => x.opcode === 0x8),
    );
    conn.close();
    const reader = new FrameReader();
    reader.push(messages.find((m) => m.opcode === 0x2)!.payload);
    const error = reader.next()!;
    assert.equal(error.tag, Tag.ERROR);
    assert.match(text(error), /server full/);
    assert.equal(server.hub.metrics.disconnects.get("server_full"), 1);
    await tcp.close();
  });
});
