/**
 * The end of a shutdown (server/shutdown_drain.ts) on a fake clock: who is
 * waited for, when the grace closes them, and what is counted and logged.
 * The same path through a real server is in shutdown_test.ts.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import { Connection } from "../server/connection.ts";
import { Logger } from "../server/logger.ts";
import { Metrics } from "../server/metrics.ts";
import { ShutdownDrain } from "../server/shutdown_drain.ts";
import { FakeClock } from "./_fake_clock.ts";
import { stuckConnection } from "./_stuck_stream.ts";

function setup() {
  const clock = new FakeClock(1000);
  const metrics = new Metrics();
  const lines: string[] = [];
  const logger = new Logger({ level: "debug", write: (l) => lines.push(l) });
  const drain = new ShutdownDrain(clock, metrics, logger);
  return { clock, metrics, lines, drain };
}

/** A dropped connection whose three frames cannot leave. */
function droppedConnection(clock: FakeClock): Connection {
  const connection = stuckConnection(clock);
  for (let i = 0; i < 3; i++) {
    assert.ok(connection.writer.append(encodeFrame(Tag.CHAT, 1, "hi")));
  }
  connection.writer.closeWhenFlushed(60_000);
  return connection;
}

Deno.test("Shutdown drain: a connection still flushing is closed when the grace runs out, its unsent frames counted and logged as a warning", async () => {
  const { clock, metrics, lines, drain } = setup();
  const connection = droppedConnection(clock);
  drain.lingering(connection);
  let done = false;
  const finished = new Promise<void>((resolve) =>
    drain.start(500, () => {
      done = true;
      resolve();
    })
  );
  clock.advance(499);
  await Promise.resolve();
  assert.equal(connection.writer.closed, false, "the grace is not over");
  assert.equal(done, false);
  clock.advance(1);
  assert.equal(connection.writer.closed, true);
  await finished;
  const unsent = connection.writer.unsentAtClose;
  assert.ok(unsent > 0, "frames were left");
  assert.equal(metrics.shutdownUndeliveredFrames, unsent);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /WARN/i);
  assert.match(
    lines[0],
    new RegExp(
      `Every connection closed undelivered_frames=${unsent} unrelayed_chats=0`,
    ),
  );
});

Deno.test("Shutdown drain: with nobody flushing, done comes without the grace and the report is at info", async () => {
  const { clock, metrics, lines, drain } = setup();
  const closed = droppedConnection(clock);
  drain.lingering(closed);
  closed.writer.close(); // closed before the shutdown: not waited for
  await Promise.resolve();
  await new Promise<void>((resolve) => drain.start(60_000, resolve));
  assert.equal(metrics.shutdownUndeliveredFrames, 0);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /INFO/i);
  assert.match(lines[0], /undelivered_frames=0 unrelayed_chats=0/);
});

Deno.test("Shutdown drain: unrelayed counts the CHAT frames of a chunk and nothing else, and the report includes them", async () => {
  const { metrics, lines, drain } = setup();
  const frames = [
    encodeFrame(Tag.CHAT, 0, "a"),
    encodeFrame(Tag.NICK, 0, "ann"),
    encodeFrame(Tag.CHAT, 0, ""),
    encodeFrame(Tag.PING, 0),
  ];
  const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const frame of frames) {
    bytes.set(frame, at);
    at += frame.length;
  }
  drain.unrelayed(bytes, bytes.length);
  assert.equal(metrics.shutdownUnrelayedChats, 2);
  await new Promise<void>((resolve) => drain.start(100, resolve));
  assert.match(lines[0], /WARN/i);
  assert.match(lines[0], /undelivered_frames=0 unrelayed_chats=2/);
});
