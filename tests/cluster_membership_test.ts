/**
 * Cluster membership against a real redis-server on a free loopback port:
 * several ClusterMembership / NodeHeartbeat pairs play the nodes.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import {
  ClusterMembership,
  NICKNAME_TAKEN,
} from "../server/cluster/membership.ts";
import { NodeHeartbeat } from "../server/cluster/heartbeat.ts";
import type { RemovedMember } from "../server/cluster/membership_redis.ts";
import {
  NICKS_KEY,
  nodeKey,
  ROOMS_KEY,
} from "../server/cluster/membership_keys.ts";
import { FakeClock } from "./_fake_clock.ts";
import { REDIS_MISSING, RedisServer } from "./_redis_server.ts";

/** A redis-server of the test's own, and clients on it. */
class TestRedis {
  #server: RedisServer;
  #clients: Redis[] = [];

  private constructor(server: RedisServer) {
    this.#server = server;
  }

  static async start(): Promise<TestRedis> {
    return new TestRedis(await RedisServer.start());
  }

  get port(): number {
    return this.#server.port;
  }

  client(): Redis {
    const client = new Redis({
      host: "127.0.0.1",
      port: this.port,
      enableAutoPipelining: true,
      maxRetriesPerRequest: 1,
    });
    this.#clients.push(client);
    return client;
  }

  async stop(): Promise<void> {
    for (const client of this.#clients) client.disconnect();
    await this.#server.stop("SIGTERM");
  }
}

/** One node: its membership and heartbeat on its own connection. */
function node(
  redis: TestRedis,
  number: number,
  clock: FakeClock,
  ttlMs = 60_000,
) {
  const errors: unknown[] = [];
  const reaped: RemovedMember[][] = [];
  let evicted = 0;
  const client = redis.client();
  const membership = new ClusterMembership(client, number, (error) => {
    errors.push(error);
  });
  const heartbeat = new NodeHeartbeat(client, number, {
    clock,
    intervalMs: 100,
    ttlMs,
    onReaped: (removed) => reaped.push(removed),
    onEvicted: () => evicted++,
    onError: (error) => errors.push(error),
  });
  return {
    membership,
    heartbeat,
    errors,
    reaped,
    evicted: () => evicted,
    client,
  };
}

/** Poll until `check` is true (no fixed sleep decides the outcome). */
async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  limitMs = 20_000,
): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const byRoomAndId = (a: RemovedMember, b: RemovedMember) =>
  a.room < b.room ? -1 : a.room > b.room ? 1 : a.id - b.id;

const ID = (n: number, local: number) => n * 2 ** 32 + local;

/** A test on a Redis of its own, stopped after it (skipped without Redis). */
function redisTest(
  name: string,
  body: (redis: TestRedis) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: REDIS_MISSING,
    async fn() {
      const redis = await TestRedis.start();
      try {
        await body(redis);
      } finally {
        await redis.stop();
      }
    },
  });
}

redisTest(
  "Cluster membership: WHO and ROOMS list the members of every node, largest room first",
  async (redis) => {
    const clock = new FakeClock();
    const [a, b, c] = [1, 2, 3].map((n) => node(redis, n, clock));
    for (const n of [a, b, c]) await n.heartbeat.start();
    await a.membership.join(ID(1, 1), "lobby");
    await b.membership.join(ID(2, 1), "lobby");
    await c.membership.join(ID(3, 1), "lobby");
    await b.membership.join(ID(2, 2), "rust");
    await c.membership.join(ID(3, 2), "rust");
    await a.membership.join(ID(1, 2), "zig");
    assert.deepEqual(
      (await b.membership.claimNick(ID(2, 1), "bob")).ok,
      true,
    );

    assert.deepEqual(await c.membership.who("lobby"), [
      { id: ID(1, 1), nick: null },
      { id: ID(2, 1), nick: "bob" },
      { id: ID(3, 1), nick: null },
    ]);
    assert.deepEqual(await a.membership.rooms(), [
      { room: "lobby", members: 3 },
      { room: "rust", members: 2 },
      { room: "zig", members: 1 },
    ]);

    // Redis forgetting its cached scripts changes nothing.
    await redis.client().script("FLUSH");
    // Moving rooms leaves the old one; the last member out empties it.
    await a.membership.join(ID(1, 2), "rust");
    await b.membership.part(ID(2, 1));
    await c.membership.remove(ID(3, 1));
    assert.deepEqual(await b.membership.rooms(), [
      { room: "rust", members: 3 },
      { room: "lobby", members: 1 },
    ]);
    assert.deepEqual(await b.membership.who("zig"), []);
    assert.deepEqual(
      await redis.client().smembers(ROOMS_KEY).then((r) => r.sort()),
      [
        "lobby",
        "rust",
      ],
    );
    // A member who parted keeps its nickname; one removed does not.
    assert.equal(
      (await c.membership.claimNick(ID(3, 2), "bob")).ok,
      false,
    );
    for (const n of [a, b, c]) assert.deepEqual(n.errors, []);
  },
);

redisTest(
  "Cluster membership: a nickname held on one node, or a lookalike of it, is refused on the others",
  async (redis) => {
    const clock = new FakeClock();
    const [a, b] = [1, 2].map((n) => node(redis, n, clock));
    for (const n of [a, b]) await n.heartbeat.start();
    const ann = ID(1, 1);
    const bob = ID(2, 1);
    await a.membership.join(ann, "lobby");
    await b.membership.join(bob, "lobby");

    assert.deepEqual(await a.membership.claimNick(ann, "alice"), {
      ok: true,
    });
    for (
      const variant of [
        "alice",
        "ALICE",
        "\u0430lice",
        "al\u0131ce",
        "ａｌｉｃｅ",
      ]
    ) {
      assert.deepEqual(
        await b.membership.claimNick(bob, variant),
        { ok: false, reason: NICKNAME_TAKEN },
        variant,
      );
    }
    // Its holder may change its case.
    assert.deepEqual(await a.membership.claimNick(ann, "Alice"), {
      ok: true,
    });
    assert.deepEqual(await b.membership.who("lobby"), [
      { id: ann, nick: "Alice" },
      { id: bob, nick: null },
    ]);

    // Two nodes racing for one free name: exactly one wins.
    const [first, second] = await Promise.all([
      a.membership.claimNick(ann, "carol"),
      b.membership.claimNick(bob, "CAROL"),
    ]);
    assert.equal([first.ok, second.ok].filter((ok) => ok).length, 1);

    // A rename frees the old name (ann now holds "carol" or still "Alice").
    await a.membership.claimNick(ann, "dora");
    assert.deepEqual(await b.membership.claimNick(bob, "alice"), {
      ok: true,
    });
    assert.deepEqual(await a.membership.claimNick(ann, "Carol"), {
      ok: true,
    });
    // Leaving frees it too.
    await b.membership.remove(bob);
    assert.deepEqual(await a.membership.claimNick(ann, "alice"), {
      ok: true,
    });
    assert.deepEqual(await redis.client().hvals(NICKS_KEY), [String(ann)]);
    for (const n of [a, b]) assert.deepEqual(n.errors, []);
  },
);

redisTest(
  "Cluster membership: a node that stops heartbeating is reaped by one other node, its members leave and its nicknames are freed",
  async (redis) => {
    const clock = new FakeClock();
    const ttlMs = 300;
    const dead = node(redis, 1, clock, ttlMs);
    const [b, c] = [2, 3].map((n) => node(redis, n, clock, 60_000));
    for (const n of [dead, b, c]) await n.heartbeat.start();
    await dead.membership.join(ID(1, 1), "lobby");
    await dead.membership.claimNick(ID(1, 1), "ann");
    await dead.membership.join(ID(1, 2), "rust");
    await dead.membership.claimNick(ID(1, 3), "nomad"); // in no room
    await b.membership.join(ID(2, 1), "lobby");

    // Alive: the checks remove nothing.
    assert.deepEqual(await b.heartbeat.check(), []);

    // The fake clock stands still, so no timer beats: the node is silent.
    const watcher = redis.client();
    await until(
      async () => (await watcher.exists(nodeKey(1, "alive"))) === 0,
      "the alive key to expire",
    );
    // Both survivors check at once; one reaps and reports.
    const [fromB, fromC] = await Promise.all([
      b.heartbeat.check(),
      c.heartbeat.check(),
    ]);
    const removed = [...fromB, ...fromC].sort(byRoomAndId);
    assert.ok(fromB.length === 0 || fromC.length === 0);
    assert.equal(
      await watcher.get(nodeKey(1, "reaper")),
      fromB.length > 0 ? "2" : "3",
    );
    assert.deepEqual(removed, [
      { node: 1, room: "lobby", id: ID(1, 1), nick: "ann" },
      { node: 1, room: "rust", id: ID(1, 2), nick: null },
    ]);
    assert.deepEqual(
      [...b.reaped, ...c.reaped].flat().sort(byRoomAndId),
      removed,
    );

    assert.deepEqual(await c.membership.who("lobby"), [
      { id: ID(2, 1), nick: null },
    ]);
    assert.deepEqual(await c.membership.rooms(), [
      { room: "lobby", members: 1 },
    ]);
    assert.equal((await b.membership.claimNick(ID(2, 1), "ANN")).ok, true);
    assert.equal((await b.membership.claimNick(ID(2, 1), "nomad")).ok, true);
    assert.equal(await watcher.exists(nodeKey(1, "clients")), 0);
    assert.deepEqual(await b.heartbeat.check(), []);

    // The reaped node, beating again (its timer only ever stood still:
    // the fake clock was not advanced), learns it was evicted and does
    // not come back to life.
    clock.advance(100);
    await until(() => dead.evicted() === 1, "the eviction notice");
    assert.equal(await watcher.exists(nodeKey(1, "alive")), 0);
    // Until it registers again, it may not record clients.
    await dead.membership.join(ID(1, 5), "lobby");
    assert.match(String(dead.errors.pop()), /NOTREGISTERED/);
    await assert.rejects(
      dead.membership.claimNick(ID(1, 5), "eve"),
      /NOTREGISTERED/,
    );
    assert.deepEqual(dead.errors, []);
    // It may register again and record its clients anew.
    await dead.heartbeat.start();
    assert.equal(await watcher.exists(nodeKey(1, "alive")), 1);
    await dead.membership.join(ID(1, 1), "lobby");
    assert.deepEqual(await c.membership.who("lobby"), [
      { id: ID(1, 1), nick: null },
      { id: ID(2, 1), nick: "nomad" },
    ]);
    dead.heartbeat.stop();
    for (const n of [b, c]) assert.deepEqual(n.errors, []);
  },
);

redisTest(
  "Cluster membership: a clean shutdown removes the node's members at once",
  async (redis) => {
    const clock = new FakeClock();
    const [a, b] = [1, 2].map((n) => node(redis, n, clock));
    for (const n of [a, b]) await n.heartbeat.start();
    await a.membership.join(ID(1, 1), "lobby");
    await a.membership.claimNick(ID(1, 1), "ann");
    await b.membership.join(ID(2, 1), "lobby");

    a.heartbeat.stop();
    assert.deepEqual(await a.membership.leaveCluster(), [
      { node: 1, room: "lobby", id: ID(1, 1), nick: "ann" },
    ]);
    assert.deepEqual(await b.membership.who("lobby"), [
      { id: ID(2, 1), nick: null },
    ]);
    assert.equal((await b.membership.claimNick(ID(2, 1), "ann")).ok, true);
    const watcher = redis.client();
    assert.equal(await watcher.exists(nodeKey(1, "alive")), 0);
    assert.equal(await watcher.sismember("hubbub:nodes", "1"), 0);
    // Nothing is left for a reaper to report.
    assert.deepEqual(await b.heartbeat.check(), []);
  },
);

redisTest(
  "Cluster membership: after Redis loses its keys, a node learns it, restores its clients and is told of a nickname taken meanwhile",
  async (redis) => {
    const clock = new FakeClock();
    const [a, b] = [1, 2].map((n) => node(redis, n, clock));
    for (const n of [a, b]) await n.heartbeat.start();
    const clients = [
      { id: ID(1, 1), room: "lobby", nick: "ann" },
      { id: ID(1, 2), room: "rust", nick: "bob" },
      { id: ID(1, 3), room: null, nick: "cy" },
      { id: ID(1, 4), room: "rust", nick: null },
    ];
    for (const { id, room, nick } of clients) {
      if (nick !== null) await a.membership.claimNick(id, nick);
      if (room !== null) await a.membership.join(id, room);
    }

    await redis.client().flushall(); // as a Redis restart without persistence
    clock.advance(100);
    await until(() => a.evicted() === 1 && b.evicted() === 1, "evictions");
    assert.deepEqual(await b.membership.rooms(["lobby"]), [
      { room: "lobby", members: 0 },
    ]);

    for (const n of [a, b]) await n.heartbeat.start();
    assert.deepEqual(await b.membership.claimNick(ID(2, 1), "BOB"), {
      ok: true,
    });
    assert.deepEqual(await a.membership.restore(clients), [ID(1, 2)]);
    assert.deepEqual(await b.membership.rooms(["lobby"]), [
      { room: "rust", members: 2 },
      { room: "lobby", members: 1 },
    ]);
    assert.deepEqual(await b.membership.who("rust"), [
      { id: ID(1, 2), nick: null },
      { id: ID(1, 4), nick: null },
    ]);
    assert.equal((await b.membership.claimNick(ID(2, 1), "Cy")).ok, false);
    // Restoring again replaces, and what it no longer lists is gone.
    assert.deepEqual(await a.membership.restore(clients.slice(0, 1)), []);
    assert.deepEqual(await b.membership.who("rust"), []);
    assert.equal((await b.membership.claimNick(ID(2, 1), "Cy")).ok, true);
    for (const n of [a, b]) n.heartbeat.stop();
    for (const n of [a, b]) assert.deepEqual(n.errors, []);
  },
);

redisTest(
  "Cluster membership: a heartbeat stopped while its first beat is on its way leaves no timer",
  async (redis) => {
    const clock = new FakeClock();
    const a = node(redis, 1, clock);
    const started = a.heartbeat.start();
    a.heartbeat.stop();
    await started;
    assert.equal(clock.pendingTimers, 0);
    await a.heartbeat.start();
    assert.equal(clock.pendingTimers, 1);
    a.heartbeat.stop();
    assert.equal(clock.pendingTimers, 0);
  },
);
