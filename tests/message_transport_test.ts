/**
 * Clients behind a message transport, which behaves as a WebSocket does:
 * `send` takes every message at once and what has not left yet waits in
 * `unsentBytes` (`bufferedAmount`). The writer counts those bytes against
 * the pending bound as it counts a write in flight on TCP, so a client that
 * stops reading is dropped as a slow consumer by the same policy.
 */

import assert from "node:assert/strict";
import { encodeFrame, type Frame, FrameReader, Tag } from "../protocol/mod.ts";
import {
  ClientWriter,
  Connection,
  ConnectionState,
  DEFAULT_HUB_OPTIONS,
  Hub,
  Logger,
  type MessageTransport,
  MIN_PENDING_BYTES,
  type StreamTransport,
} from "../server/mod.ts";
import { concat, text, waitUntil } from "./_kit.ts";
import { FakeClock } from "./_fake_clock.ts";

/**
 * A WebSocket's sending side: every message is taken at once; a peer that
 * reads takes it away at once too, one that does not leaves it counted in
 * `unsentBytes` until {@linkcode FakeWebSocket.drain}.
 */
class FakeWebSocket implements MessageTransport {
  readonly remoteAddress: string;
  /** Messages sent and not yet taken by the peer. */
  unsent: Uint8Array[] = [];
  /** Everything the peer has taken. */
  received: Uint8Array[] = [];
  unsentBytes = 0;
  closed = false;
  #reads: boolean;

  constructor(remoteAddress: string, reads: boolean) {
    this.remoteAddress = remoteAddress;
    this.#reads = reads;
  }

  send(bytes: Uint8Array): void {
    if (this.closed) throw new Error("WebSocket is closed");
    // A copy, as WebSocket.send makes: the writer reuses its buffer.
    const message = bytes.slice();
    if (this.#reads) {
      this.received.push(message);
      return;
    }
    this.unsent.push(message);
    this.unsentBytes += message.length;
  }

  /** The peer reads everything sent so far. */
  drain(): void {
    this.received.push(...this.unsent);
    this.unsent = [];
    this.unsentBytes = 0;
  }

  close(): void {
    this.closed = true;
  }
}

/** A stream transport that takes every byte at once. */
class SinkTransport implements StreamTransport {
  readonly remoteAddress = "127.0.0.1:3";
  write(bytes: Uint8Array): Promise<number> {
    return Promise.resolve(bytes.length);
  }
  close(): void {}
}

function framesOf(messages: Uint8Array[]): Frame[] {
  const reader = new FrameReader();
  reader.push(concat(...messages));
  const frames: Frame[] = [];
  for (let frame = reader.next(); frame !== null; frame = reader.next()) {
    frames.push(frame);
  }
  return frames;
}

Deno.test("Message transport: unsent bytes count against the pending bound, and room comes back as they leave", () => {
  const socket = new FakeWebSocket("127.0.0.1:1", false);
  const writer = new ClientWriter(socket, 1000, () => {});
  const frame = encodeFrame(Tag.CHAT, 1, "x".repeat(376)); // 400 bytes
  assert.ok(writer.append(frame));
  writer.flush();
  assert.equal(socket.unsent.length, 1, "sent at once, as one message");
  assert.equal(writer.queuedBytes, 0);
  assert.equal(writer.pendingBytes, 400, "the transport still holds them");
  assert.ok(writer.append(frame));
  assert.equal(writer.pendingBytes, 800);
  // 400 unsent + 400 queued + 400 > 1000: refused, as with a write in flight.
  assert.equal(writer.append(frame), false);
  socket.drain();
  assert.equal(writer.pendingBytes, 400);
  assert.ok(writer.append(frame), "room again once the sent bytes left");
  writer.flush();
  assert.equal(socket.unsent.length, 2, "one message per frame");
  assert.deepEqual(socket.unsent.map((m) => m.length), [400, 400]);
  assert.equal(socket.unsentBytes, 800);
  assert.equal(writer.bytesWritten, 1200);
});

Deno.test("Message transport: the write-deadline stamp is when unsent bytes began or last shrank, as a TCP write's start", () => {
  const clock = new FakeClock(1000);
  const socket = new FakeWebSocket("127.0.0.1:1", false);
  const writer = new ClientWriter(socket, 10_000, () => {}, undefined, clock);
  const frame = encodeFrame(Tag.CHAT, 1, "x".repeat(100));
  assert.equal(writer.writeStartedAt, -1, "nothing waits");
  writer.append(frame);
  writer.flush();
  assert.equal(writer.writeStartedAt, 1000, "the backlog began");
  clock.advance(500);
  writer.append(frame);
  writer.flush();
  assert.equal(writer.writeStartedAt, 1000, "more sent, none of it gone yet");
  clock.advance(500);
  socket.received.push(socket.unsent.shift()!);
  socket.unsentBytes -= frame.length;
  assert.equal(writer.writeStartedAt, 2000, "some left: progress");
  clock.advance(500);
  assert.equal(writer.writeStartedAt, 2000, "no progress since");
  socket.drain();
  assert.equal(writer.writeStartedAt, -1, "all left");
});

Deno.test("Message transport: a WebSocket-like client that stops reading is dropped as a slow consumer at the same bound; a reading one gets everything", async () => {
  const logs: string[] = [];
  const maxPendingBytes = MIN_PENDING_BYTES;
  const hub = new Hub({
    ...DEFAULT_HUB_OPTIONS,
    maxPendingBytes,
    maxMessagesPerSecond: 0,
    logger: new Logger({ level: "debug", write: (line) => logs.push(line) }),
    tokens: null,
  });
  const running = hub.run();
  try {
    const stuck = new FakeWebSocket("127.0.0.1:1", false);
    const reading = new FakeWebSocket("127.0.0.1:2", true);
    const stuckClient = new Connection(stuck, maxPendingBytes, () => {});
    const readingClient = new Connection(reading, maxPendingBytes, () => {});
    const sender = new Connection(
      new SinkTransport(),
      maxPendingBytes,
      () => {},
    );
    for (const client of [stuckClient, readingClient, sender]) {
      hub.inbox.push({ kind: "connect", client });
    }
    await waitUntil(
      () => [stuckClient, readingClient, sender].every((c) => c.id > 0),
      "the three clients to be registered",
    );
    // A newer tag from the WebSocket clients: they get frames coalesced.
    for (const client of [stuckClient, readingClient]) {
      const ping = encodeFrame(Tag.PING, 0);
      hub.inbox.push({
        kind: "frames",
        client,
        bytes: ping,
        end: ping.length,
      });
    }
    const chat = encodeFrame(Tag.CHAT, 0, "x".repeat(400));
    const perBatch = 16;
    const batchBytes = perBatch * chat.length;
    let sent = 0;
    for (let i = 0; i < 1000; i++) {
      if (stuckClient.state === ConnectionState.Closed) break;
      const bytes = concat(...Array.from({ length: perBatch }, () => chat));
      hub.inbox.push({
        kind: "frames",
        client: sender,
        bytes,
        end: bytes.length,
      });
      sent += perBatch;
      await waitUntil(
        () => sender.framesIn === sent,
        "the hub to relay the batch",
      );
    }
    await waitUntil(() => stuck.closed, "the stuck client to be closed");
    assert.equal(hub.metrics.disconnects.get("slow_consumer"), 1);
    assert.equal(readingClient.state, ConnectionState.Open);
    // It held what the bound allows, then got the reason.
    const frames = framesOf(stuck.unsent);
    const last = frames.at(-1)!;
    assert.equal(last.tag, Tag.ERROR);
    assert.equal(text(last), "slow consumer");
    const held = stuck.unsentBytes - last.body.length - 24;
    assert.ok(held <= maxPendingBytes, `${held} bytes held over the bound`);
    assert.ok(
      held > maxPendingBytes - batchBytes - chat.length,
      `dropped with only ${held} of ${maxPendingBytes} bytes held`,
    );
    assert.ok(
      logs.some((line) =>
        /Client disconnected id=1\b.*reason=slow_consumer/.test(line)
      ),
      "the drop is logged as a slow consumer",
    );
    const chats = framesOf(reading.received).filter((f) => f.tag === Tag.CHAT);
    assert.equal(chats.length, sent);
  } finally {
    hub.inbox.close();
    await running;
  }
});

Deno.test("Message transport: a WebSocket-like client whose unsent bytes never shrink is dropped by the write deadline below the bound", async () => {
  const logs: string[] = [];
  const clock = new FakeClock();
  const hub = new Hub({
    ...DEFAULT_HUB_OPTIONS,
    writeDeadlineMs: 300,
    maxMessagesPerSecond: 0,
    logger: new Logger({ level: "debug", write: (line) => logs.push(line) }),
    tokens: null,
    clock,
  });
  const running = hub.run();
  try {
    const stuck = new FakeWebSocket("127.0.0.1:1", false);
    const client = new Connection(
      stuck,
      DEFAULT_HUB_OPTIONS.maxPendingBytes,
      () => {},
      hub.metrics,
      clock,
    );
    hub.inbox.push({ kind: "connect", client });
    await waitUntil(() => client.id > 0, "the client to be registered");
    assert.ok(stuck.unsentBytes > 0, "its ISSUE_ID waits unsent");
    assert.equal(client.writer.writeStartedAt, 0);
    for (let i = 0; i < 100 && !stuck.closed; i++) {
      clock.advance(10);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await waitUntil(() => stuck.closed, "the write deadline");
    assert.ok(clock.now() >= 300, `dropped at ${clock.now()} ms`);
    assert.equal(hub.metrics.disconnects.get("slow_consumer"), 1);
    assert.ok(
      logs.some((line) => /reason=slow_consumer.*write stalled/.test(line)),
      "dropped for the stalled write",
    );
  } finally {
    hub.inbox.close();
    await running;
  }
});

/**
 * A {@linkcode MessageTransport} over a real Deno WebSocket, as a gateway
 * would make one: `send` copies, `bufferedAmount` is what has not left.
 */
class WebSocketTransport implements MessageTransport {
  readonly remoteAddress = "127.0.0.1:4";
  #socket: WebSocket;
  constructor(socket: WebSocket) {
    this.#socket = socket;
  }
  send(bytes: Uint8Array): void {
    this.#socket.send(bytes);
  }
  get unsentBytes(): number {
    return this.#socket.bufferedAmount;
  }
  close(): void {
    this.#socket.close();
  }
}

Deno.test("Message transport: over a real WebSocket, a peer that stops reading is dropped as a slow consumer once bufferedAmount reaches the bound", async () => {
  const maxPendingBytes = MIN_PENDING_BYTES;
  const hub = new Hub({
    ...DEFAULT_HUB_OPTIONS,
    maxPendingBytes,
    maxMessagesPerSecond: 0,
    logger: new Logger({ level: "error", write: () => {} }),
    tokens: null,
  });
  const running = hub.run();
  const stop = new AbortController();
  const upgraded = Promise.withResolvers<WebSocket>();
  const http = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: stop.signal,
    onListen() {},
  }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onopen = () => upgraded.resolve(socket);
    return response;
  });
  // A peer that completes the upgrade and then never reads.
  const peer = await Deno.connect({
    hostname: "127.0.0.1",
    port: http.addr.port,
  });
  try {
    await peer.write(new TextEncoder().encode(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
        `Sec-WebSocket-Version: 13\r\n\r\n`,
    ));
    const socket = await upgraded.promise;
    const stuck = new Connection(
      new WebSocketTransport(socket),
      maxPendingBytes,
      () => {},
      hub.metrics,
    );
    const sender = new Connection(
      new SinkTransport(),
      maxPendingBytes,
      () => {},
    );
    hub.inbox.push({ kind: "connect", client: stuck });
    hub.inbox.push({ kind: "connect", client: sender });
    await waitUntil(() => stuck.id > 0 && sender.id > 0, "registration");
    const chat = encodeFrame(Tag.CHAT, 0, "x".repeat(400));
    const perBatch = 128;
    let sent = 0;
    // The kernel's socket buffers fill first (megabytes on loopback), then
    // bufferedAmount grows to the bound.
    for (let i = 0; i < 2000 && stuck.state !== ConnectionState.Closed; i++) {
      const bytes = concat(...Array.from({ length: perBatch }, () => chat));
      hub.inbox.push({
        kind: "frames",
        client: sender,
        bytes,
        end: bytes.length,
      });
      sent += perBatch;
      await waitUntil(() => sender.framesIn === sent, "the hub to relay");
    }
    assert.equal(
      stuck.state,
      ConnectionState.Closed,
      "the stuck peer was dropped",
    );
    assert.equal(hub.metrics.disconnects.get("slow_consumer"), 1);
  } finally {
    peer.close();
    hub.inbox.close();
    await running;
    stop.abort();
    await http.finished;
  }
});
