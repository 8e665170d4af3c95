import assert from "node:assert/strict";
import {
  DeliveryChecker,
  loadtestCommand,
  type LoadTestResult,
  verdictOf,
} from "../client/loadtest/mod.ts";
import { type Fault, startFaultyServer } from "./_faulty_server.ts";
import { startOriginalServer } from "./_original_server.ts";
import {
  PayloadReader,
  writePayload,
  writePayloadTemplate,
} from "../client/loadtest/payload.ts";
import {
  closedPort,
  loadtestArgs,
  type LoadtestFlags,
  runLoadtestCli,
} from "./_loadtest_cli.ts";
import { spawnServer } from "./_server.ts";
import { HUBBUB_DEFAULT_MESSAGES_PER_SECOND } from "../client/loadtest/result.ts";
import { DEFAULT_HUB_OPTIONS } from "../server/settings.ts";
import { makeCertificate } from "./_tls.ts";
import { type ServerUnderTest, startRedis } from "../bench/servers.ts";

/** A short open-loop run: 20 clients, 5 publishers, 2 s measured. */
const SHORT_RUN: LoadtestFlags = {
  clients: 20,
  publishers: 5,
  rate: 500,
  duration: 2,
  warmup: 0.5,
  drain: 2,
};

/**
 * Run `body` against our server as a subprocess, quiet and unthrottled,
 * with `flags` besides.
 */
async function withOurServer(
  body: (port: number) => Promise<void>,
  flags: string[] = [],
): Promise<void> {
  const server = await spawnServer([
    "--quiet",
    "--max-msgs-per-sec",
    "0",
    ...flags,
  ]);
  try {
    await body(server.port);
  } finally {
    await server.stop();
  }
}

/** Run `body` against a server that breaks the protocol as `fault` says. */
async function withFaultyServer(
  fault: Fault,
  body: (port: number) => Promise<void>,
): Promise<void> {
  const server = startFaultyServer(fault);
  try {
    await body(server.port);
  } finally {
    await server.close();
  }
}

function assertOrdered(values: number[], what: string): void {
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i - 1] <= values[i], `${what} out of order: ${values}`);
  }
}

/** Every field the --json output documents, as dotted paths. */
const DOCUMENTED_FIELDS = [
  "tool",
  "formatVersion",
  "startedAt",
  "options.target",
  "options.clients",
  "options.publishers",
  "options.rate",
  "options.window",
  "options.size",
  "options.durationSeconds",
  "options.warmupSeconds",
  "options.drainSeconds",
  "options.workers",
  "connections.requested",
  "connections.opened",
  "connections.failed",
  "connections.perTarget",
  "connections.failures.refused",
  "connections.failures.timedOut",
  "connections.failures.tooManyOpenFiles",
  "connections.failures.addressNotAvailable",
  "connections.failures.rejected",
  "connections.failures.other",
  "connections.failureText",
  "connections.connectTimeMs.p50",
  "connections.connectTimeMs.p99",
  "connections.connectTimeMs.max",
  "connections.connectPhaseSeconds",
  "connections.originalProtocolPublishers",
  "throughput.mode",
  "throughput.measuredSeconds",
  "throughput.published",
  "throughput.publishedMeasured",
  "throughput.publishedPerSecond",
  "throughput.deliveredMeasured",
  "throughput.deliveriesPerSecond",
  "throughput.payloadBytesPerSecond",
  "throughput.wireBytesPerSecond",
  "throughput.unsent",
  "sendLagMs.p99",
  "latencyMs.count",
  "latencyMs.p50",
  "latencyMs.p90",
  "latencyMs.p99",
  "latencyMs.p99_9",
  "latencyMs.max",
  "latencyMs.mean",
  "latencyDistribution",
  "latencyHistogram",
  "delivery.expected",
  "delivery.delivered",
  "delivery.lost",
  "delivery.duplicates",
  "delivery.reordered",
  "delivery.unexpected",
  "delivery.wrongSender",
  "delivery.unrelayed",
  "delivery.refusalNotices",
  "order.compared",
  "order.differing",
  "order.excluded",
  "options.stalled",
  "stalled.joined",
  "stalled.droppedByServer",
  "errors.serverErrors",
  "errors.disconnects",
  "errors.disconnectCount",
  "generator.workers",
  "generator.cpuSeconds",
  "generator.wallSeconds",
  "generator.cores",
  "generator.workerBusy",
  "generator.limitedByGenerator",
  "timeline",
  "verdict.passed",
  "verdict.failures",
];

function fieldAt(result: unknown, path: string): unknown {
  let value = result as Record<string, unknown> | undefined;
  for (const key of path.split(".")) {
    value = value?.[key] as Record<string, unknown> | undefined;
  }
  return value;
}

Deno.test("Loadtest: a short run against our server reports zero loss and sensible figures", async () => {
  await withOurServer(async (port) => {
    const run = await runLoadtestCli(loadtestArgs({ ...SHORT_RUN, port }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = run.result!;
    assert.equal(result.connections.opened, 20);
    // Our server answers the PING: publishers send coalesced batches.
    assert.equal(result.connections.originalProtocolPublishers, 0);
    assert.equal(result.delivery.lost, 0);
    assert.equal(result.delivery.duplicates, 0);
    assert.equal(result.delivery.reordered, 0);
    assert.equal(result.delivery.wrongSender, 0);
    assert.equal(result.delivery.expected, result.throughput.published * 20);
    assert.equal(result.delivery.delivered, result.delivery.expected);
    assert.equal(
      result.throughput.deliveredMeasured,
      result.throughput.publishedMeasured * 20,
    );
    assert.ok(result.throughput.publishedPerSecond > 0);
    assert.ok(result.latencyMs.count > 0);
    assert.ok(result.latencyMs.p50 > 0);
    const { p50, p90, p99, p99_9, max } = result.latencyMs;
    assertOrdered([p50, p90, p99, p99_9, max], "latency percentiles");
    assert.ok(result.timeline.length >= 2);
    assert.ok(result.generator.cpuSeconds > 0);
    assert.match(run.stdout, /PASSED/);
    assert.match(run.stdout, /lost +0/);
    // The progress lines went to stderr, one per second (not a terminal).
    assert.match(
      run.stderr,
      /connections=20 sent\/s=\S+ delivered\/s=\S+ p99=/,
    );
  });
});

Deno.test("Loadtest: --json output parses and holds every documented field; --report is a self-contained page", async () => {
  await withOurServer(async (port) => {
    const directory = await Deno.makeTempDir();
    const report = `${directory}/report.html`;
    const run = await runLoadtestCli(
      loadtestArgs({ ...SHORT_RUN, port, report }),
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = run.result as LoadTestResult;
    for (const path of DOCUMENTED_FIELDS) {
      assert.notEqual(fieldAt(result, path), undefined, `missing ${path}`);
    }
    const second = result.timeline.find((entry) => entry.phase === "measure")!;
    for (
      const key of [
        "second",
        "connections",
        "sent",
        "delivered",
        "payloadBytes",
        "latencyMs",
        "generatorCores",
      ]
    ) {
      assert.ok(key in second, `timeline entry lacks ${key}`);
    }
    const page = await Deno.readTextFile(report);
    assert.match(page, /^<!doctype html>/i);
    assert.match(page, /<svg/);
    assert.match(
      page,
      /order across receivers<\/td><td>same for all 20 receivers/,
    );
    assert.doesNotMatch(page, /<script[^>]+src=|<link[^>]+href=|https?:\/\//);
  });
});

Deno.test("Loadtest: drives a server that behaves like the original (one frame per read, lossy UTF-8, header and body apart) with zero loss", async () => {
  const server = startOriginalServer();
  try {
    const run = await runLoadtestCli(loadtestArgs({
      port: server.port,
      clients: 20,
      publishers: 2,
      rate: 100,
      duration: 2,
      warmup: 0.5,
      drain: 2,
    }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = run.result!;
    assert.equal(result.connections.opened, 20);
    assert.equal(result.errors.disconnectCount, 0, run.stdout);
    assert.ok(result.throughput.published >= 200, run.stdout);
    assert.equal(result.delivery.expected, result.throughput.published * 20);
    assert.equal(result.delivery.lost, 0);
    assert.equal(result.delivery.delivered, result.delivery.expected);
    assert.equal(result.delivery.unexpected, 0);
    assert.equal(result.delivery.wrongSender, 0);
    assert.equal(server.overflows, 0);
    assert.equal(result.connections.originalProtocolPublishers, 2);
    assert.match(run.stdout, /original protocol +2 publishers/);
  } finally {
    await server.close();
  }
});

/** A counter of our server's Prometheus text, by name. */
async function metricValue(httpPort: number, name: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  const text = await response.text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  assert.ok(line !== undefined, `${name} missing from:\n${text}`);
  return Number(line.split(" ")[1]);
}

Deno.test("Loadtest: against our server's default rate limit, refused messages are counted exactly, explained with the fix, and warned about before the run", async () => {
  assert.equal(
    HUBBUB_DEFAULT_MESSAGES_PER_SECOND,
    DEFAULT_HUB_OPTIONS.maxMessagesPerSecond,
  );
  const httpPort = closedPort();
  // Default limits: 1,000 msg/s per client, a burst of 1,000.
  const server = await spawnServer(["--quiet", "--http-port", `${httpPort}`]);
  try {
    const directory = await Deno.makeTempDir();
    const report = `${directory}/report.html`;
    const run = await runLoadtestCli(loadtestArgs({
      port: server.port,
      clients: 5,
      publishers: 1,
      rate: 2500,
      duration: 2,
      warmup: 0,
      // Refused messages never arrive, so the drain lasts all of it: time
      // for every relayed one to arrive.
      drain: 2,
      report,
    }));
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const { delivery } = run.result!;
    const dropped = await metricValue(
      httpPort,
      "hubbub_rate_limited_frames_total",
    );
    assert.ok(dropped > 0, run.stdout);
    // Exact: every message the server dropped, none it relayed.
    assert.equal(delivery.unrelayed, dropped, run.stdout);
    assert.equal(delivery.lost, dropped * 5);
    assert.ok(delivery.refusalNotices >= 1, run.stdout);
    assert.ok(delivery.refusalNotices < dropped);
    const verdict = run.stdout.split("\n").find((l) => l.startsWith("FAILED"));
    assert.match(
      verdict ?? "",
      /published messages reached no receiver: the server refused them .*rate limit.*2,500 msg\/s per publisher.*start the server with --max-msgs-per-sec 0/,
    );
    assert.match(run.stdout, /relayed to nobody +[\d,]+ published messages/);
    // The warning comes before the run.
    const lines = run.stderr.split("\n");
    assert.match(
      lines[0],
      /^Warning: 2,500 msg\/s per publisher is over hubbub's default per-client limit of 1,000 msg\/s: unless the server runs with --max-msgs-per-sec 0/,
    );
    assert.match(lines[1], /^Connected/);
    const page = await Deno.readTextFile(report);
    assert.match(page, /the server refused them/);
    assert.match(page, /start the server with --max-msgs-per-sec 0/);
  } finally {
    await server.stop();
  }
});

Deno.test("Loadtest: payload and wire throughput are over the same window, so the wire figure is never the smaller", async () => {
  // A lossy server keeps the generator draining to the end of --drain: a
  // long load phase after the measured window.
  await withFaultyServer("drop-every-10th", async (port) => {
    const run = await runLoadtestCli(loadtestArgs({
      port,
      clients: 10,
      publishers: 2,
      rate: 200,
      size: 488,
      duration: 1,
      warmup: 0,
      drain: 2,
      "allow-loss": true,
    }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const { throughput } = run.result!;
    assert.ok(throughput.payloadBytesPerSecond > 0, run.stdout);
    // Each delivery is a 24-byte header and a 488-byte payload.
    assert.ok(
      throughput.wireBytesPerSecond >= throughput.payloadBytesPerSecond,
      run.stdout,
    );
    assert.ok(
      throughput.wireBytesPerSecond < throughput.payloadBytesPerSecond * 1.2,
      run.stdout,
    );
  });
});

Deno.test("Loadtest: the report charts every worker's CPU under the task's permissions, and the latency distribution up to the maximum", async () => {
  await withOurServer(async (port) => {
    const directory = await Deno.makeTempDir();
    const report = `${directory}/report.html`;
    const run = await runLoadtestCli(
      loadtestArgs({ ...SHORT_RUN, port, workers: 2, report }),
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = run.result!;
    assert.equal(result.generator.workerBusy.length, 2);
    for (const busy of result.generator.workerBusy) {
      assert.ok(busy >= 0, `worker busy ${busy}`);
    }
    assert.ok(
      result.timeline.every((entry) => entry.generatorCores >= 0),
      JSON.stringify(result.timeline),
    );
    assert.match(run.stdout, /workers busy \d+%, \d+%/);
    const page = await Deno.readTextFile(report);
    const chart = (label: string) => {
      const match = new RegExp(`aria-label="${label}">(.*?)</svg>`).exec(page);
      assert.ok(match, `no chart ${label}`);
      return match[1];
    };
    assert.match(chart("Generator CPU"), /<path d="M/);
    // One point per distribution entry, the maximum last and highest.
    const path = /<path d="([^"]+)"/.exec(chart("Latency distribution"))![1];
    const points = path.slice(1).split("L").map((p) =>
      p.split(",").map(Number)
    );
    assert.equal(points.length, result.latencyDistribution.length);
    assert.equal(result.latencyDistribution.at(-1)!.ms, result.latencyMs.max);
    const [lastX, lastY] = points.at(-1)!;
    for (const [x, y] of points) {
      assert.ok(x <= lastX && y >= lastY, path);
    }
    assert.match(chart("Latency distribution"), />max</);
  });
});

Deno.test("Loadtest: an unwritable --report or --json path fails before the run, in one line", async () => {
  for (const flag of ["report", "json"]) {
    const run = await runLoadtestCli(
      loadtestArgs({
        port: closedPort(),
        clients: 5,
        publishers: 1,
        [flag]: "/nonexistent/directory/out",
      }),
      { json: false },
    );
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stderr.trim().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.equal(
      lines[0],
      "hubbub loadtest: Cannot write /nonexistent/directory/out: its directory does not exist",
    );
  }
});

Deno.test("README: the quickstart's load-test lines start a server and run a 3-second load test that writes a report", async () => {
  const readme = await Deno.readTextFile(
    new URL("../README.md", import.meta.url),
  );
  const quickstart = readme.slice(
    readme.indexOf("## Quickstart"),
    readme.indexOf("\n## ", readme.indexOf("## Quickstart") + 1),
  );
  const argsOf = (pattern: RegExp) => {
    const line = quickstart.split("\n").find((l) => pattern.test(l));
    assert.ok(line !== undefined, `no line ${pattern} in:\n${quickstart}`);
    return line.replace(/#.*/, "").trim().split(/\s+/).slice(3);
  };
  const serveArgs = argsOf(/^deno task serve .*load test/);
  const loadtestArgsOfReadme = argsOf(/^deno task loadtest .*--report/);
  assert.deepEqual(
    loadtestArgsOfReadme.slice(0, 2),
    ["--duration", "3"],
  );
  const server = await spawnServer(["--quiet", ...serveArgs]);
  try {
    const directory = await Deno.makeTempDir();
    const report = `${directory}/report.html`;
    const reportAt = loadtestArgsOfReadme.indexOf("--report") + 1;
    const args = loadtestArgsOfReadme.map((arg, index) =>
      index === reportAt ? report : arg
    );
    const run = await runLoadtestCli([
      ...args,
      "--port",
      `${server.port}`,
    ]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(await Deno.readTextFile(report), /<svg/);
  } finally {
    await server.stop();
  }
});

Deno.test("Loadtest: reports exactly the deliveries a faulty server drops, and exits non-zero", async () => {
  await withFaultyServer("drop-every-10th", async (port) => {
    const run = await runLoadtestCli(
      loadtestArgs({ ...SHORT_RUN, port, drain: 1 }),
    );
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const result = run.result!;
    const published = result.throughput.published;
    assert.ok(published > 0);
    // Every client gets every message but every 10th one.
    assert.equal(result.delivery.lost, 20 * Math.floor(published / 10));
    assert.equal(result.delivery.duplicates, 0);
    assert.equal(result.delivery.reordered, 0);
    assert.equal(result.verdict.passed, false);
    // The same message is dropped to everyone: relayed to nobody.
    assert.equal(result.delivery.unrelayed, Math.floor(published / 10));
    assert.equal(result.delivery.refusalNotices, 0);
    assert.match(
      run.stdout,
      /FAILED: [\d,]+ deliveries lost \([\d,]+ published messages reached no receiver: the server relayed them to nobody\)/,
    );
  });
});

Deno.test("Loadtest: reports exactly the reordering and duplicates of a faulty server", async () => {
  for (const fault of ["reorder-every-10th", "duplicate-every-10th"] as const) {
    await withFaultyServer(fault, async (port) => {
      const run = await runLoadtestCli(loadtestArgs({
        port,
        clients: 10,
        publishers: 1,
        rate: 200,
        duration: 1,
        warmup: 0,
        drain: 1,
      }));
      assert.equal(run.code, 1, run.stdout + run.stderr);
      const result = run.result!;
      const published = result.throughput.published;
      assert.ok(published > 10);
      assert.equal(result.delivery.lost, 0);
      if (fault === "reorder-every-10th") {
        // The held 10th message goes out after the 11th.
        assert.equal(
          result.delivery.reordered,
          10 * Math.floor((published - 1) / 10),
        );
        assert.equal(result.delivery.duplicates, 0);
        assert.match(run.stdout, /deliveries out of order/);
      } else {
        assert.equal(
          result.delivery.duplicates,
          10 * Math.floor(published / 10),
        );
        assert.equal(result.delivery.reordered, 0);
        assert.match(run.stdout, /deliveries duplicated/);
      }
    });
  }
});

Deno.test("Loadtest: a sender id stamped wrong is reported", async () => {
  await withFaultyServer("wrong-sender", async (port) => {
    const run = await runLoadtestCli(
      loadtestArgs({ ...SHORT_RUN, port, duration: 1, warmup: 0 }),
    );
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const result = run.result!;
    assert.equal(result.delivery.lost, 0);
    assert.equal(result.delivery.wrongSender, result.delivery.delivered);
  });
});

Deno.test("Loadtest: the open-loop scheduler keeps the requested rate over a 3 s run", async () => {
  await withOurServer(async (port) => {
    const run = await runLoadtestCli(loadtestArgs({
      port,
      clients: 10,
      publishers: 7,
      rate: 1500,
      duration: 3,
      warmup: 0.5,
      drain: 2,
    }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const { throughput } = run.result!;
    const ratio = throughput.publishedPerSecond / 1500;
    assert.ok(Math.abs(ratio - 1) < 0.03, `rate ratio ${ratio}`);
    assert.equal(throughput.unsent, 0);
  });
});

Deno.test("Loadtest: closed loop over two workers merges the figures exactly", async () => {
  await withOurServer(async (port) => {
    const run = await runLoadtestCli(loadtestArgs({
      port,
      clients: 30,
      publishers: 4,
      rate: 0,
      window: 8,
      workers: 2,
      duration: 1,
      warmup: 0.5,
    }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = run.result!;
    assert.equal(result.throughput.mode, "closed");
    assert.equal(result.generator.workers, 2);
    assert.equal(result.delivery.lost, 0);
    assert.equal(result.delivery.delivered, result.throughput.published * 30);
    assert.equal(result.latencyMs.count, result.throughput.deliveredMeasured);
  });
});

Deno.test("Loadtest: in closed loop a window slot opens only once every receiver has the message", async () => {
  // One receiver never gets anything: the publisher must stop after exactly
  // one window, however fast the others are.
  await withFaultyServer("starve-one", async (port) => {
    const run = await runLoadtestCli(loadtestArgs({
      port,
      clients: 6,
      publishers: 1,
      rate: 0,
      window: 4,
      duration: 1,
      warmup: 0,
      drain: 0.5,
    }));
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const result = run.result!;
    assert.equal(result.throughput.published, 4);
    assert.equal(result.delivery.lost, 4);
  });
});

Deno.test("Loadtest: runs over TLS with --ca, and authenticates with --token", async () => {
  const certificate = await makeCertificate();
  const tokenFile = await Deno.makeTempFile({ suffix: ".tokens" });
  await Deno.writeTextFile(tokenFile, "# test\nload-secret\n");
  const server = await spawnServer([
    "--quiet",
    "--max-msgs-per-sec",
    "0",
    "--tls-cert",
    certificate.certFile,
    "--tls-key",
    certificate.keyFile,
    "--token-file",
    tokenFile,
  ]);
  try {
    const flags: LoadtestFlags = {
      port: server.port,
      clients: 10,
      publishers: 2,
      rate: 200,
      duration: 0.5,
      warmup: 0,
      ca: certificate.certFile,
    };
    const run = await runLoadtestCli(
      loadtestArgs({ ...flags, token: "load-secret" }),
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.result!.delivery.lost, 0);
    assert.ok(run.result!.delivery.delivered > 0);
    // Without the token the server lets nobody in.
    const refused = await runLoadtestCli(
      loadtestArgs({ ...flags, "connect-timeout": 0.5 }),
    );
    assert.equal(refused.code, 1);
    assert.equal(refused.result?.connections.opened ?? 0, 0);
  } finally {
    await server.stop();
    await certificate.remove();
    await Deno.remove(tokenFile);
  }
});

Deno.test("Loadtest: a missing CA file costs one line and exit 1", async () => {
  const run = await runLoadtestCli([
    "--ca",
    "/nonexistent/ca.pem",
    "--port",
    "1",
  ], { json: false });
  assert.equal(run.code, 1);
  assert.match(
    run.stderr.trim(),
    /^hubbub loadtest: Cannot read the CA file \/nonexistent\/ca\.pem: it does not exist$/,
  );
});

Deno.test("Loadtest: a closed-loop run where a publisher sent nothing fails its verdict", async () => {
  await withOurServer(async (port) => {
    const run = await runLoadtestCli(loadtestArgs({
      ...SHORT_RUN,
      port,
      rate: 0,
      duration: 0.5,
      warmup: 0,
    }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const { verdict, ...figures } = run.result!;
    assert.equal(figures.throughput.silentPublishers, 0);
    assert.deepEqual(verdict.failures, []);
    // The same run, had two publishers' windows never opened: nothing
    // lost, and still a failure.
    const stuck = {
      ...figures,
      throughput: { ...figures.throughput, silentPublishers: 2 },
    };
    assert.deepEqual(verdictOf(stuck).failures, [
      "2 of 5 publishers sent nothing",
    ]);
  });
});

Deno.test("Loadtest: a connection that stops reading is dropped by our server, and the others get everything", async () => {
  await withOurServer(async (port) => {
    // Closed loop with the largest payloads: tens of MB/s to every client,
    // so the stalled one fills the kernel's buffers and its queue at once.
    const run = await runLoadtestCli(loadtestArgs({
      port,
      clients: 20,
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
    assert.equal(result.connections.opened, 21);
    assert.equal(result.delivery.lost, 0);
    assert.equal(result.delivery.delivered, result.delivery.expected);
    assert.equal(result.errors.disconnectCount, 0);
    assert.match(run.stdout, /dropped by server +1\n/);
  }, ["--max-pending-bytes", "262144"]);
});

Deno.test("Loadtest: a stalled connection the server still holds at the end is not counted as dropped", async () => {
  await withOurServer(async (port) => {
    // A few KB for the stalled connection: the kernel holds it all.
    const run = await runLoadtestCli(loadtestArgs({
      ...SHORT_RUN,
      duration: 1,
      port,
      stalled: 2,
    }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(run.result!.stalled, { joined: 2, droppedByServer: 0 });
    assert.equal(run.result!.delivery.lost, 0);
  });
});

Deno.test("Loadtest: drives Redis pub/sub through the redis target", async (t) => {
  let redis: ServerUnderTest;
  try {
    redis = await startRedis(null);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    // .ci/run installs it; a bare machine may not have it.
    await t.step({
      name: "redis-server is not installed",
      ignore: true,
      fn() {},
    });
    return;
  }
  try {
    const run = await runLoadtestCli(loadtestArgs({
      target: "redis",
      port: redis.port,
      clients: 20,
      publishers: 3,
      rate: 300,
      duration: 1,
      warmup: 0.2,
      // Redis holds a few KB for it: answered, so not dropped.
      stalled: 1,
    }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = run.result!;
    assert.equal(result.connections.opened, 24);
    assert.deepEqual(result.stalled, { joined: 1, droppedByServer: 0 });
    assert.equal(result.delivery.lost, 0);
    assert.equal(result.delivery.delivered, result.throughput.published * 20);
    assert.equal(result.delivery.publishReplyMismatches, 0);
  } finally {
    await redis.stop();
  }
});

Deno.test("Loadtest: --help documents every flag", async () => {
  const run = await runLoadtestCli(["--help"], { json: false });
  assert.equal(run.code, 0);
  for (const name of Object.keys(loadtestCommand.options)) {
    assert.match(run.stdout, new RegExp(`--${name}\\b`), `--${name}`);
  }
  assert.match(run.stdout, /Exit status/);
});

Deno.test("Loadtest: bad flags give one clear line and exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--clients", "many"], /--clients needs a whole number/],
    [["--size", "15"], /--size must be at least 16/],
    [["--clients", "-5"], /--clients must be at least 1, got -5/],
    [["--publishers", "0"], /--publishers must be at least 1/],
    [["--size", "489"], /--size must be at most 488/],
    [["--clients", "5", "--publishers", "6"], /cannot exceed --clients/],
    [["--target", "kafka"], /--target must be one of hubbub, redis/],
    [["--frobnicate"], /Unknown option '--frobnicate'/],
  ];
  for (const [args, message] of cases) {
    const run = await runLoadtestCli(args, { json: false });
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    const lines = run.stderr.trim().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0], message);
  }
});

Deno.test("Loadtest: a refused connection is reported in plain words, without a stack trace", async () => {
  const run = await runLoadtestCli(
    loadtestArgs({
      port: closedPort(),
      clients: 5,
      publishers: 1,
      quiet: true,
    }),
    { json: false },
  );
  assert.equal(run.code, 1);
  const lines = run.stderr.trim().split("\n");
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], /Cannot connect to 127\.0\.0\.1:\d+: 5 refused/);
});

Deno.test("DeliveryChecker: counts loss, duplicates and reordering exactly", () => {
  const checker = new DeliveryChecker(2, 2);
  for (const sequence of [0, 1, 2, 3, 4]) checker.record(0, 0, sequence);
  for (const sequence of [0, 2, 1, 1, 5]) checker.record(0, 1, sequence);
  for (const sequence of [0, 1]) checker.record(1, 0, sequence);
  assert.equal(checker.duplicates, 1);
  assert.equal(checker.reordered, 1);
  assert.equal(checker.missing, 2); // 3 and 4 from publisher 1 to receiver 0
  // 6 published by each: receiver 0 lacks 5 from p0 and 3, 4 from p1;
  // receiver 1 lacks 2..5 from p0 and all 6 from p1.
  assert.equal(checker.lost([6, 6]), 1 + 2 + 4 + 6);
  assert.equal(checker.isComplete(0, [5, 6]), false);
  assert.equal(checker.highestSeen(1), 6);
});

Deno.test("Loadtest payload: printable text that survives lossy UTF-8 re-encoding, and reads back exactly", () => {
  const bytes = new Uint8Array(64);
  const view = new DataView(bytes.buffer);
  writePayloadTemplate(bytes, 0, 64);
  const wrap = 2 ** 48;
  const reader = new PayloadReader();
  // [publisher, sequence, intended µs, receiver's now µs]
  const cases: [number, number, number, number][] = [
    [0, 0, 0, 0],
    [2 ** 16 - 1, 0xffff_ffff, 1_764_578_000_123_456, 1_764_578_000_124_000],
    [7, 123_456_789, 1_764_578_000_123_456, 1_764_578_000_100_000],
    // Either side of a wrap of the time field, and a receiver's clock
    // ahead of or behind the sender's by years.
    [1, 1, 6 * wrap - 1, 6 * wrap + 5],
    [1, 2, 6 * wrap + 3, 6 * wrap - 5],
    [2, 3, 2 ** 53 - 1, 2 ** 53 - 1 - 2 ** 46],
    [3, 4, 5 * wrap + 10, 5 * wrap + 10 + 2 ** 46],
  ];
  for (const [publisher, sequence, intended, now] of cases) {
    writePayload(view, 0, publisher, sequence, intended);
    for (const byte of bytes) {
      assert.ok(byte >= 0x20 && byte < 0x7f, `byte ${byte} is not printable`);
    }
    const relayed = new TextEncoder().encode(new TextDecoder().decode(bytes));
    assert.deepEqual(relayed, bytes);
    reader.setNow(now, intended, intended + 1);
    assert.equal(reader.read(view, 0), true);
    assert.equal(reader.publisher, publisher);
    assert.equal(reader.sequence, sequence);
    assert.equal(reader.latencyMicroseconds, now - intended);
    assert.equal(reader.sentInWindow, true);
    reader.setNow(now, intended + 1, Infinity);
    reader.read(view, 0);
    assert.equal(reader.sentInWindow, false, "sent before the window");
    reader.setNow(now, -Infinity, intended);
    reader.read(view, 0);
    assert.equal(reader.sentInWindow, false, "sent at the window's end");
  }
  for (const offset of [0, 7, 15]) {
    for (const bad of [0x20, 0x3e, 0x7f, 0xb0]) {
      const copy = bytes.slice();
      copy[offset] = bad;
      assert.equal(
        reader.read(new DataView(copy.buffer), 0),
        false,
        `byte ${bad} at ${offset}`,
      );
    }
  }
});
