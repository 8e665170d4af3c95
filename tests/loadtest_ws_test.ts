import assert from "node:assert/strict";
import type { LoadTestResult } from "../client/loadtest/mod.ts";
import {
  loadtestArgs,
  type LoadtestFlags,
  runLoadtestCli,
} from "./_loadtest_cli.ts";
import { spawnServer } from "./_server.ts";
import { startWsRelay } from "./_ws_relay.ts";

/** 20 clients, 2 publishers, 200 msg/s, 2 s measured, over WebSocket. */
const WS_RUN: LoadtestFlags = {
  transport: "ws",
  clients: 20,
  publishers: 2,
  rate: 200,
  duration: 2,
  warmup: 0.5,
  drain: 3,
  "connect-timeout": 20,
};

/** Every delivery arrived exactly once, in order, from the right sender. */
function assertExact(result: LoadTestResult, clients: number): void {
  assert.equal(result.options.transport, "ws");
  assert.equal(result.connections.opened, clients);
  assert.equal(result.connections.originalProtocolPublishers, 0);
  assert.ok(result.throughput.published > 0);
  assert.equal(result.delivery.lost, 0);
  assert.equal(result.delivery.duplicates, 0);
  assert.equal(result.delivery.reordered, 0);
  assert.equal(result.delivery.unexpected, 0);
  assert.equal(result.delivery.wrongSender, 0);
  assert.equal(
    result.delivery.expected,
    result.throughput.published * clients,
  );
  assert.equal(result.delivery.delivered, result.delivery.expected);
}

Deno.test("Loadtest over WebSocket: a short open-loop run through a relay delivers everything exactly, one frame per message", async () => {
  const relay = await startWsRelay();
  try {
    const run = await runLoadtestCli(
      loadtestArgs({ ...WS_RUN, port: relay.port }),
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assertExact(run.result!, 20);
    assert.match(run.stdout, /over WebSocket/);
    assert.equal(relay.misframed, 0);
  } finally {
    await relay.close();
  }
});

Deno.test("Loadtest over WebSocket: a closed-loop run over two workers (pipelined windows, several frames a write) delivers everything exactly", async () => {
  const relay = await startWsRelay();
  try {
    const run = await runLoadtestCli(loadtestArgs({
      ...WS_RUN,
      rate: 0,
      window: 8,
      workers: 2,
      port: relay.port,
    }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assertExact(run.result!, 20);
    assert.equal(relay.misframed, 0);
  } finally {
    await relay.close();
  }
});

/**
 * Run `body` against our server as a subprocess with its WebSocket gateway
 * on a free `--http-port`, quiet and without the frame-rate limit.
 */
async function withGatewayServer(
  body: (httpPort: number) => Promise<void>,
  flags: string[] = [],
): Promise<void> {
  const server = await spawnServer([
    "--quiet",
    "--max-msgs-per-sec",
    "0",
    "--http-port",
    "0",
    ...flags,
  ]);
  try {
    const listening = server.lines.find((line) => /Listening/.test(line))!;
    const httpPort = Number(/http=[^\s]+:(\d+)/.exec(listening)?.[1]);
    assert.ok(httpPort > 0, listening);
    await body(httpPort);
  } finally {
    await server.stop();
  }
}

Deno.test("Loadtest over WebSocket: against our server's gateway, 20 clients, 2 publishers, 200 msg/s for 2 s lose nothing", async () => {
  await withGatewayServer(async (httpPort) => {
    const run = await runLoadtestCli(
      loadtestArgs({ ...WS_RUN, port: httpPort }),
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assertExact(run.result!, 20);
    assert.match(run.stdout, /PASSED/);
  });
});

Deno.test("Loadtest over WebSocket: against our server's gateway, a closed-loop run over two workers delivers everything exactly", async () => {
  await withGatewayServer(async (httpPort) => {
    const run = await runLoadtestCli(loadtestArgs({
      ...WS_RUN,
      rate: 0,
      window: 8,
      workers: 2,
      port: httpPort,
    }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assertExact(run.result!, 20);
  });
});

Deno.test("Loadtest over WebSocket: --targets spreads the WebSockets over the nodes' gateways, with one order for all", async () => {
  await withGatewayServer(async (httpPort) => {
    const node = `127.0.0.1:${httpPort}`;
    const run = await runLoadtestCli(
      loadtestArgs({ ...WS_RUN, targets: `${node},${node}` }),
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assertExact(run.result!, 20);
    assert.deepEqual(run.result!.connections.perTarget, [
      { target: node, opened: 10 },
      { target: node, opened: 10 },
    ]);
    assert.deepEqual(run.result!.order, {
      compared: 20,
      differing: 0,
      excluded: 0,
    });
  });
});

Deno.test("Loadtest over WebSocket: a WebSocket that stops reading is dropped by our server, and the others get everything", async () => {
  await withGatewayServer(async (httpPort) => {
    // Closed loop with the largest payloads, so the stalled connection
    // fills the kernel's buffers and its queue at once.
    const run = await runLoadtestCli(loadtestArgs({
      ...WS_RUN,
      port: httpPort,
      publishers: 5,
      rate: 0,
      window: 16,
      size: 488,
      duration: 3,
      warmup: 0.2,
      stalled: 1,
    }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = run.result!;
    assert.deepEqual(
      result.stalled,
      { joined: 1, droppedByServer: 1 },
      run.stdout,
    );
    assert.equal(result.delivery.lost, 0);
    assert.equal(result.delivery.delivered, result.delivery.expected);
    assert.equal(result.errors.disconnectCount, 0);
  }, ["--max-pending-bytes", "262144"]);
});

Deno.test("Loadtest over WebSocket: a port without a gateway is reported as refused upgrades, in one line per cause", async () => {
  // A plain HTTP server: the upgrade gets 404.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("no gateway", { status: 404 }),
  );
  try {
    const run = await runLoadtestCli(loadtestArgs({
      ...WS_RUN,
      clients: 2,
      publishers: 1,
      port: server.addr.port,
    }));
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.equal(run.result?.connections.opened ?? 0, 0);
    assert.doesNotMatch(run.stdout + run.stderr, /^\s+at /m);
  } finally {
    await server.shutdown();
  }
});

Deno.test("Loadtest over WebSocket: --transport ws with redis or TLS is a bad flag (exit 2, one line)", async () => {
  for (
    const [flags, words] of [
      [{ target: "redis" }, /--transport ws is for --target hubbub/],
      [{ tls: true }, /without TLS/],
      [{ transport: "udp" }, /transport/],
    ] as const
  ) {
    const run = await runLoadtestCli(
      loadtestArgs({ ...WS_RUN, ...flags } as LoadtestFlags),
      { json: false },
    );
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stderr, words);
    assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
  }
});
