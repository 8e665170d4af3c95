/**
 * The HTTP endpoint: `/healthz`, `/metrics` (Prometheus text, checked
 * against a known sequence of events and against what the clients really
 * received), `/stats` (per-connection JSON, paging, `?sort=pending`), in
 * process with `startHttpEndpoint` and on a server subprocess with
 * `--http-port`, including at the open-file cap.
 */

import assert from "node:assert/strict";
import { encodeFrame, type Frame, LOBBY, Tag } from "../protocol/mod.ts";
import {
  type ConnectionStats,
  type HttpEndpoint,
  type Server,
  type ServerStats,
  startHttpEndpoint,
} from "../server/mod.ts";
import {
  addressOf,
  barrier,
  closeAll,
  concat,
  httpGet,
  join,
  nick,
  parseMetrics,
  RawClient,
  readToEnd,
  takeUntil,
  waitForLog,
  waitUntil,
  wireSize,
} from "./_kit.ts";
import { startServerProcess } from "./_process.ts";
import { type LogLines, withServer } from "./_server.ts";
import type { ServerOptions } from "../server/mod.ts";

/** An in-process server with its HTTP endpoint on a free port. */
async function withHttp(
  options: ServerOptions,
  body: (server: Server, http: HttpEndpoint, logs: LogLines) => Promise<void>,
): Promise<void> {
  await withServer(options, async (server, logs) => {
    const http = startHttpEndpoint(server.hub, {
      hostname: "127.0.0.1",
      port: 0,
    });
    try {
      await body(server, http, logs);
    } finally {
      await http.close();
    }
  });
}

async function metrics(port: number): Promise<Map<string, number>> {
  const reply = await httpGet(port, "/metrics");
  assert.equal(reply.status, 200);
  assert.match(reply.headers.get("content-type")!, /^text\/plain/);
  return parseMetrics(reply.body);
}

async function stats(port: number, query = ""): Promise<ServerStats> {
  const reply = await httpGet(port, `/stats${query}`);
  assert.equal(reply.status, 200, reply.body);
  assert.match(reply.headers.get("content-type")!, /application\/json/);
  return JSON.parse(reply.body);
}

/** A client that records every frame it takes, for byte accounting. */
class Counted {
  frames: Frame[] = [];
  constructor(readonly client: RawClient) {}
  async until(stop: (frame: Frame) => boolean): Promise<Frame[]> {
    const frames = await takeUntil(this.client, stop);
    this.frames.push(...frames);
    return frames;
  }
  /** A PING/PONG barrier that keeps every frame, the PONG included. */
  async barrier(): Promise<void> {
    const marker = `counted-${++Counted.pings}`;
    await this.client.send(Tag.PING, marker);
    await this.until((f) =>
      f.tag === Tag.PONG && new TextDecoder().decode(f.body) === marker
    );
  }
  static pings = 0;
  async toEnd(): Promise<void> {
    this.frames.push(...this.client.inbox.splice(0));
    await this.client.waitForEnd();
    this.frames.push(...this.client.inbox.splice(0));
  }
}

Deno.test("HTTP: /healthz answers 200 ok", async () => {
  await withHttp({}, async (_server, http) => {
    const reply = await httpGet(http.address.port, "/healthz");
    assert.equal(reply.status, 200);
    assert.equal(reply.body, "ok\n");
  });
});

Deno.test("HTTP: unknown paths get 404, other methods 405 with Allow, HEAD works", async () => {
  await withHttp({}, async (_server, http) => {
    const port = http.address.port;
    assert.equal((await httpGet(port, "/nope")).status, 404);
    const post = await httpGet(port, "/metrics", "POST");
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    assert.equal((await httpGet(port, "/healthz", "HEAD")).status, 200);
  });
});

Deno.test("HTTP: /metrics counts a known sequence of events exactly", async () => {
  await withHttp(
    { maxClients: 3, maxMessagesPerSecond: 1, messageBurst: 2 },
    async (server, http, logs) => {
      const port = server.address.port;
      const a = new Counted(
        await RawClient.connect(port, { handshake: false }),
      );
      const b = new Counted(
        await RawClient.connect(port, { handshake: false }),
      );
      const c = new Counted(
        await RawClient.connect(port, { handshake: false }),
      );
      for (const counted of [a, b, c]) {
        await counted.until((f) => f.tag === Tag.ISSUE_ID);
        counted.client.id = counted.frames[0].senderId;
      }
      await a.barrier(); // PING 1 from a
      await b.barrier(); // PING 1 from b
      await c.barrier(); // PING 1 from c

      // d is over maxClients.
      const d = new Counted(
        await RawClient.connect(port, { handshake: false }),
      );
      await d.toEnd();

      // a: three CHAT frames in one write; the bucket holds two.
      const chat = (body: string) => encodeFrame(Tag.CHAT, 0, body);
      await a.client.write(concat(chat("one"), chat("two"), chat("three")));
      await a.barrier(); // PING 2 from a
      await b.until((f) => f.tag === Tag.CHAT && f.body.length === 3);
      await c.until((f) => f.tag === Tag.CHAT && f.body.length === 3);

      // b moves to room x; c breaks the protocol; b leaves with CLOSE.
      await b.client.send(Tag.JOIN, "x");
      await b.barrier(); // JOIN + PING 2 from b
      const oversized = new Uint8Array(24);
      new DataView(oversized.buffer).setBigUint64(0, 4096n);
      await c.client.write(oversized);
      await c.toEnd();
      await b.client.send(Tag.CLOSE);
      await b.toEnd();
      await a.barrier(); // PING 3 from a
      await a.client.close();
      await waitForLog(logs, new RegExp(`id=${a.client.id}\\b.*reason=gone`));
      await a.toEnd();

      const m = await metrics(http.address.port);
      const expect = (name: string, value: number) =>
        assert.equal(m.get(name), value, name);
      expect("hubbub_connections", 0);
      expect("hubbub_connections_awaiting_auth", 0);
      expect("hubbub_rooms", 1);
      expect("hubbub_connects_total", 4);
      expect('hubbub_disconnects_total{reason="closed"}', 1);
      expect('hubbub_disconnects_total{reason="gone"}', 1);
      expect('hubbub_disconnects_total{reason="protocol"}', 1);
      expect('hubbub_disconnects_total{reason="server_full"}', 1);
      expect('hubbub_disconnects_total{reason="slow_consumer"}', 0);
      expect('hubbub_disconnects_total{reason="idle_timeout"}', 0);
      expect('hubbub_disconnects_total{reason="auth"}', 0);
      expect('hubbub_disconnects_total{reason="shutdown"}', 0);
      expect("hubbub_slow_consumer_disconnects_total", 0);
      expect("hubbub_chats_relayed_total", 2);
      expect("hubbub_deliveries_total", 6); // 2 chats x 3 members
      expect("hubbub_rate_limited_frames_total", 1);
      expect("hubbub_auth_failures_total", 0);
      expect("hubbub_pending_bytes", 0);
      expect("hubbub_event_queue_depth", 0);
      // In: a 3 CHAT + 3 PING, b JOIN + CLOSE + 2 PING, c 1 PING.
      expect("hubbub_frames_in_total", 3 + 3 + 2 + 2 + 1);
      // Out: every frame the clients received (all streams read to the end).
      const received = [a, b, c, d].flatMap((x) => x.frames);
      expect(
        "hubbub_bytes_out_total",
        received.reduce((sum, f) => sum + wireSize(f), 0),
      );
      // Frames out: every frame received, the farewell frames included.
      expect("hubbub_frames_out_total", received.length);
      assert.ok(m.get("process_resident_memory_bytes")! > 0);
    },
  );
});

Deno.test("HTTP: /metrics frames out include the farewell frames (ERROR before a drop, CLOSE)", async () => {
  await withHttp({ maxClients: 1 }, async (server, http, logs) => {
    const port = server.address.port;
    const a = new Counted(await RawClient.connect(port, { handshake: false }));
    await a.barrier();
    const full = new Counted(
      await RawClient.connect(port, { handshake: false }),
    );
    await full.toEnd(); // ERROR "server full"
    await a.client.send(Tag.CLOSE);
    await a.toEnd(); // CLOSE
    await waitForLog(logs, /reason=closed/);
    const m = await metrics(http.address.port);
    const received = [...a.frames, ...full.frames];
    assert.deepEqual(
      received.map((f) => f.tag),
      [Tag.ISSUE_ID, Tag.PRESENCE, Tag.PONG, Tag.CLOSE, Tag.ERROR],
    );
    assert.equal(
      m.get("hubbub_bytes_out_total"),
      received.reduce((sum, f) => sum + wireSize(f), 0),
    );
    assert.equal(
      m.get("hubbub_frames_out_total"),
      received.length,
      "frames_out_total counts 5 frames sent",
    );
  });
});

Deno.test("HTTP: /metrics bytes in match the bytes of whole frames sent", async () => {
  await withHttp({}, async (server, http) => {
    // An original client sends nothing of its own before these frames.
    const a = await RawClient.connect(server.address.port, { original: true });
    const frames = [
      encodeFrame(Tag.CHAT, 0, "hello"),
      encodeFrame(Tag.PING, 0, "p"),
      encodeFrame(Tag.NICK, 0, "zed"),
      encodeFrame(Tag.WHO, 0),
      encodeFrame(99, 0, "unknown tag"),
    ];
    await a.write(concat(...frames));
    await a.send(Tag.PING, "last");
    await takeUntil(a, (f) => f.tag === Tag.PONG && f.body.length === 4);
    const m = await metrics(http.address.port);
    assert.equal(m.get("hubbub_frames_in_total"), frames.length + 1);
    const sent = frames.reduce((sum, f) => sum + f.length, 0) + 24 + 4;
    assert.equal(m.get("hubbub_bytes_in_total"), sent);
    await a.close();
  });
});

Deno.test("HTTP: /metrics histogram of handler batches is cumulative and consistent", async () => {
  await withHttp({}, async (server, http) => {
    const a = await RawClient.connect(server.address.port);
    for (let i = 0; i < 5; i++) await barrier(a);
    const reply = await httpGet(http.address.port, "/metrics");
    const lines = reply.body.split("\n");
    assert.ok(
      lines.includes("# TYPE hubbub_handler_batch_seconds histogram"),
    );
    const m = parseMetrics(reply.body);
    const buckets = [...m.entries()]
      .filter(([name]) =>
        name.startsWith("hubbub_handler_batch_seconds_bucket")
      )
      .map(([name, value]) => [/le="([^"]+)"/.exec(name)![1], value] as const);
    assert.ok(buckets.length >= 5);
    assert.equal(buckets[buckets.length - 1][0], "+Inf");
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(buckets[i][1] >= buckets[i - 1][1], "buckets are cumulative");
      if (buckets[i][0] !== "+Inf") {
        assert.ok(Number(buckets[i][0]) > Number(buckets[i - 1][0]));
      }
    }
    const count = m.get("hubbub_handler_batch_seconds_count")!;
    assert.equal(buckets[buckets.length - 1][1], count);
    assert.ok(count >= 6, `${count} batches`);
    assert.ok(m.get("hubbub_handler_batch_seconds_sum")! > 0);
    // Every metric has HELP and TYPE; counters end in _total.
    for (const line of lines.filter((l) => l.startsWith("# TYPE "))) {
      const [, , name, type] = line.split(" ");
      assert.ok(lines.some((l) => l.startsWith(`# HELP ${name} `)), name);
      if (type === "counter") assert.match(name, /_total$/);
    }
    await a.close();
  });
});

Deno.test("HTTP: /metrics shows the event queue depth, pending bytes and slow-consumer disconnects", async () => {
  await withHttp(
    { maxPendingBytes: 256 * 1024, maxMessagesPerSecond: 0 },
    async (server, http, logs) => {
      const port = server.address.port;
      const slow = await RawClient.connect(port, { read: false });
      const a = await RawClient.connect(port);
      // Before the drop: a backlog for slow shows in pending bytes.
      const body = "x".repeat(400);
      const batch = concat(
        ...Array.from({ length: 500 }, () => encodeFrame(Tag.CHAT, 0, body)),
      );
      let sawPending = false;
      for (
        let i = 0;
        i < 40 && !logs.some((l) => /slow_consumer/.test(l));
        i++
      ) {
        await a.write(batch);
        await a.chats(500, 10_000);
        if (!logs.some((l) => /slow_consumer/.test(l))) {
          const m = await metrics(http.address.port);
          if (m.get("hubbub_pending_bytes")! > 0) sawPending = true;
        }
      }
      await waitForLog(logs, /slow_consumer/);
      assert.ok(sawPending, "pending bytes never showed");
      const m = await metrics(http.address.port);
      assert.equal(m.get("hubbub_slow_consumer_disconnects_total"), 1);
      assert.equal(
        m.get('hubbub_disconnects_total{reason="slow_consumer"}'),
        1,
      );
      assert.equal(m.get("hubbub_connections"), 1);
      assert.equal(m.get("hubbub_event_queue_depth"), 0);
      assert.ok(m.has("hubbub_event_queue_bytes"));
      await readToEnd(slow.conn);
      await closeAll(slow, a);
    },
  );
});

Deno.test("HTTP: /stats lists every connection with id, nick, room, address, times, frames and pending bytes", async () => {
  await withHttp({}, async (server, http) => {
    const before = Date.now();
    const port = server.address.port;
    const a = await RawClient.connect(port);
    const b = await RawClient.connect(port);
    await nick(a, "alice");
    await join(a, "r1");
    await a.send(Tag.CHAT, "hi");
    await a.next(Tag.CHAT);
    await barrier(b);
    const doc = await stats(http.address.port);
    assert.equal(doc.server.connections, 2);
    assert.equal(doc.server.rooms, 2);
    assert.equal(doc.server.max_clients, 0);
    assert.ok(Date.parse(doc.server.started_at) <= before);
    assert.equal(doc.total, 2);
    assert.equal(doc.sort, "id");
    assert.equal(doc.totals.connects, 2);
    assert.equal(doc.totals.chats_relayed, 1);
    const [sa, sb] = doc.connections;
    assert.equal(sa.id, a.id);
    assert.equal(sa.nick, "alice");
    assert.equal(sa.room, "r1");
    assert.equal(sa.address, addressOf(a));
    assert.ok(Date.parse(sa.connected_since) >= before - 1000);
    assert.ok(Date.parse(sa.connected_since) <= Date.now());
    assert.equal(sa.frames_in, 4); // PONG (hubbub client), NICK, JOIN, CHAT
    assert.ok(sa.frames_out >= 4); // ISSUE_ID, join, nick, join, CHAT
    assert.ok(sa.bytes_in > 0 && sa.bytes_out > 0);
    assert.equal(sa.pending_bytes, 0);
    assert.equal(sa.rate_limited_frames, 0);
    assert.equal(sb.id, b.id);
    assert.equal(sb.nick, null);
    assert.equal(sb.room, LOBBY);
    assert.equal(sb.frames_in, 2); // PONG (hubbub client), the barrier PING
    await closeAll(a, b);
  });
});

Deno.test("HTTP: /stats pages with offset and limit and sorts by pending bytes", async () => {
  await withHttp(
    { maxPendingBytes: 64 * 1024 * 1024, maxMessagesPerSecond: 0 },
    async (server, http) => {
      const port = server.address.port;
      const clients = [await RawClient.connect(port)];
      const stuck = await RawClient.connect(port, { read: false }); // id 2
      for (let i = 0; i < 3; i++) clients.push(await RawClient.connect(port));
      // A backlog for the client that does not read.
      const body = "x".repeat(400);
      const batch = concat(
        ...Array.from({ length: 1000 }, () => encodeFrame(Tag.CHAT, 0, body)),
      );
      for (let i = 0; i < 12; i++) {
        await clients[0].write(batch);
        await clients[0].chats(1000, 10_000);
      }
      const page = await stats(http.address.port, "?offset=1&limit=2");
      assert.equal(page.total, 5);
      assert.equal(page.offset, 1);
      assert.equal(page.limit, 2);
      assert.deepEqual(page.connections.map((c) => c.id), [2, 3]);
      const byPending = await stats(http.address.port, "?sort=pending");
      assert.equal(byPending.sort, "pending");
      const first: ConnectionStats = byPending.connections[0];
      assert.equal(first.id, 2);
      assert.ok(first.pending_bytes > 0, "no pending bytes for the stuck one");
      assert.ok(byPending.totals.pending_bytes >= first.pending_bytes);
      const pending = byPending.connections.map((c) => c.pending_bytes);
      assert.deepEqual(pending, [...pending].sort((x, y) => y - x));
      const empty = await stats(http.address.port, "?offset=10");
      assert.deepEqual(empty.connections, []);
      for (
        const bad of ["?sort=name", "?limit=-1", "?offset=x", "?limit=1.5"]
      ) {
        const reply = await httpGet(http.address.port, `/stats${bad}`);
        assert.equal(reply.status, 400, bad);
        assert.match(JSON.parse(reply.body).error, /offset and limit/);
      }
      await closeAll(stuck, ...clients);
    },
  );
});

Deno.test("HTTP: the server process serves /healthz, /metrics and /stats on --http-port", async () => {
  const server = await startServerProcess([
    "--http-port",
    "0",
    "--http-host",
    "127.0.0.1",
  ]);
  const a = await RawClient.connect(server.port);
  try {
    assert.ok(server.httpPort !== undefined, "no http= in the Listening line");
    assert.equal((await httpGet(server.httpPort!, "/healthz")).body, "ok\n");
    const m = await metrics(server.httpPort!);
    assert.equal(m.get("hubbub_connections"), 1);
    const doc = await stats(server.httpPort!);
    assert.deepEqual(doc.connections.map((c) => c.id), [a.id]);
  } finally {
    await a.close();
    await server.stop();
  }
});

Deno.test("HTTP: a request at the open-file cap does not crash the server", async () => {
  const server = await startServerProcess(["--http-port", "0"], {
    openFileLimit: 64,
  });
  const clients: RawClient[] = [];
  try {
    // Fill the process up to its open-file cap with chat clients.
    for (let i = 0; i < 200; i++) {
      const client = await RawClient.connect(server.port, { handshake: false });
      clients.push(client);
      const first = await client.next(undefined, 3000);
      if (first.tag !== Tag.ISSUE_ID) break;
    }
    // An HTTP request now may be refused or fail, but must not kill the
    // server.
    await httpGet(server.httpPort!, "/healthz", "GET", 1500).catch(() => {});
    await closeAll(...clients.splice(0, 20));
    await waitUntil(
      () =>
        server.process.exited !== null ||
        server.lines.filter((l) => /Client disconnected/.test(l)).length >= 20,
      "twenty clients to be seen leaving",
    );
    assert.equal(
      server.process.exited,
      null,
      `the server died:\n${server.lines.slice(-5).join("\n")}`,
    );
    // The HTTP listener comes back once descriptors are free again.
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      status = await httpGet(server.httpPort!, "/healthz", "GET", 1000)
        .then((response) => response.status, () => 0);
      if (status !== 200) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.equal(
      status,
      200,
      `no /healthz:\n${server.lines.slice(-5).join("\n")}`,
    );
  } finally {
    await closeAll(...clients);
    await server.stop();
  }
});

Deno.test("HTTP: connections refused at the open-file cap are counted as connects too", async () => {
  // No presence announcements: nothing is written to a served client after
  // its ISSUE_ID, so when they all close at once the server sees each one's
  // end of stream (reason gone). With announcements, the server could be
  // writing "left" notices to clients already closed, and how many writes
  // failed first (another reason) depended on the machine's load.
  const server = await startServerProcess([
    "--http-port",
    "0",
    "--presence-max-members",
    "0",
  ], { openFileLimit: 64 });
  const clients: RawClient[] = [];
  let refused = 0;
  try {
    for (let i = 0; i < 200 && refused < 5; i++) {
      const client = await RawClient.connect(server.port, { handshake: false });
      clients.push(client);
      const first = await client.next(undefined, 3000);
      if (first.tag !== Tag.ISSUE_ID) refused++;
    }
    const served = clients.length - refused;
    await closeAll(...clients.splice(0));
    await waitUntil(
      () =>
        server.lines.filter((l) => /Client disconnected/.test(l)).length >=
          served,
      "every client to be seen leaving",
    );
    const m = await metrics(server.httpPort!);
    assert.equal(m.get('hubbub_disconnects_total{reason="server_full"}'), 5);
    assert.equal(m.get('hubbub_disconnects_total{reason="gone"}'), served);
    // "Connections accepted, refused ones included."
    assert.equal(m.get("hubbub_connects_total"), served + 5);
  } finally {
    await closeAll(...clients);
    await server.stop();
  }
});
