/**
 * The load generator over several server nodes (`--targets`) and its
 * single-order check: every receiver that got every message must have seen
 * them in one order.
 */

import assert from "node:assert/strict";
import { DeliveryChecker } from "../client/loadtest/delivery_checker.ts";
import { parseTargets } from "../client/loadtest/options.ts";
import {
  compareOrders,
  ORDER_HASH_START,
  OrderHashes,
  orderHashStep,
} from "../client/loadtest/order_check.ts";
import { UsageError } from "../cli/mod.ts";
import { serverHasClusterMode, startCluster } from "../bench/cluster.ts";
import { redisInstalled } from "../bench/servers.ts";
import { LATE_JOIN_MS, startFaultyServer } from "./_faulty_server.ts";
import { loadtestArgs, runLoadtestCli } from "./_loadtest_cli.ts";
import { spawnServer } from "./_server.ts";

/** Hash a list of (publisher, sequence) deliveries, in order. */
function hashOf(deliveries: [number, number][]): number {
  let hash = ORDER_HASH_START;
  for (const [publisher, sequence] of deliveries) {
    hash = orderHashStep(hash, publisher, sequence);
  }
  return hash;
}

Deno.test("Order check: the same deliveries in the same order give the same hash; a swapped pair gives another", () => {
  const order: [number, number][] = [];
  for (let sequence = 0; sequence < 50; sequence++) {
    for (let publisher = 0; publisher < 4; publisher++) {
      order.push([publisher, sequence]);
    }
  }
  assert.equal(hashOf(order), hashOf(order.map((d) => [...d])));
  for (const at of [0, 1, 17, order.length - 2]) {
    const swapped = order.map((d) => [...d] as [number, number]);
    [swapped[at], swapped[at + 1]] = [swapped[at + 1], swapped[at]];
    assert.notEqual(hashOf(swapped), hashOf(order), `swap at ${at}`);
  }
  // (publisher, sequence) is not (sequence, publisher).
  assert.notEqual(hashOf([[1, 2]]), hashOf([[2, 1]]));
});

Deno.test("Order check: receivers with every message are compared; one that saw another order is counted, dropped or lacking ones are left out", () => {
  const receivers = 5;
  const checker = new DeliveryChecker(receivers, 2);
  const orders = new OrderHashes(receivers);
  const deliver = (receiver: number, publisher: number, sequence: number) => {
    checker.record(receiver, publisher, sequence);
    orders.add(receiver, publisher, sequence);
  };
  const common: [number, number][] = [[0, 0], [1, 0], [0, 1], [1, 1]];
  for (const receiver of [0, 1, 4]) {
    for (const [p, s] of common) deliver(receiver, p, s);
  }
  // Receiver 2: each publisher's order kept, the total order not.
  for (const [p, s] of [[1, 0], [0, 0], [0, 1], [1, 1]]) deliver(2, p, s);
  // Receiver 3 lacks the last message: left out, not counted as differing.
  for (const [p, s] of common.slice(0, 3)) deliver(3, p, s);
  const published = [2, 2];
  const open = (receiver: number) => receiver !== 4;
  const shard = orders.groups(checker, published, open);
  assert.equal(shard.excluded, 2);
  const verdict = compareOrders([shard]);
  assert.deepEqual(verdict, { compared: 3, differing: 1, excluded: 2 });
  // Groups from several workers merge.
  assert.deepEqual(compareOrders([shard, shard]), {
    compared: 6,
    differing: 2,
    excluded: 4,
  });
});

Deno.test("Loadtest options: --targets parses host:port lists and refuses anything else", () => {
  assert.deepEqual(parseTargets("127.0.0.1:9000,localhost:9001,[::1]:80"), [
    { host: "127.0.0.1", port: 9000 },
    { host: "localhost", port: 9001 },
    { host: "::1", port: 80 },
  ]);
  for (const bad of ["", "127.0.0.1", "h:0", "h:65536", "h:9000,", ":9000"]) {
    assert.throws(() => parseTargets(bad), UsageError, bad);
  }
});

Deno.test("Loadtest: bad --targets values give one clear line and exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--targets", "127.0.0.1"], /--targets needs host:port entries/],
    [["--targets", "a:1,b:99999"], /--targets needs .*got 'b:99999'/],
    [
      ["--targets", "a:1,b:2", "--target", "redis"],
      /--targets with several nodes is for --target hubbub/,
    ],
  ];
  for (const [args, message] of cases) {
    const run = await runLoadtestCli(args, { json: false });
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    const lines = run.stderr.trim().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0], message);
  }
});

Deno.test("Loadtest: --targets spreads the connections over the nodes round-robin, with zero loss and one order", async () => {
  const server = await spawnServer(["--quiet", "--max-msgs-per-sec", "0"]);
  try {
    const node = `127.0.0.1:${server.port}`;
    const run = await runLoadtestCli(loadtestArgs({
      targets: `${node},${node}`,
      clients: 11,
      publishers: 3,
      rate: 300,
      duration: 1,
      warmup: 0.2,
      drain: 3,
      workers: 2,
    }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = run.result!;
    assert.deepEqual(result.connections.perTarget, [
      { target: node, opened: 6 },
      { target: node, opened: 5 },
    ]);
    assert.equal(result.delivery.lost, 0);
    assert.equal(result.delivery.reordered, 0);
    assert.ok(result.throughput.published > 0);
    assert.deepEqual(result.order, { compared: 11, differing: 0, excluded: 0 });
    assert.match(run.stdout, /order +same for all 11 receivers/);
    assert.match(run.stdout, new RegExp(`per node +${node} 6, ${node} 5`));
  } finally {
    await server.stop();
  }
});

Deno.test("Loadtest: a relay that gives one receiver two messages of different publishers swapped fails the run, naming the order check", async () => {
  const server = startFaultyServer("swap-for-one");
  try {
    const run = await runLoadtestCli(loadtestArgs({
      port: server.port,
      clients: 6,
      publishers: 2,
      rate: 200,
      duration: 1,
      warmup: 0,
      drain: 2,
    }));
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const result = run.result!;
    // Each publisher's own order was kept: only the order check sees it.
    assert.equal(result.delivery.lost, 0);
    assert.equal(result.delivery.reordered, 0);
    assert.equal(result.delivery.duplicates, 0);
    assert.deepEqual(result.order, { compared: 6, differing: 1, excluded: 0 });
    assert.match(
      run.stdout,
      /FAILED: order: 1 of 6 receivers saw the messages in another order than the rest/,
    );
  } finally {
    await server.close();
  }
});

const clusterReady = redisInstalled() && serverHasClusterMode();

Deno.test({
  name:
    "Loadtest: over three cluster nodes on one Redis, zero loss and one order for all receivers",
  // Needs redis-server and the server's --redis (cluster mode).
  ignore: !clusterReady,
  fn: async () => {
    const cluster = await startCluster(null, 3);
    try {
      const run = await runLoadtestCli(loadtestArgs({
        targets: cluster.ports.map((port) => `127.0.0.1:${port}`).join(","),
        clients: 30,
        publishers: 6,
        rate: 300,
        duration: 2,
        warmup: 0.5,
        drain: 5,
        "connect-timeout": 20,
      }));
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const result = run.result!;
      assert.deepEqual(
        result.connections.perTarget.map(({ opened }) => opened),
        [10, 10, 10],
      );
      assert.ok(result.throughput.published > 0);
      assert.equal(result.delivery.lost, 0);
      assert.equal(result.delivery.reordered, 0);
      assert.deepEqual(result.order, {
        compared: 30,
        differing: 0,
        excluded: 0,
      });
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test("Loadtest: with --targets a receiver counts as joined only once the server confirms its join (a cluster node confirms once subscribed), so nothing published is missed", async () => {
  const server = startFaultyServer("late-join-confirmation");
  try {
    const run = await runLoadtestCli(loadtestArgs({
      targets: `127.0.0.1:${server.port}`,
      clients: 6,
      publishers: 2,
      rate: 200,
      duration: 1,
      warmup: 0,
      drain: 2,
    }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = run.result!;
    assert.ok(result.throughput.published > 0);
    assert.equal(result.delivery.lost, 0);
    assert.deepEqual(result.order, { compared: 6, differing: 0, excluded: 0 });
    // Joining took the confirmation's delay.
    assert.ok(
      result.connections.connectTimeMs.max >= LATE_JOIN_MS,
      JSON.stringify(result.connections.connectTimeMs),
    );
  } finally {
    await server.close();
  }
});
