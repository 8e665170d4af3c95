import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import {
  COALESCE_DELAY_MS,
  COALESCE_WRITE_RATE,
  FlushPolicy,
  MAX_COALESCED_ROUND_WRITES,
  MAX_ROUND_INTERVAL_MS,
  PreciseTimer,
  ROUND_WRITE_COST_MS,
  type Server,
  SMALL_BATCH_MESSAGES,
} from "../server/mod.ts";
import { Tag } from "../protocol/mod.ts";
import { RawClient, text } from "./_raw_client.ts";
import { FakeClock } from "./_fake_clock.ts";
import { framesHandled, withClockedServer } from "./_kit.ts";
import { withServer } from "./_server.ts";

/** Feed the policy `batches` batches evenly over `ms` milliseconds. */
function feed(
  policy: FlushPolicy,
  from: number,
  ms: number,
  batches: number,
  messages: number,
  recipients: number,
): number {
  for (let i = 1; i <= batches; i++) {
    policy.observeBatch(from + ms * i / batches, messages, recipients);
  }
  return from + ms;
}

Deno.test("FlushPolicy: a quiet server writes at once", () => {
  const policy = new FlushPolicy();
  feed(policy, 0, 200, 20, 1, 100); // 10,000 writes/s
  assert.equal(policy.coalescing, false);
  assert.equal(policy.holdFor(0), 0);
});

Deno.test("FlushPolicy: many small batches to many clients turn coalescing on, and off again", () => {
  const policy = new FlushPolicy();
  let now = feed(policy, 0, 200, 400, 1, 100); // 200,000 writes/s of one message
  assert.equal(policy.coalescing, true);
  assert.ok(400 * 100 / 0.2 > COALESCE_WRITE_RATE);
  now = feed(policy, now, 200, 10, 1, 100);
  assert.equal(policy.coalescing, false);
});

Deno.test("FlushPolicy: a server that falls quiet stops coalescing at the next tick", () => {
  const policy = new FlushPolicy();
  const now = feed(policy, 0, 200, 400, 1, 100);
  assert.equal(policy.coalescing, true);
  policy.tick(now + 50);
  assert.equal(policy.coalescing, true, "the window is not over yet");
  policy.tick(now + 150);
  assert.equal(policy.coalescing, false);
});

Deno.test("FlushPolicy: busy rooms so big that a round is hundreds of writes get their rounds spaced, not coalesced", () => {
  const policy = new FlushPolicy();
  const writes = 1000;
  let now = feed(policy, 0, 200, 400, 1, writes);
  assert.equal(policy.coalescing, false);
  const interval = writes * ROUND_WRITE_COST_MS;
  assert.equal(policy.roundInterval, interval);
  // Leading edge: a round is due at once when the last one is long past,
  // else the rest of the interval.
  assert.equal(policy.holdFor(interval), 0);
  assert.equal(policy.holdFor(Infinity), 0);
  assert.equal(policy.holdFor(interval / 4), interval * 3 / 4);
  now = feed(policy, now, 200, 400, 1, MAX_COALESCED_ROUND_WRITES);
  assert.equal(policy.coalescing, true);
  assert.equal(policy.roundInterval, 0);
  assert.equal(policy.holdFor(Infinity), COALESCE_DELAY_MS);
  // Big but quiet: a few rounds a second are written at once.
  now = feed(policy, now, 200, 4, 1, writes);
  assert.equal(policy.roundInterval, 0);
  assert.equal(policy.holdFor(0), 0);
  // Large batches (a throughput run) to a big room are spaced too.
  now = feed(policy, now, 200, 400, SMALL_BATCH_MESSAGES * 4, writes);
  assert.equal(policy.roundInterval, interval);
  // Huge rooms: the spacing is capped.
  feed(policy, now, 200, 400, 1, 100_000);
  assert.equal(policy.roundInterval, MAX_ROUND_INTERVAL_MS);
});

Deno.test("FlushPolicy: a write rate of 0 never coalesces", () => {
  const policy = new FlushPolicy(0);
  feed(policy, 0, 200, 400, 1, 100);
  assert.equal(policy.coalescing, false);
});

Deno.test("FlushPolicy: large batches are written at once however many writes they make", () => {
  const policy = new FlushPolicy();
  feed(policy, 0, 200, 400, SMALL_BATCH_MESSAGES * 4, 100);
  assert.equal(policy.coalescing, false);
});

Deno.test("PreciseTimer: calls back once after the delay, and close cancels", async () => {
  let calls = 0;
  let fired = Promise.withResolvers<void>();
  const timer = new PreciseTimer(() => {
    calls++;
    fired.resolve();
  });
  try {
    const started = performance.now();
    timer.schedule(5);
    timer.schedule(0); // ignored: a delay is already running
    assert.equal(timer.scheduled, true);
    await fired.promise;
    assert.ok(performance.now() - started >= 5);
    assert.equal(calls, 1);
    assert.equal(timer.scheduled, false);
    fired = Promise.withResolvers<void>();
    timer.schedule(0.2);
    await fired.promise;
    assert.equal(calls, 2);
    timer.schedule(10_000);
  } finally {
    timer.close();
  }
  assert.equal(timer.scheduled, false);
  assert.equal(calls, 2);
});

/**
 * Run `body` against an in-process server on a fake clock where any write
 * rate counts as busy (so the flush policy acts), with `count` members
 * connected to it. Until the clock moves, the policy has measured no window
 * and writes at once.
 */
async function withBusyServer(
  count: number,
  body: (server: Server, members: RawClient[], clock: FakeClock) => Promise<
    void
  >,
): Promise<void> {
  await withClockedServer(
    { maxMessagesPerSecond: 0, coalesceWriteRate: 1 },
    async (server, clock) => {
      const members: RawClient[] = [];
      for (let i = 0; i < count; i++) {
        members.push(await RawClient.connect(server.address.port));
      }
      try {
        await body(server, members, clock);
      } finally {
        await Promise.all(members.map((member) => member.close()));
      }
    },
  );
}

/**
 * Move `clock` on by `stepMs` at every turn of the event loop (after its
 * I/O: `setImmediate`, not a timer) until `done` settles (bounded), so that
 * held output leaves; return what it gave.
 */
async function runClock<T>(
  clock: FakeClock,
  stepMs: number,
  done: Promise<T>,
): Promise<T> {
  let settled = false;
  done.then(() => settled = true, () => settled = true);
  for (let i = 0; i < 200_000 && !settled; i++) {
    clock.advance(stepMs);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return await done;
}

/** Every member's next `count` CHAT bodies. */
function allChats(members: RawClient[], count: number): Promise<string[][]> {
  return Promise.all(
    members.map(async (m) => (await m.chats(count, 30_000)).map(text)),
  );
}

/**
 * End the flush policy's measuring window: move the clock past the hub's
 * next tick and wait until the hub has handled a frame `client` sends after
 * it (so the tick came first). Its reply may be held; nobody waits for it.
 */
async function endWindow(
  server: Server,
  clock: FakeClock,
  client: RawClient,
): Promise<void> {
  clock.advance(1000);
  const handled = server.hub.metrics.framesIn;
  await client.send(Tag.PING);
  await framesHandled(server, handled + 1);
}

/** `to - from` CHAT bodies: the numbers from `from`. */
function numbers(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => String(from + i));
}

/**
 * Send one frame from `client` and wait until the hub has handled it, in a
 * batch of its own (nothing else is in flight, and the clock, standing
 * still, fires no tick). Its output may be held.
 */
async function sendAlone(
  server: Server,
  client: RawClient,
  tag: number,
  body: string,
): Promise<void> {
  const handled = server.hub.metrics.framesIn;
  await client.send(tag, body);
  const deadline = Date.now() + 10_000;
  while (server.hub.metrics.framesIn <= handled) {
    if (Date.now() > deadline) throw new Error("the frame was not handled");
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Send each body as a CHAT of its own batch (see {@linkcode sendAlone}). */
async function sendEach(
  server: Server,
  sender: RawClient,
  bodies: string[],
): Promise<void> {
  for (const body of bodies) await sendAlone(server, sender, Tag.CHAT, body);
}

Deno.test("Hub: while big-room flush rounds are spaced, every member still gets every message in order", async () => {
  // 300 members make rounds of 300 writes.
  await withBusyServer(300, async (server, members, clock) => {
    const sender = members[0];
    await endWindow(server, clock, sender); // the connections' window
    // A window of batches of one message to the room: rounds get spaced.
    await sendEach(server, sender, numbers(0, 100));
    await endWindow(server, clock, sender);
    assert.ok(server.hub.gauges.flushRoundInterval > 0, "rounds not spaced");
    // While they are, 400 more, back to back; time runs until all arrive.
    const received = allChats(members, 500);
    for (const body of numbers(100, 500)) await sender.send(Tag.CHAT, body);
    for (const bodies of await runClock(clock, 1, received)) {
      assert.deepEqual(bodies, numbers(0, 500));
    }
  });
});

Deno.test("Hub: round spacing ends when only small rooms are busy, though many clients wait in each round", async () => {
  await withBusyServer(300, async (server, members, clock) => {
    await endWindow(server, clock, members[0]);
    // A busy room of 300: after its window, rounds get spaced.
    await sendEach(server, members[0], Array(100).fill("all"));
    await endWindow(server, clock, members[0]);
    assert.ok(server.hub.gauges.flushRoundInterval > 0, "spacing never began");
    // Then 150 busy rooms of 2, a batch each, while the clock stands
    // still: the held round soon has all 300 clients waiting, but each
    // batch reaches two, so after the window the spacing ends.
    for (let i = 0; i < 300; i++) {
      await sendAlone(server, members[i], Tag.JOIN, `pair-${i >> 1}`);
    }
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 300; i += 2) {
        await sendAlone(server, members[i], Tag.CHAT, "pair");
      }
    }
    await endWindow(server, clock, members[0]);
    assert.equal(server.hub.gauges.flushRoundInterval, 0);
  });
});

Deno.test("Hub: while coalescing writes, every member still gets every message in order", async () => {
  // Any rate of small batches coalesces here.
  await withBusyServer(60, async (server, members, clock) => {
    const sender = members[0];
    const count = 3000;
    await endWindow(server, clock, sender);
    // Batches of one message, to 60 clients: after their window the policy
    // coalesces.
    await sendEach(server, sender, numbers(0, 100));
    await endWindow(server, clock, sender);
    assert.equal(server.hub.gauges.coalescing, true);
    const received = allChats(members, count);
    for (const body of numbers(100, count)) await sender.send(Tag.CHAT, body);
    for (const bodies of await runClock(clock, COALESCE_DELAY_MS, received)) {
      assert.deepEqual(bodies, numbers(0, count));
    }
  });
});

Deno.test("Hub: on the real clock, output held while coalescing is released by the precise timer, in order", async () => {
  await withServer(
    { maxMessagesPerSecond: 0, coalesceWriteRate: 1 },
    async (server) => {
      const members: RawClient[] = [];
      try {
        for (let i = 0; i < 20; i++) {
          members.push(await RawClient.connect(server.address.port));
        }
        const sender = members[0];
        // Batches of one message (the next once the sender has its copy)
        // until a 100 ms window has turned coalescing on (bounded), then
        // 200 more, back to back, while it holds output.
        const copies: string[] = [];
        let count = 0;
        while (!server.hub.gauges.coalescing && count < 20_000) {
          await sender.send(Tag.CHAT, String(count++));
          copies.push(text(await sender.next(Tag.CHAT)));
        }
        assert.ok(
          server.hub.gauges.coalescing,
          "the load did not turn coalescing on",
        );
        for (let i = 0; i < 200; i++) {
          await sender.send(Tag.CHAT, String(count++));
        }
        const [[own], others] = await Promise.all([
          allChats([sender], count - copies.length),
          allChats(members.slice(1), count),
        ]);
        assert.deepEqual([...copies, ...own], numbers(0, count));
        for (const bodies of others) {
          assert.deepEqual(bodies, numbers(0, count));
        }
      } finally {
        await Promise.all(members.map((member) => member.close()));
      }
    },
  );
});
