import assert from "node:assert/strict";
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
 * Run `body` against an in-process server where any write rate counts as
 * busy (so the flush policy acts), with `count` members connected to it.
 */
async function withBusyServer(
  count: number,
  body: (server: Server, members: RawClient[]) => Promise<void>,
): Promise<void> {
  await withServer(
    { maxMessagesPerSecond: 0, coalesceWriteRate: 1 },
    async (server) => {
      const members: RawClient[] = [];
      for (let i = 0; i < count; i++) {
        members.push(await RawClient.connect(server.address.port));
      }
      try {
        await body(server, members);
      } finally {
        await Promise.all(members.map((member) => member.close()));
      }
    },
  );
}

Deno.test("Hub: while big-room flush rounds are spaced, every member still gets every message in order", async () => {
  // 300 members make rounds of 300 writes.
  await withBusyServer(300, async (server, members) => {
    const sender = members[0];
    // The policy decides once per 100 ms window: send for at least a few
    // windows, and until it spaced the rounds (or gave up).
    let count = 0;
    let sawSpacing = false;
    const began = performance.now();
    while (
      count < 400 ||
      (!sawSpacing && count < 5000 && performance.now() - began < 5000)
    ) {
      await sender.send(Tag.CHAT, String(count++));
      if (count % 20 === 0) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      sawSpacing ||= server.hub.flushRoundInterval > 0;
    }
    const expected = Array.from({ length: count }, (_, i) => String(i));
    for (const member of members) {
      const frames = await member.chats(count, 20_000);
      assert.deepEqual(frames.map(text), expected);
    }
    assert.ok(sawSpacing, "the load did not turn round spacing on");
  });
});

Deno.test("Hub: round spacing ends when only small rooms are busy, though many clients wait in each round", async () => {
  await withBusyServer(300, async (server, members) => {
    // A busy room of 300: rounds get spaced.
    const began = performance.now();
    for (let i = 0; server.hub.flushRoundInterval === 0; i++) {
      assert.ok(performance.now() - began < 5000, "spacing never began");
      await members[0].send(Tag.CHAT, "all");
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    // Then 150 busy rooms of 2. A round holds output for many
    // clients, but each batch reaches two: the spacing must end.
    for (let i = 0; i < 300; i++) {
      await members[i].send(Tag.JOIN, `pair-${i >> 1}`);
    }
    const switched = performance.now();
    while (server.hub.flushRoundInterval > 0) {
      assert.ok(
        performance.now() - switched < 5000,
        "spacing outlived the big room's traffic",
      );
      for (let i = 0; i < 300; i += 2) {
        await members[i].send(Tag.CHAT, "pair");
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  });
});

Deno.test("Hub: while coalescing writes, every member still gets every message in order", async () => {
  // Any rate of small batches coalesces here.
  await withBusyServer(60, async (server, members) => {
    const sender = members[0];
    const count = 3000;
    let sawCoalescing = false;
    for (let i = 0; i < count; i++) {
      // One frame per write: batches of one message, to 60 clients.
      await sender.send(Tag.CHAT, String(i));
      if (i % 50 === 0) {
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      sawCoalescing ||= server.hub.coalescing;
    }
    for (const member of members) {
      const frames = await member.chats(count, 20_000);
      assert.deepEqual(
        frames.map(text),
        Array.from({ length: count }, (_, i) => String(i)),
      );
    }
    assert.ok(sawCoalescing, "the load did not turn coalescing on");
  });
});
