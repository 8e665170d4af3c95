/**
 * The logger never blocks: a bounded queue with one asynchronous write in
 * flight (dropping and counting what does not fit), a per-address rate limit
 * on warnings clients cause (driven by an explicit clock), and the summaries
 * of both.
 */

import assert from "node:assert/strict";
import { BoundedLogWriter, type LogSink } from "../server/log_writer.ts";
import { LogThrottle } from "../server/log_throttle.ts";
import { Logger } from "../server/logger.ts";

/** A sink whose writes wait until the test lets them through. */
class StalledSink implements LogSink {
  writes: string[] = [];
  inFlight = 0;
  #release: (() => void)[] = [];
  #stalled = true;
  async write(bytes: Uint8Array): Promise<number> {
    this.inFlight++;
    if (this.#stalled) {
      await new Promise<void>((resolve) => this.#release.push(resolve));
    }
    this.inFlight--;
    this.writes.push(new TextDecoder().decode(bytes));
    return bytes.length;
  }
  /** Let every write through from now on. */
  resume(): void {
    this.#stalled = false;
    for (const release of this.#release.splice(0)) release();
  }
  get text(): string {
    return this.writes.join("");
  }
}

Deno.test("Log writer: a stalled sink never blocks a write; the queue is bounded and drops are counted", async () => {
  const sink = new StalledSink();
  const writer = new BoundedLogWriter(sink, 100);
  const line = "x".repeat(19); // 20 bytes with its newline
  const results = Array.from({ length: 8 }, () => writer.write(line));
  assert.deepEqual(results, [
    true,
    true,
    true,
    true,
    true,
    false,
    false,
    false,
  ]);
  assert.equal(writer.queuedBytes, 100);
  assert.equal(writer.dropped, 3);
  assert.equal(sink.inFlight, 1, "one write in flight at a time");
  assert.equal(await writer.flush(10), false, "a stalled sink never drains");
  sink.resume();
  assert.equal(await writer.flush(10_000), true);
  assert.equal(sink.text, `${line}\n`.repeat(5));
  assert.equal(writer.queuedBytes, 0);
  // Room again: lines are taken.
  assert.equal(writer.write("after"), true);
  assert.equal(await writer.flush(10_000), true);
  assert.ok(sink.text.endsWith("after\n"));
});

Deno.test("Log writer: lines queued behind a write leave together, in order, across short writes", async () => {
  const chunks: string[] = [];
  let calls = 0;
  const sink: LogSink = {
    write(bytes) {
      calls++;
      // Take at most 3 bytes a call, as a pipe may.
      const taken = bytes.subarray(0, 3);
      chunks.push(new TextDecoder().decode(taken));
      return Promise.resolve(taken.length);
    },
  };
  const writer = new BoundedLogWriter(sink, 1000);
  for (const word of ["one", "two", "three"]) writer.write(word);
  assert.equal(await writer.flush(10_000), true);
  assert.equal(chunks.join(""), "one\ntwo\nthree\n");
  assert.equal(calls, Math.ceil(4 / 3) + Math.ceil(10 / 3));
});

Deno.test("Log writer: after the sink fails, every line is dropped and counted", async () => {
  const sink: LogSink = { write: () => Promise.reject(new Error("EPIPE")) };
  const writer = new BoundedLogWriter(sink, 1000);
  writer.write("lost");
  assert.equal(await writer.flush(10_000), true);
  assert.equal(writer.write("also lost"), false);
  assert.equal(writer.dropped, 2);
  assert.equal(writer.queuedBytes, 0);
});

Deno.test("Log throttle: at most N a window per kind, the rest counted and summarised once", () => {
  const throttle = new LogThrottle({ perWindow: 2, windowMs: 1000 });
  const admitted = [0, 1, 2, 3, 999].map((t) => throttle.admit("a", t));
  assert.deepEqual(admitted, [true, true, false, false, false]);
  assert.equal(throttle.admit("b", 10), true, "another kind has its own");
  assert.equal(throttle.suppressed, 3);
  assert.deepEqual(throttle.sweep(500), [], "no window is over yet");
  assert.deepEqual(throttle.sweep(1000), [{ kind: "a", suppressed: 3 }]);
  assert.deepEqual(throttle.sweep(5000), [], "reported once");
  assert.equal(throttle.admit("a", 5001), true, "a new window");
});

Deno.test("Log throttle: past the table size, new kinds share one window", () => {
  const throttle = new LogThrottle({ perWindow: 1, maxKinds: 2 });
  assert.equal(throttle.admit("a", 0, "other"), true);
  assert.equal(throttle.admit("b", 0, "other"), true);
  // The table is full: c, d and e share the window "other".
  assert.equal(throttle.admit("c", 0, "other"), true);
  assert.equal(throttle.admit("d", 0, "other"), false);
  assert.equal(throttle.admit("e", 0, "other"), false);
  assert.deepEqual(throttle.sweep(1000, true), [
    { kind: "other", suppressed: 2 },
  ]);
});

Deno.test("Logger: warnings about one address are rate-limited whatever the port, with a summary line", async () => {
  let now = 0;
  const lines: string[] = [];
  const logger = new Logger({
    write: (line) => lines.push(line),
    throttle: { perWindow: 3, windowMs: 1000 },
    now: () => now,
  });
  for (let port = 5000; port < 5010; port++) {
    logger.warn("Client disconnected", {
      address: `10.0.0.1:${port}`,
      reason: "protocol",
    });
  }
  logger.warn("Client disconnected", {
    address: "10.0.0.2:6000",
    reason: "protocol",
  });
  logger.warn("Client disconnected", {
    address: "10.0.0.1:7000",
    reason: "slow_consumer",
  });
  for (let i = 0; i < 5; i++) {
    logger.info("Client connected", { address: "10.0.0.1:5000" });
  }
  logger.warn("Accept failed; backing off");
  logger.warn("Accept failed; backing off");
  const warnings = lines.filter((l) => /WARN/.test(l));
  assert.equal(
    warnings.filter((l) => /10\.0\.0\.1.*reason=protocol/.test(l)).length,
    3,
  );
  assert.equal(warnings.filter((l) => /10\.0\.0\.2/.test(l)).length, 1);
  assert.equal(warnings.filter((l) => /slow_consumer/.test(l)).length, 1);
  assert.equal(lines.filter((l) => /Client connected/.test(l)).length, 5);
  assert.equal(lines.filter((l) => /Accept failed/.test(l)).length, 2);
  assert.equal(logger.suppressedLines, 7);
  assert.ok(!lines.some((l) => /suppressed/.test(l)));
  now = 1000;
  logger.info("Later");
  const summary = lines.find((l) => /Repeated warnings suppressed/.test(l));
  assert.ok(summary, lines.join("\n"));
  assert.match(summary, /WARN/);
  assert.match(summary, /warning="Client disconnected"/);
  assert.match(summary, /reason=protocol/);
  assert.match(summary, /address=10\.0\.0\.1 /);
  assert.match(summary, /suppressed=7$/);
  // A flush at exit writes the summaries still due.
  for (let i = 0; i < 5; i++) {
    logger.error("Client failed", { address: "[::1]:1" });
  }
  await logger.flush(1000);
  assert.match(lines.at(-1)!, /ERROR Repeated warnings.*suppressed=2$/);
});

Deno.test("Logger: lines a stalled stderr cannot take are dropped, counted, and reported once it drains", async () => {
  const sink = new StalledSink();
  const logger = new Logger({ sink, bufferBytes: 4096, format: "json" });
  for (let i = 0; i < 1000; i++) logger.info("Client connected", { id: i });
  const dropped = logger.droppedLines;
  assert.ok(dropped > 900 && dropped < 1000, `${dropped} dropped`);
  assert.equal(await logger.flush(10), false);
  sink.resume();
  assert.equal(await logger.flush(10_000), true);
  logger.info("Back");
  assert.equal(await logger.flush(10_000), true);
  const lines = sink.text.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 1000 - dropped + 2);
  assert.deepEqual(
    lines.slice(0, 3).map((l) => l.id),
    [0, 1, 2],
    "the first lines are kept, in order",
  );
  const report = lines.at(-2);
  assert.equal(report.level, "warn");
  assert.match(report.msg, /Log lines dropped/);
  assert.equal(report.dropped, dropped);
  assert.equal(lines.at(-1).msg, "Back");
});

Deno.test("Logger: a burst of a line per client in one tick (as at shutdown) fits the default queue of a healthy stderr", async () => {
  let written = 0;
  const sink: LogSink = {
    write(bytes) {
      written += bytes.length;
      return Promise.resolve(bytes.length);
    },
  };
  const logger = new Logger({ sink });
  const address = "192.0.2.1:40000";
  for (let id = 1; id <= 20_000; id++) {
    logger.info("Client disconnected", { id, address, reason: "shutdown" });
  }
  assert.equal(logger.droppedLines, 0);
  assert.equal(await logger.flush(10_000), true);
  assert.ok(written > 20_000 * 80);
});

Deno.test("Logger: once muted it writes nothing, not even lines marked always", () => {
  const lines: string[] = [];
  const logger = new Logger({ write: (line) => lines.push(line) });
  logger.info("before");
  logger.mute();
  logger.error("after");
  logger.log("info", "Listening", {}, true);
  assert.equal(lines.length, 1);
});
