import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import {
  ClientWriter,
  Connection,
  DEFAULT_HUB_OPTIONS,
  Hub,
  Logger,
} from "../server/mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import { waitUntil } from "./_kit.ts";
import { StuckStream } from "./_stuck_stream.ts";

Deno.test("FakeClock: advance runs the timers that fall due in order of their time, each with the clock at that time", () => {
  const clock = new FakeClock(100);
  const seen: [string, number][] = [];
  const late = clock.timer(() => seen.push(["late", clock.now()]));
  const early = clock.timer(() => seen.push(["early", clock.now()]));
  late.schedule(30);
  early.schedule(10);
  const stop = clock.every(
    15,
    () => seen.push(["tick", clock.now()]),
  );
  clock.advance(29);
  assert.deepEqual(seen, [["early", 110], ["tick", 115]]);
  assert.equal(clock.now(), 129);
  clock.advance(1);
  // A tie runs in the order of scheduling: "late" was scheduled first.
  assert.deepEqual(seen.slice(2), [["late", 130], ["tick", 130]]);
  stop();
  clock.advance(100);
  assert.equal(seen.length, 4, "a stopped period runs no more");
});

Deno.test("FakeClock: a timer fires once per schedule, can be scheduled again, and closed never fires", () => {
  const clock = new FakeClock();
  let fired = 0;
  const timer = clock.timer(() => fired++);
  timer.schedule(5);
  timer.schedule(1); // already running: unchanged
  clock.advance(4);
  assert.equal(fired, 0);
  assert.equal(timer.scheduled, true);
  clock.advance(1);
  assert.equal(fired, 1);
  assert.equal(timer.scheduled, false);
  timer.schedule(2);
  timer.close();
  clock.advance(10);
  assert.equal(fired, 1);
  timer.schedule(1);
  clock.advance(10);
  assert.equal(fired, 1, "a closed timer is never scheduled again");
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("ClientWriter: a write's start is stamped on the writer's clock, the one the hub's write deadline reads", () => {
  const clock = new FakeClock(5000);
  const stream = new StuckStream();
  const writer = new ClientWriter(stream, 1024, () => {}, undefined, clock);
  assert.equal(writer.writeStartedAt, -1);
  writer.append(encodeFrame(Tag.CHAT, 1, "hi"));
  writer.flush();
  assert.equal(stream.writes, 1);
  assert.equal(writer.writeStartedAt, 5000);
});

Deno.test("ClientWriter: the linger of a writer closing with bytes unsent runs on its clock", () => {
  const clock = new FakeClock();
  const stream = new StuckStream();
  const writer = new ClientWriter(stream, 1024, () => {}, undefined, clock);
  writer.append(encodeFrame(Tag.CHAT, 1, "hi"));
  writer.closeWhenFlushed(2000);
  clock.advance(1999);
  assert.equal(stream.closed, false);
  clock.advance(1);
  assert.equal(stream.closed, true);
  assert.equal(writer.closed, true);
});

Deno.test("Hub: on a fake clock, a client whose write makes no progress is dropped once the clock passes the write deadline", async () => {
  const clock = new FakeClock();
  const logs: string[] = [];
  const hub = new Hub({
    ...DEFAULT_HUB_OPTIONS,
    logger: new Logger({ level: "debug", write: (line) => logs.push(line) }),
    tokens: null,
    writeDeadlineMs: 1000,
    clock,
  });
  const running = hub.run();
  try {
    const stream = new StuckStream();
    const client = new Connection(
      stream,
      64 * 1024,
      () => {},
      undefined,
      clock,
    );
    hub.inbox.push({ kind: "connect", client });
    // The ISSUE_ID is the write that never completes.
    await waitUntil(() => stream.writes === 1, "the ISSUE_ID write to start");
    clock.advance(999);
    await waitUntil(
      () => hub.metrics.batches >= 2,
      "the hub to handle the ticks so far",
    );
    assert.equal(hub.gauges.clientCount, 1, "not yet: the deadline is 1000 ms");
    clock.advance(300);
    await waitUntil(
      () => hub.metrics.disconnects.get("slow_consumer") === 1,
      "the stalled client to be dropped",
    );
    assert.equal(hub.gauges.clientCount, 0);
    assert.ok(
      logs.some((line) =>
        /reason=slow_consumer detail="write stalled/.test(line)
      ),
    );
    // Its farewell cannot leave either: the linger closes it, on the clock.
    clock.advance(DEFAULT_HUB_OPTIONS.lingerMs);
    assert.equal(stream.closed, true);
  } finally {
    hub.inbox.close();
    await running;
  }
});
