/**
 * The cluster's room bus against a real redis-server of each test's own on
 * a free loopback port: several RedisBus instances in this process play the
 * nodes, each with its own Room objects, on the same Redis.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import { readBodyLength, readSenderId } from "../protocol/header.ts";
import { HEADER_SIZE, MAX_BODY_SIZE } from "../protocol/constants.ts";
import { Room } from "../server/room.ts";
import {
  claimNodeNumber,
  ClusterIds,
  type ClusterLink,
  connectCluster,
  reconnectDelay,
  RedisBus,
  roomStreamKey,
} from "../server/cluster/mod.ts";
import { waitUntil } from "./_kit.ts";
import { freePort, REDIS_MISSING, RedisServer } from "./_redis_server.ts";

const ignore = REDIS_MISSING;
// ioredis and its parser keep timers of their own past disconnect.
const sanitizers = { sanitizeOps: false, sanitizeResources: false };
const WAIT_MS = 20_000;
/** The largest client id of the last node number: exact through Lua. */
const BIG_ID = (2 ** 21 - 1) * 2 ** 32 + (2 ** 32 - 1);

interface Delivered {
  room: string;
  id: number;
  body: string;
  sender: number;
}

/** One node: its link, bus, rooms and what it was delivered. */
class Node {
  readonly delivered: Delivered[] = [];
  readonly readyIds = new Map<string, number[]>();
  readonly rooms = new Map<string, Room>();
  lost = 0;
  restored = 0;
  unpublished = 0;
  missed = 0;
  constructor(
    readonly link: ClusterLink,
    readonly number: number,
    readonly bus: RedisBus,
  ) {}

  static async start(url: string, maxInFlight?: number): Promise<Node> {
    const link = await connectCluster(url, {
      retryMinMs: 20,
      retryMaxMs: 200,
    });
    const number = await claimNodeNumber(link.command);
    let node: Node | null = null;
    const bus = new RedisBus(link, (room, frames, count, firstId) => {
      let offset = 0;
      for (let i = 0; i < count; i++) {
        const length = readBodyLength(frames, offset);
        node!.delivered.push({
          room: room.name,
          id: firstId + i,
          sender: readSenderId(frames, offset),
          body: new TextDecoder().decode(
            frames.subarray(
              offset + HEADER_SIZE,
              offset + HEADER_SIZE + length,
            ),
          ),
        });
        offset += HEADER_SIZE + length;
      }
    }, {
      node: number,
      maxInFlight,
      ready: (room, lastId) => {
        const ids = node!.readyIds.get(room.name) ?? [];
        ids.push(lastId);
        node!.readyIds.set(room.name, ids);
      },
      unpublished: (count) => node!.unpublished += count,
      missed: (_room, count) => node!.missed += count,
    });
    node = new Node(link, number, bus);
    link.watch({
      lost: () => node!.lost++,
      restored: () => node!.restored++,
    });
    return node;
  }

  room(name: string): Room {
    let room = this.rooms.get(name);
    if (room === undefined) {
      room = new Room(name);
      this.rooms.set(name, room);
    }
    return room;
  }

  /** Join and wait until the bus's lastId is exact. */
  async join(name: string): Promise<number> {
    const before = this.readyIds.get(name)?.length ?? 0;
    this.bus.join(this.room(name));
    await waitUntil(
      () => (this.readyIds.get(name)?.length ?? 0) > before,
      `node ${this.number} ready in ${name}`,
      WAIT_MS,
    );
    return this.readyIds.get(name)!.at(-1)!;
  }

  /** Publish `bodies` as one run of this node's client `sender`. */
  publish(name: string, sender: number, bodies: string[]): void {
    const frames = bodies.map((body) => encodeFrame(Tag.CHAT, sender, body));
    const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let offset = 0;
    for (const frame of frames) {
      bytes.set(frame, offset);
      offset += frame.length;
    }
    this.bus.publish(this.room(name), bytes, frames.length, `n${sender}`, 1000);
    // The caller's bytes are valid only during the call.
    bytes.fill(0);
  }

  in(name: string): Delivered[] {
    return this.delivered.filter((d) => d.room === name);
  }
}

async function withCluster(
  nodes: number,
  test: (cluster: Node[], url: string, port: number) => Promise<void>,
  maxInFlight?: number,
): Promise<void> {
  const redis = await RedisServer.start();
  const { port, url } = redis;
  const cluster: Node[] = [];
  try {
    for (let i = 0; i < nodes; i++) {
      cluster.push(await Node.start(url, maxInFlight));
    }
    await test(cluster, url, port);
  } finally {
    for (const node of cluster) node.link.close();
    await redis.stop();
  }
}

Deno.test({
  name:
    "Cluster bus: messages published concurrently from three nodes reach every node in one order, ids 1..N",
  ignore,
  ...sanitizers,
  fn: () =>
    withCluster(3, async (nodes) => {
      for (const node of nodes) assert.equal(await node.join("lobby"), 0);
      const rounds = 40;
      let total = 0;
      for (let round = 0; round < rounds; round++) {
        // In one turn every node publishes: runs of 1 to 3 messages.
        for (const node of nodes) {
          const size = 1 + (round + node.number) % 3;
          const bodies = Array.from(
            { length: size },
            (_, i) => `node ${node.number} round ${round} #${i}`,
          );
          node.publish("lobby", node.number * 100 + 1, bodies);
          total += size;
        }
        if (round % 2 === 0) { for (const node of nodes) node.bus.endBatch(); }
        // Let the rounds interleave with deliveries.
        if (round % 5 === 0) await new Promise((r) => setTimeout(r, 0));
      }
      await waitUntil(
        () => nodes.every((node) => node.delivered.length === total),
        `${total} deliveries at every node`,
        WAIT_MS,
      );
      const order = nodes[0].delivered;
      assert.deepEqual(
        order.map((d) => d.id),
        Array.from({ length: total }, (_, i) => i + 1),
      );
      for (const node of nodes.slice(1)) {
        assert.deepEqual(node.delivered, order);
      }
      // Every message came once; each node's own are in its publish order.
      assert.equal(new Set(order.map((d) => d.body)).size, total);
      for (const node of nodes) {
        const own = order.filter((d) => d.sender === node.number * 100 + 1)
          .map((d) =>
            d.body.split(" ").slice(3).map((w) => parseInt(w.replace("#", "")))
          );
        const sorted = [...own].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        assert.deepEqual(own, sorted);
        assert.equal(node.bus.lastId(node.room("lobby")), total);
      }
    }),
});

Deno.test({
  name:
    "Cluster bus: rooms are isolated, each counts its own ids, and ids go on after the last node leaves and joins again",
  ignore,
  ...sanitizers,
  fn: () =>
    withCluster(3, async ([a, b, c]) => {
      await a.join("red");
      await b.join("red");
      await b.join("blue");
      await c.join("blue");
      a.publish("red", 1, ["r1", "r2"]);
      c.publish("blue", 3, ["b1"]);
      b.publish("red", 2, ["r3"]);
      b.publish("blue", 2, ["b2", "b3"]);
      await waitUntil(
        () =>
          a.delivered.length === 3 && b.delivered.length === 6 &&
          c.delivered.length === 3,
        "deliveries in both rooms",
        WAIT_MS,
      );
      assert.deepEqual(a.in("blue"), []);
      assert.deepEqual(c.in("red"), []);
      assert.deepEqual(a.in("red").map((d) => d.id), [1, 2, 3]);
      assert.deepEqual(c.in("blue").map((d) => d.id), [1, 2, 3]);
      assert.deepEqual(b.in("red"), a.in("red"));
      assert.deepEqual(b.in("blue"), c.in("blue"));
      // Everyone leaves red; a node that joins it later goes on from 3.
      a.bus.leave(a.room("red"));
      b.bus.leave(b.room("red"));
      assert.equal(await c.join("red"), 3);
      assert.equal(c.bus.lastId(c.room("red")), 3);
      c.publish("red", 3, ["r4"]);
      await waitUntil(() => c.in("red").length === 1, "r4", WAIT_MS);
      assert.deepEqual(c.in("red").map((d) => [d.id, d.body]), [[4, "r4"]]);
      // The nodes that left red were not delivered r4.
      assert.equal(a.in("red").length, 3);
      assert.equal(b.in("red").length, 3);
    }),
});

Deno.test({
  name:
    "Cluster bus: the room's stream holds each message under its id, with sender, nick, time and body",
  ignore,
  ...sanitizers,
  fn: () =>
    withCluster(2, async ([a, b]) => {
      // A room name and bodies outside ASCII; an empty and a largest body.
      const room = "salle été ☕";
      await a.join(room);
      await b.join(room);
      const bodies = ["hello", "", "x".repeat(MAX_BODY_SIZE)];
      a.publish(room, BIG_ID, bodies);
      b.publish(room, 9, ["bye é"]);
      await waitUntil(() => a.delivered.length === 4, "4 deliveries", WAIT_MS);
      assert.deepEqual(
        a.delivered.map((d) => d.body).sort(),
        [...bodies, "bye é"].sort(),
      );
      const entries = await a.link.command.xrange(
        roomStreamKey(room),
        "-",
        "+",
      );
      const byId = a.delivered.map((d) => [
        `${d.id}-0`,
        [
          "sender",
          String(d.sender),
          "nick",
          `n${d.sender}`,
          "time",
          "1000",
          "body",
          d.body,
        ],
      ]);
      assert.deepEqual(entries, byId);
      assert.ok(a.delivered.some((d) => d.sender === BIG_ID));
    }),
});

Deno.test({
  name:
    "Cluster bus: an unreachable Redis at connect is one line naming the URL",
  ignore,
  ...sanitizers,
  fn: async () => {
    const url = `redis://127.0.0.1:${freePort()}`;
    await assert.rejects(
      connectCluster(url, { connectTimeoutMs: 2000 }),
      (error: Error) => {
        assert.ok(error.message.includes(url), error.message);
        assert.ok(!error.message.includes("\n"), error.message);
        return true;
      },
    );
  },
});

Deno.test({
  name:
    "Cluster bus: Redis killed mid-run is reported lost, publishes in the gap are counted, and after a restart on the same port the rooms are subscribed again and delivery resumes",
  ignore,
  ...sanitizers,
  fn: () =>
    withCluster(2, async ([a, b], _url, port) => {
      // withCluster kills its own redis-server; this test restarts one.
      await a.join("lobby");
      await b.join("lobby");
      a.publish("lobby", 1, ["before"]);
      await waitUntil(() => b.delivered.length === 1, "before", WAIT_MS);
      // Redis publishes a script's message before it answers the script.
      await waitUntil(() => a.bus.inFlightCount === 0, "a's answer", WAIT_MS);
      const first = await a.link.command.info("server");
      const pid = Number(/process_id:(\d+)/.exec(first)![1]);
      Deno.kill(pid, "SIGKILL");
      await waitUntil(
        () => a.lost === 1 && b.lost === 1,
        "lost at both nodes",
        WAIT_MS,
      );
      a.publish("lobby", 1, ["gap 1", "gap 2"]);
      b.publish("lobby", 2, ["gap 3"]);
      a.bus.endBatch();
      b.bus.endBatch();
      assert.equal(a.unpublished + b.unpublished, 3);
      assert.equal(a.bus.unpublishedCount, 2);
      assert.equal(b.bus.unpublishedCount, 1);
      const again = await RedisServer.start(port);
      try {
        await waitUntil(
          () =>
            a.restored === 1 && b.restored === 1 &&
            a.readyIds.get("lobby")!.length === 2 &&
            b.readyIds.get("lobby")!.length === 2,
          "restored and subscribed again at both nodes",
          WAIT_MS,
        );
        b.publish("lobby", 2, ["after"]);
        await waitUntil(
          () => a.delivered.length === 2 && b.delivered.length === 2,
          "after",
          WAIT_MS,
        );
        assert.deepEqual(a.delivered.map((d) => d.body), ["before", "after"]);
        assert.deepEqual(b.delivered, a.delivered);
      } finally {
        await again.stop();
      }
    }),
});

Deno.test({
  name:
    "Cluster bus: messages published while a node's subscriber was cut off are counted as missed, and delivery resumes after them",
  ignore,
  ...sanitizers,
  fn: () =>
    withCluster(2, async ([a, b]) => {
      await a.join("lobby");
      b.publish("lobby", 2, ["seen"]);
      await waitUntil(() => a.delivered.length === 1, "seen", WAIT_MS);
      // One pipeline of b's: Redis cuts a's subscriber off, then runs b's
      // publish, which a cannot receive.
      b.link.command.client("KILL", "TYPE", "pubsub").catch(() => {});
      b.publish("lobby", 2, ["missed 1", "missed 2"]);
      b.bus.endBatch();
      await waitUntil(
        () => a.restored === 1 && a.readyIds.get("lobby")!.length === 2,
        "a subscribed again",
        WAIT_MS,
      );
      assert.equal(a.missed, 2);
      assert.equal(a.bus.missedCount, 2);
      assert.equal(a.bus.lastId(a.room("lobby")), 3);
      b.publish("lobby", 2, ["after"]);
      await waitUntil(() => a.delivered.length === 2, "after", WAIT_MS);
      assert.deepEqual(a.delivered.map((d) => [d.id, d.body]), [
        [1, "seen"],
        [4, "after"],
      ]);
      assert.equal(b.unpublished, 0);
    }),
});

Deno.test({
  name:
    "Cluster bus: node numbers come from one counter and client ids are n * 2^32 + a local counter",
  ignore,
  ...sanitizers,
  fn: () =>
    withCluster(3, (nodes) => {
      assert.deepEqual(nodes.map((n) => n.number), [1, 2, 3]);
      const ids = new ClusterIds(nodes[2].number);
      assert.equal(ids.next(), 3 * 2 ** 32 + 1);
      assert.equal(ids.next(), 3 * 2 ** 32 + 2);
      assert.equal(ClusterIds.nodeOf(3 * 2 ** 32 + 2), 3);
      assert.throws(() => new ClusterIds(2 ** 21), RangeError);
      assert.ok(Number.isSafeInteger(new ClusterIds(2 ** 21 - 1).next()));
      return Promise.resolve();
    }),
});

Deno.test({
  name:
    "Cluster bus: a node that joins while messages flow is delivered exactly the ids after the lastId its ready reports",
  ignore,
  ...sanitizers,
  fn: () =>
    withCluster(2, async ([a, b]) => {
      await a.join("lobby");
      const rounds = 60;
      let joined: Promise<number> | null = null;
      for (let round = 0; round < rounds; round++) {
        a.publish("lobby", 1, [`m${round}a`, `m${round}b`]);
        a.bus.endBatch();
        if (round === 10) joined = b.join("lobby");
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      const lastId = await joined!;
      await waitUntil(
        () => a.delivered.length === 2 * rounds,
        "every message at a",
        WAIT_MS,
      );
      await waitUntil(
        () => b.delivered.at(-1)?.id === 2 * rounds,
        "the last message at b",
        WAIT_MS,
      );
      assert.deepEqual(
        b.delivered.map((d) => d.id),
        Array.from({ length: 2 * rounds - lastId }, (_, i) => lastId + 1 + i),
      );
      assert.deepEqual(b.delivered, a.delivered.slice(lastId));
    }),
});

Deno.test({
  name:
    "Cluster bus: past maxInFlight messages awaiting Redis, publishes are counted as unpublished instead of held",
  ignore,
  ...sanitizers,
  fn: () =>
    withCluster(2, async ([a, b]) => {
      await a.join("lobby");
      // Redis holds b's writes (the script) until unpaused.
      await b.link.command.client("PAUSE", "20000", "WRITE");
      b.publish("lobby", 2, ["one", "two"]);
      b.bus.endBatch();
      b.publish("lobby", 2, ["three"]);
      b.bus.endBatch();
      assert.equal(b.unpublished, 1);
      await a.link.command.client("UNPAUSE");
      await waitUntil(() => a.delivered.length === 2, "one, two", WAIT_MS);
      // Redis publishes a script's message before it answers the script.
      await waitUntil(() => b.bus.inFlightCount === 0, "b's answer", WAIT_MS);
      b.publish("lobby", 2, ["four"]);
      await waitUntil(() => a.delivered.length === 3, "four", WAIT_MS);
      assert.deepEqual(a.delivered.map((d) => d.body), ["one", "two", "four"]);
      assert.equal(b.bus.unpublishedCount, 1);
    }, 2),
});

Deno.test("Cluster bus: reconnect delays double from the first and stop at the cap", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 40].map((attempt) => reconnectDelay(attempt, 100, 1000)),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
});
