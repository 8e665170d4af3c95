/**
 * Cluster mode end to end: real server processes started with `--redis`
 * on one redis-server of each test's own (a free loopback port), clients
 * over real sockets on every node.
 */

import assert from "node:assert/strict";
import { decodeJsonBody, type Frame, Tag } from "../protocol/mod.ts";
import {
  closeAll,
  joinConfirmed,
  nextError,
  presenceOf,
  RawClient,
  takeUntil,
  text,
  whoIsHere,
} from "./_kit.ts";
import {
  runDeno,
  SERVER_MAIN,
  type ServerProcess,
  startServerProcess,
} from "./_process.ts";
import { freePort, REDIS_MISSING, RedisServer } from "./_redis_server.ts";

const ignore = REDIS_MISSING;

/** Generous: the machine is shared and nodes start slowly under load. */
const WAIT_MS = 30_000;
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-env"];

/** `count` nodes on `redis`, started together. */
function startNodes(
  redis: RedisServer,
  count: number,
  extra: string[] = [],
): Promise<ServerProcess[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        startServerProcess(["--redis", redis.url, ...extra], {
          permissions: PERMISSIONS,
        }),
    ),
  );
}

async function stopNodes(nodes: ServerProcess[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.stop("SIGKILL")));
}

/** Connect to a node and join `room` (confirmed: the node receives it). */
async function member(node: ServerProcess, room: string): Promise<RawClient> {
  const client = await RawClient.connect(node.port);
  await joinConfirmed(client, room, WAIT_MS);
  return client;
}

/** The next `count` CHAT bodies the client gets (other tags skipped). */
async function chats(client: RawClient, count: number): Promise<string[]> {
  const got: string[] = [];
  while (got.length < count) {
    got.push(text(await client.next(Tag.CHAT, WAIT_MS)));
  }
  return got;
}

/** The next ERROR saying `reason` (other frames skipped). */
async function notice(client: RawClient, reason: string): Promise<void> {
  await takeUntil(
    client,
    (frame) => frame.tag === Tag.ERROR && text(frame) === reason,
    WAIT_MS,
  );
}

async function metric(port: number, name: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  const body = await response.text();
  const line = body.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(" ")[1]);
}

async function withCluster(
  nodeCount: number,
  body: (redis: RedisServer, nodes: ServerProcess[]) => Promise<void>,
  extra: string[] = [],
): Promise<void> {
  const redis = new RedisServer();
  await redis.start();
  let nodes: ServerProcess[] = [];
  try {
    nodes = await startNodes(redis, nodeCount, extra);
    await body(redis, nodes);
  } finally {
    await stopNodes(nodes);
    await redis.stop();
  }
}

Deno.test({
  name:
    "Cluster: messages cross nodes in one order for every member, and rooms stay apart",
  ignore,
  async fn() {
    await withCluster(3, async (_redis, nodes) => {
      const members = await Promise.all(
        nodes.flatMap((node) => [member(node, "order"), member(node, "order")]),
      );
      const others = await Promise.all(
        nodes.map((node) => member(node, "apart")),
      );
      try {
        const perSender = 20;
        // Every member sends at once, from every node.
        await Promise.all(members.map(async (client, i) => {
          for (let k = 0; k < perSender; k++) {
            await client.send(Tag.CHAT, `m${i}-${k}`);
          }
        }));
        const total = members.length * perSender;
        const seen = await Promise.all(members.map((c) => chats(c, total)));
        for (let i = 1; i < seen.length; i++) {
          assert.deepEqual(seen[i], seen[0], `member ${i} saw another order`);
        }
        // Each sender's messages keep its own order.
        for (let i = 0; i < members.length; i++) {
          const mine = seen[0].filter((body) => body.startsWith(`m${i}-`));
          assert.deepEqual(
            mine,
            Array.from({ length: perSender }, (_, k) => `m${i}-${k}`),
          );
        }
        // The other room got none of it: only its own messages.
        await Promise.all(others.map((c, i) => c.send(Tag.CHAT, `apart-${i}`)));
        for (const client of others) {
          const got = await chats(client, others.length);
          assert.deepEqual(
            [...got].sort(),
            others.map((_, i) => `apart-${i}`),
          );
        }
      } finally {
        await closeAll(...members, ...others);
      }
    });
  },
});

Deno.test({
  name:
    "Cluster: presence and WHO span the nodes, a nickname is unique across nodes, and history replays from another node",
  ignore,
  async fn() {
    await withCluster(3, async (_redis, nodes) => {
      const ann = await member(nodes[0], "team");
      const bob = await member(nodes[1], "team");
      const cat = await member(nodes[2], "team");
      try {
        // Ann, on another node, hears Bob and Cat join.
        const heard = new Set<number>();
        await takeUntil(ann, (frame) => {
          if (frame.tag === Tag.PRESENCE) {
            const presence = presenceOf(frame);
            if (presence.event === "join") heard.add(presence.id);
          }
          return heard.has(bob.id) && heard.has(cat.id);
        }, WAIT_MS);

        await ann.send(Tag.NICK, "ann");
        await takeUntil(
          ann,
          (f) => f.tag === Tag.PRESENCE && presenceOf(f).event === "nick",
          WAIT_MS,
        );
        await bob.send(Tag.NICK, "Ann");
        assert.deepEqual(await nextError(bob, WAIT_MS), {
          tag: Tag.NICK,
          reason: "nickname is taken",
        });
        await bob.send(Tag.NICK, "bob");
        // Cat, on a third node, hears Bob's new name.
        await takeUntil(cat, (f) => {
          if (f.tag !== Tag.PRESENCE) return false;
          const p = presenceOf(f);
          return p.event === "nick" && p.id === bob.id && p.nick === "bob";
        }, WAIT_MS);

        const who = await whoIsHere(cat);
        assert.deepEqual(
          who,
          [
            { id: ann.id, nick: "ann" },
            { id: bob.id, nick: "bob" },
            { id: cat.id, nick: null },
          ].sort((a, b) => a.id - b.id),
        );
        // Ids are unique across nodes: node n's are n * 2^32 + k.
        assert.equal(
          new Set(who.map((m) => Math.floor(m.id / 2 ** 32))).size,
          3,
        );

        // History: Ann's messages, replayed to a joiner on another node.
        for (const body of ["one", "two", "three"]) {
          await ann.send(Tag.CHAT, body);
        }
        await chats(cat, 3);
        const late = await RawClient.connect(nodes[2].port);
        try {
          const confirmation = (await joinConfirmed(late, "team", WAIT_MS))
            .pop()!;
          const lastId = presenceOf(confirmation).last_id!;
          assert.equal(lastId, 3);
          await late.send(
            Tag.HISTORY,
            JSON.stringify({ last: 10, until: lastId }),
          );
          const frames = await takeUntil(
            late,
            (f) => f.tag === Tag.HISTORY_END,
            WAIT_MS,
          );
          const texts = frames.filter((f: Frame) => f.tag === Tag.HISTORY_TEXT)
            .map(text);
          assert.deepEqual(texts, ["one", "two", "three"]);
          const entries = frames.filter((f: Frame) => f.tag === Tag.HISTORY)
            .map((f) => decodeJsonBody<{ id: number; nick: string }>(f.body)!);
          assert.deepEqual(entries.map((e) => [e.id, e.nick]), [
            [1, "ann"],
            [2, "ann"],
            [3, "ann"],
          ]);
          const end = decodeJsonBody<{ count: number; complete: boolean }>(
            frames.at(-1)!.body,
          )!;
          assert.equal(end.count, 3);
          assert.equal(end.complete, true);
        } finally {
          await late.close();
        }
      } finally {
        await closeAll(ann, bob, cat);
      }
      // The test helper turns history off unless a test names it; cluster
      // mode ignores the file and keeps history in Redis.
    }, ["--history-db", ":memory:"]);
  },
});

Deno.test({
  name:
    "Cluster: a joiner on another node while messages flow gets exactly the messages after its last_id",
  ignore,
  async fn() {
    await withCluster(2, async (_redis, nodes) => {
      const sender = await member(nodes[0], "flow");
      const joiners: RawClient[] = [];
      let sending = Promise.resolve();
      try {
        // Message k of this room has id k: the sender is its only source.
        const total = 400;
        sending = (async () => {
          for (let k = 1; k <= total; k++) {
            await sender.send(Tag.CHAT, String(k));
            if (k % 20 === 0) await new Promise((r) => setTimeout(r, 1));
          }
        })();
        for (let j = 0; j < 3; j++) {
          const joiner = await RawClient.connect(nodes[1].port);
          joiners.push(joiner);
          const frames = await joinConfirmed(joiner, "flow", WAIT_MS);
          const lastId = presenceOf(frames.at(-1)!).last_id!;
          assert.ok(
            frames.every((f) => f.tag !== Tag.CHAT),
            "no CHAT of the room before the confirmation",
          );
          if (lastId >= total) {
            joiners.pop();
            await joiner.close();
            continue;
          }
          const first = Number(text(await joiner.next(Tag.CHAT, WAIT_MS)));
          assert.equal(first, lastId + 1, `joiner ${j}: last_id ${lastId}`);
        }
        await sending;
        for (const joiner of joiners) {
          const got = await takeUntil(
            joiner,
            (f) => f.tag === Tag.CHAT && text(f) === String(total),
            WAIT_MS,
          );
          const ids = got.filter((f) => f.tag === Tag.CHAT).map((f) =>
            Number(text(f))
          );
          for (let i = 1; i < ids.length; i++) {
            assert.equal(ids[i], ids[i - 1] + 1);
          }
        }
      } finally {
        await sending.catch(() => {});
        await closeAll(sender, ...joiners);
      }
      // No rate limit may drop one: message k must be id k.
    }, ["--max-msgs-per-sec", "0", "--max-address-msgs-per-sec", "0"]);
  },
});

Deno.test({
  name:
    "Cluster: Redis unreachable at startup is one line naming the URL, exit 1",
  ignore,
  async fn() {
    const url = `redis://127.0.0.1:${freePort()}`;
    const result = await runDeno(SERVER_MAIN, ["--port", "0", "--redis", url], {
      permissions: PERMISSIONS,
      timeoutMs: WAIT_MS,
    });
    assert.equal(result.code, 1);
    const lines = result.stderr.filter((line) => line.trim() !== "");
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], new RegExp(`Cannot reach Redis at ${url}`));
  },
});

Deno.test({
  name: "Cluster: --redis without a redis:// URL is one line, exit 2",
  async fn() {
    const result = await runDeno(
      SERVER_MAIN,
      ["--port", "0", "--redis", "localhost:6379"],
      { permissions: PERMISSIONS, timeoutMs: WAIT_MS },
    );
    assert.equal(result.code, 2);
    const lines = result.stderr.filter((line) => line.trim() !== "");
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], /--redis takes redis:\/\/HOST:PORT/);
  },
});

Deno.test({
  name:
    "Cluster: a Redis restart is told to clients, what was not published is counted, delivery resumes and node numbers are not reused",
  ignore,
  async fn() {
    await withCluster(2, async (redis, nodes) => {
      const ann = await member(nodes[0], "gap");
      const bob = await member(nodes[1], "gap");
      try {
        await ann.send(Tag.CHAT, "before");
        assert.deepEqual(await chats(bob, 1), ["before"]);
        assert.equal(
          await metric(nodes[0].httpPort!, "hubbub_cluster_connected"),
          1,
        );

        await redis.stop();
        await notice(ann, "cross-node delivery interrupted");
        await notice(bob, "cross-node delivery interrupted");
        await ann.send(Tag.CHAT, "in the gap");
        let unpublished = 0;
        const started = Date.now();
        while (unpublished < 1 && Date.now() - started < WAIT_MS) {
          unpublished = await metric(
            nodes[0].httpPort!,
            "hubbub_cluster_unpublished_total",
          );
          if (unpublished < 1) await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(unpublished, 1);
        assert.equal(
          await metric(nodes[0].httpPort!, "hubbub_cluster_connected"),
          0,
        );

        await redis.start();
        await notice(ann, "cross-node delivery restored");
        await notice(bob, "cross-node delivery restored");
        // The nodes subscribe again on their own turn: send until one lands.
        let landed = false;
        for (let k = 0; k < 100 && !landed; k++) {
          await ann.send(Tag.CHAT, `after-${k}`);
          try {
            const frame = await bob.next(Tag.CHAT, 300);
            landed = text(frame).startsWith("after-");
          } catch { /* not yet subscribed */ }
        }
        assert.ok(landed, "delivery resumed");
        // The members are recorded again in the restarted Redis.
        const deadlineAt = Date.now() + WAIT_MS;
        let who: number[] = [];
        while (Date.now() < deadlineAt) {
          who = (await whoIsHere(bob)).map((m) => m.id);
          if (who.length === 2) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.deepEqual(who, [ann.id, bob.id].sort((a, b) => a - b));
        // The restarted Redis counts nodes again from where the running
        // ones are: a node started now takes a number of its own.
        const [third] = await startNodes(redis, 1);
        nodes.push(third);
        const cat = await RawClient.connect(third.port);
        const nodeOf = (id: number) => Math.floor(id / 2 ** 32);
        assert.ok(
          nodeOf(cat.id) > Math.max(nodeOf(ann.id), nodeOf(bob.id)),
          `node numbers ${nodeOf(ann.id)}, ${nodeOf(bob.id)}, ${
            nodeOf(cat.id)
          }`,
        );
        await cat.close();
      } finally {
        await closeAll(ann, bob);
      }
    }, ["--http-port", "0"]);
  },
});

Deno.test({
  name:
    "Cluster: presence published while Redis is lost is counted in /metrics and reported when it is restored",
  ignore,
  async fn() {
    await withCluster(1, async (redis, [node]) => {
      const ann = await member(node, "gap");
      try {
        await redis.stop();
        await notice(ann, "cross-node delivery interrupted");
        // A leave of "gap" and a join of "elsewhere", for the other nodes.
        await ann.send(Tag.JOIN, "elsewhere");
        let unpublished = 0;
        const started = Date.now();
        while (!(unpublished >= 1) && Date.now() - started < WAIT_MS) {
          unpublished = await metric(
            node.httpPort!,
            "hubbub_cluster_unpublished_presence_total",
          );
          if (!(unpublished >= 1)) await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(unpublished >= 1, `unpublished presence ${unpublished}`);
        assert.equal(
          await metric(node.httpPort!, "hubbub_cluster_unpublished_total"),
          0,
        );
        await redis.start();
        const line = await node.process.waitForLine(
          "stderr",
          /Redis restored/,
          WAIT_MS,
        );
        const reported = /unpublished_presence=(\d+)/.exec(line);
        assert.ok(reported !== null, line);
        assert.ok(Number(reported[1]) >= unpublished, line);
      } finally {
        await closeAll(ann);
      }
    }, ["--http-port", "0"]);
  },
});

Deno.test({
  name:
    "Cluster: a node killed with SIGKILL takes only its clients; the others carry on and it leaves WHO",
  ignore,
  async fn() {
    await withCluster(3, async (_redis, nodes) => {
      const ann = await member(nodes[0], "kill");
      const bob = await member(nodes[1], "kill");
      const gone = await member(nodes[2], "kill");
      try {
        assert.equal((await whoIsHere(ann)).length, 3);
        await nodes[2].stop("SIGKILL");
        // Ann hears the dead node's member leave (heartbeat expiry).
        await takeUntil(ann, (f) => {
          if (f.tag !== Tag.PRESENCE) return false;
          const p = presenceOf(f);
          return p.event === "leave" && p.id === gone.id;
        }, WAIT_MS);
        assert.deepEqual(
          (await whoIsHere(bob)).map((m) => m.id),
          [ann.id, bob.id].sort((a, b) => a - b),
        );
        await ann.send(Tag.CHAT, "still here");
        assert.deepEqual(await chats(bob, 1), ["still here"]);
      } finally {
        await closeAll(ann, bob);
        await gone.close();
      }
    });
  },
});

Deno.test({
  name:
    "Cluster: a node stopped with SIGTERM takes its members off the lists at once and the others hear them leave",
  ignore,
  async fn() {
    await withCluster(2, async (_redis, nodes) => {
      const ann = await member(nodes[0], "bye");
      const gone = await member(nodes[1], "bye");
      try {
        assert.equal((await whoIsHere(ann)).length, 2);
        const status = await nodes[1].stop("SIGTERM");
        assert.equal(status.code, 0);
        await takeUntil(ann, (f) => {
          if (f.tag !== Tag.PRESENCE) return false;
          const p = presenceOf(f);
          return p.event === "leave" && p.id === gone.id;
        }, WAIT_MS);
        assert.deepEqual((await whoIsHere(ann)).map((m) => m.id), [ann.id]);
      } finally {
        await closeAll(ann);
        await gone.close();
      }
    });
  },
});

Deno.test({
  name:
    "Cluster: a nickname taken on another node while this node was cut off is given up, with ERROR and a nick presence",
  ignore,
  async fn() {
    await withCluster(2, async (redis, nodes) => {
      const ann = await member(nodes[0], "names");
      const bob = await member(nodes[1], "names");
      try {
        await ann.send(Tag.NICK, "ann");
        await takeUntil(ann, (f) => {
          if (f.tag !== Tag.PRESENCE) return false;
          const p = presenceOf(f);
          return p.event === "nick" && p.id === ann.id;
        }, WAIT_MS);
        // Ann's node sleeps through a Redis restart; Bob's does not.
        nodes[0].process.kill("SIGSTOP");
        try {
          await redis.stop();
          await notice(bob, "cross-node delivery interrupted");
          await redis.start();
          await notice(bob, "cross-node delivery restored");
          // Bob's node records itself again, then the name is free.
          let taken = false;
          for (let k = 0; k < 100 && !taken; k++) {
            await bob.send(Tag.NICK, "ann");
            const frame = await takeUntil(
              bob,
              (f) =>
                f.tag === Tag.ERROR ||
                (f.tag === Tag.PRESENCE && presenceOf(f).event === "nick" &&
                  presenceOf(f).id === bob.id),
              WAIT_MS,
            );
            taken = frame.at(-1)!.tag === Tag.PRESENCE;
            if (!taken) await new Promise((r) => setTimeout(r, 100));
          }
          assert.ok(taken, "Bob took the name");
        } finally {
          nodes[0].process.kill("SIGCONT");
        }
        await takeUntil(
          ann,
          (f) =>
            f.tag === Tag.ERROR && f.senderId === Tag.NICK &&
            /nickname taken on another node/.test(text(f)),
          WAIT_MS,
        );
        const renamed = await takeUntil(ann, (f) => {
          if (f.tag !== Tag.PRESENCE) return false;
          const p = presenceOf(f);
          return p.event === "nick" && p.id === ann.id;
        }, WAIT_MS);
        const presence = presenceOf(renamed.at(-1)!);
        assert.equal(presence.nick, null);
        assert.equal(presence.old, "ann");
      } finally {
        await closeAll(ann, bob);
      }
    });
  },
});
