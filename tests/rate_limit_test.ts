/**
 * Rate limits against hostile patterns, over real sockets: a reconnect loop
 * from one address, a PING flood, a connect flood, and a compliant sender
 * across a server pause (SIGSTOP of a real server process); then the units
 * (token bucket with stalls, stall clock, frame budget, address limits) on
 * explicit times.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import { addressKey, AddressLimits } from "../server/address_limits.ts";
import {
  FLOOD_FACTOR,
  FrameBudget,
  isMessageTag,
  MIN_FLOOD_FRAMES,
  Verdict,
} from "../server/frame_budget.ts";
import { formatMetrics } from "../server/prometheus.ts";
import { DEFAULT_HUB_OPTIONS } from "../server/settings.ts";
import { StallClock } from "../server/stall_clock.ts";
import { type StallHistory, TokenBucket } from "../server/token_bucket.ts";
import {
  barrier,
  closeAll,
  concat,
  httpGet,
  ofTag,
  parseMetrics,
  RawClient,
  takeUntil,
  text,
  waitUntil,
  withClients,
  withClockedClients,
  withClockedServer,
} from "./_kit.ts";
import { runDeno, SERVER_MAIN, startServerProcess } from "./_process.ts";
import { withServer } from "./_server.ts";

function frames(tag: number, count: number, prefix = ""): Uint8Array {
  return concat(
    ...Array.from(
      { length: count },
      (_, i) => encodeFrame(tag, 0, `${prefix}${i}`),
    ),
  );
}

Deno.test("Rate limit: a reconnect loop from one address relays at most a few times the per-client limit (default flags)", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const receiver = await RawClient.connect(port);
    const burst = frames(Tag.CHAT, 999, "loop ");
    const started = performance.now();
    let connections = 0;
    let refused = 0;
    // Bounded: 2 s (so that the rate counts, not the burst), 3,000 attempts.
    while (connections + refused < 3000 && performance.now() - started < 2000) {
      const sender = await RawClient.connect(port, { handshake: false });
      const first = await sender.next(undefined, 10_000);
      if (first.tag === Tag.ISSUE_ID) {
        await sender.write(concat(burst, encodeFrame(Tag.CLOSE, 0)));
        // The server's CLOSE reply comes after it handled all 999 CHAT frames.
        await sender.next(Tag.CLOSE, 10_000);
        connections++;
      } else {
        assert.equal(text(first), "too many connections from your address");
        refused++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await sender.close();
    }
    const elapsedSeconds = (performance.now() - started) / 1000;
    // Whatever was relayed is queued to the receiver before this PONG.
    const received = ofTag(await barrier(receiver, 30_000), Tag.CHAT).length;
    const perSecond = received / elapsedSeconds;
    const { maxAddressMessagesPerSecond, addressMessageBurst } =
      DEFAULT_HUB_OPTIONS;
    assert.ok(
      received <= addressMessageBurst +
          maxAddressMessagesPerSecond * elapsedSeconds + 10,
      `${received} relayed in ${elapsedSeconds.toFixed(2)} s`,
    );
    assert.ok(
      perSecond <= 5 * DEFAULT_HUB_OPTIONS.maxMessagesPerSecond,
      `${connections} connections relayed ${Math.round(perSecond)} CHAT/s`,
    );
    assert.ok(received >= 999, "the first connection's burst went through");
    assert.ok(server.hub.metrics.rateLimitedFrames > 0);
    await closeAll(receiver);
  });
});

Deno.test("Rate limit: connections from one address over the connection rate get ERROR and the end", async () => {
  await withServer(
    { maxAddressConnectsPerSecond: 0.01, addressConnectBurst: 3 },
    async (server, logs) => {
      const port = server.address.port;
      const admitted = [];
      for (let i = 0; i < 3; i++) admitted.push(await RawClient.connect(port));
      const refused = await RawClient.connect(port, { handshake: false });
      const first = await refused.next();
      assert.equal(first.tag, Tag.ERROR);
      assert.equal(text(first), "too many connections from your address");
      await refused.waitForEnd();
      assert.deepEqual(refused.inbox, []);
      assert.equal(
        server.hub.metrics.disconnects.get("connect_rate_limited"),
        1,
      );
      assert.ok(logs.some((line) => /reason=connect_rate_limited/.test(line)));
      const metrics = parseMetrics(formatMetrics(server.hub));
      assert.equal(
        metrics.get('hubbub_disconnects_total{reason="connect_rate_limited"}'),
        1,
      );
      assert.equal(metrics.get("hubbub_addresses_tracked"), 1);
      // The admitted clients carry on.
      await admitted[0].send(Tag.CHAT, "still here");
      assert.equal(text(await admitted[2].next(Tag.CHAT)), "still here");
      await closeAll(...admitted, refused);
    },
  );
});

Deno.test("Rate limit: maxAddressConnectsPerSecond 0 turns the connection rate off", async () => {
  await withServer(
    { maxAddressConnectsPerSecond: 0, addressConnectBurst: 1 },
    async (server) => {
      const clients = [];
      for (let i = 0; i < 5; i++) {
        clients.push(await RawClient.connect(server.address.port));
      }
      assert.equal(server.hub.gauges.clientCount, 5);
      await closeAll(...clients);
    },
  );
});

Deno.test("Rate limit: a PING flood gets exactly the control-frame budget of PONGs", async () => {
  await withClockedClients({}, 1, async ([a], clock, server) => {
    const burst = DEFAULT_HUB_OPTIONS.maxControlFramesPerSecond;
    clock.advance(1000); // the control bucket full again after connecting
    // Under the flood threshold: dropped, but the connection stays.
    await a.write(frames(Tag.PING, 5000, "p"));
    // WHO is on the message budget, not the control one: its reply ends
    // the flood's answers.
    await a.send(Tag.WHO);
    const seen = await takeUntil(
      a,
      (frame) => frame.tag === Tag.WHO && frame.body.length === 0,
      30_000,
    );
    assert.deepEqual(
      ofTag(seen, Tag.PONG).map(text),
      Array.from({ length: burst }, (_, i) => `p${i}`),
    );
    const notices = ofTag(seen, Tag.ERROR);
    assert.equal(notices.length, 1);
    assert.equal(notices[0].senderId, Tag.PING);
    assert.match(text(notices[0]), /rate limit of \d+ control frames/);
    assert.equal(server.hub.metrics.rateLimitedFrames, 5000 - burst);
    assert.ok(!a.ended);
  });
});

Deno.test("Rate limit: a flood far over the budget costs the connection, and only that one", async () => {
  await withClients({}, 2, async ([flooder, other], server) => {
    const { messageBurst, maxControlFramesPerSecond } = DEFAULT_HUB_OPTIONS;
    const threshold = Math.max(
      MIN_FLOOD_FRAMES,
      FLOOD_FACTOR * (messageBurst + maxControlFramesPerSecond),
    );
    try {
      await flooder.write(frames(Tag.PING, threshold + 5000, "p"));
    } catch {
      // The server may close (and reset) before every byte is written.
    }
    await flooder.waitForEnd(30_000);
    const seen = flooder.inbox;
    const errors = ofTag(seen, Tag.ERROR).map(text);
    assert.equal(errors.at(-1), "rate limit flood");
    assert.ok(ofTag(seen, Tag.PONG).length <= maxControlFramesPerSecond * 31);
    assert.equal(
      server.hub.metrics.disconnects.get("rate_limit_flood"),
      1,
    );
    // The other client noticed nothing but the flooder leaving.
    await other.send(Tag.CHAT, "still here");
    assert.equal(text(await other.next(Tag.CHAT)), "still here");
  });
});

Deno.test("Rate limit: CHAT floods do not use up the control budget, so PING is still answered", async () => {
  await withClients(
    { maxMessagesPerSecond: 0.001, messageBurst: 1 },
    1,
    async ([a]) => {
      await barrier(a); // a PING: a hubbub client, told about drops
      await a.write(frames(Tag.CHAT, 50, "c"));
      const seen = await barrier(a); // answered though no message is left
      assert.equal(ofTag(seen, Tag.CHAT).length, 1);
      const notices = ofTag(seen, Tag.ERROR);
      assert.equal(notices.length, 1);
      assert.match(text(notices[0]), /rate limit of 0.001 messages per second/);
      assert.ok(!a.ended);
    },
  );
});

Deno.test("Rate limit: maxMessagesPerSecond 0 turns the address and control-frame limits off too", async () => {
  await withClients(
    {
      maxMessagesPerSecond: 0,
      maxAddressMessagesPerSecond: 1,
      addressMessageBurst: 1,
      maxControlFramesPerSecond: 1,
    },
    1,
    async ([a], server) => {
      await a.write(concat(frames(Tag.CHAT, 500), frames(Tag.PING, 500)));
      const seen = await barrier(a, 10_000);
      assert.equal(ofTag(seen, Tag.CHAT).length, 500);
      assert.equal(ofTag(seen, Tag.PONG).length, 500);
      assert.deepEqual(ofTag(seen, Tag.ERROR), []);
      assert.equal(server.hub.metrics.rateLimitedFrames, 0);
    },
  );
});

Deno.test("Rate limit: the hub forgets an address once its connections are gone and its buckets full", async () => {
  await withClockedServer({}, async (server, clock) => {
    const client = await RawClient.connect(server.address.port);
    await client.write(frames(Tag.CHAT, 10));
    await barrier(client);
    assert.equal(server.hub.gauges.trackedAddresses, 1);
    await client.close();
    await waitUntil(
      () => server.hub.gauges.clientCount === 0,
      "the client to go",
    );
    // No tick yet: still remembered.
    assert.equal(server.hub.gauges.trackedAddresses, 1);
    // A second later its buckets are full (a 20 ms connect token, 10
    // messages back), and that tick sweeps it away.
    clock.advance(1000);
    await waitUntil(
      () => server.hub.gauges.trackedAddresses === 0,
      "the address to be forgotten",
    );
  });
});

Deno.test("Rate limit: a bad value of a rate-limit flag costs one line and exit 2", async () => {
  for (
    const [flag, value] of [
      ["--max-address-msgs-per-sec", "-1"],
      ["--address-connect-burst", "0"],
      ["--max-control-frames-per-sec", "many"],
    ]
  ) {
    const result = await runDeno(SERVER_MAIN, [flag, value]);
    assert.equal(result.code, 2, `${flag} ${value}`);
    assert.equal(result.stderr.length, 1, result.stderr.join("\n"));
    assert.match(result.stderr[0], new RegExp(flag));
  }
});

Deno.test("Rate limit: a sender at half the rate loses nothing across a 3 s SIGSTOP of the server", async () => {
  const server = await startServerProcess(["--http-port", "0"]);
  const pid = server.process.child.pid;
  let stopped = false;
  const receiver = await RawClient.connect(server.port);
  const sender = await RawClient.connect(server.port);
  try {
    const rate = DEFAULT_HUB_OPTIONS.maxMessagesPerSecond / 2;
    let sent = 0;
    const started = performance.now();
    /** Send what is due at `rate` per second since `started`. */
    const sendDue = async () => {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      if (due > sent) {
        await sender.write(frames(Tag.CHAT, due - sent, `m${sent}-`));
        sent = due;
      }
    };
    const sendFor = async (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        await sendDue();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    await sendFor(1000);
    Deno.kill(pid, "SIGSTOP");
    stopped = true;
    await sendFor(3000); // about 1,500 messages queue in the kernel
    Deno.kill(pid, "SIGCONT");
    stopped = false;
    await sendFor(1000);
    await sender.send(Tag.CLOSE);
    await sender.next(Tag.CLOSE, 15_000);
    const seen = await barrier(receiver, 15_000);
    const got = ofTag(seen, Tag.CHAT).length;
    assert.ok(sent >= 2000, `only ${sent} sent`);
    assert.equal(got, sent, `${sent - got} of ${sent} lost`);
    assert.deepEqual(ofTag(sender.inbox, Tag.ERROR), []);
    const metrics = parseMetrics(
      (await httpGet(server.httpPort!, "/metrics")).body,
    );
    assert.ok(metrics.get("hubbub_stalled_seconds_total")! >= 2);
  } finally {
    if (stopped) Deno.kill(pid, "SIGCONT");
    await closeAll(receiver, sender);
    await server.stop();
  }
});

// --- Units, on explicit times ------------------------------------------------

/** Take `count` tokens at `now`; how many were granted. */
function takeMany(
  bucket: TokenBucket,
  count: number,
  now: number,
  stalls?: StallHistory,
): number {
  let granted = 0;
  for (let i = 0; i < count; i++) if (bucket.take(now, stalls)) granted++;
  return granted;
}

/** A sender at 500 a second (one every 2 ms) from 0 up to `until`. */
function sendAtHalfRate(bucket: TokenBucket, until: number): number {
  let granted = 0;
  for (let t = 0; t < until; t += 2) if (bucket.take(t)) granted++;
  return granted;
}

Deno.test("TokenBucket: the backlog of a sender within its rate, read after a 5 s stall, is granted in full", () => {
  const bucket = new TokenBucket(1000, 1000, 0);
  assert.equal(sendAtHalfRate(bucket, 1000), 500);
  // Stopped from 1000 to 6000 ms: 2,500 messages queued in the kernel.
  const stalls = { lastStallMs: 5000, lastStallEndedAt: 6000 };
  assert.equal(takeMany(bucket, 2500, 6000, stalls), 2500);
});

Deno.test("TokenBucket: without the stall history the same backlog loses all but a burst (the defect)", () => {
  const bucket = new TokenBucket(1000, 1000, 0);
  sendAtHalfRate(bucket, 1000);
  assert.equal(takeMany(bucket, 2500, 6000), 1000);
});

Deno.test("TokenBucket: a stall's credit may be spent over several reads, and lasts only as long as the stall", () => {
  const bucket = new TokenBucket(100, 10, 0);
  const stalls = { lastStallMs: 2000, lastStallEndedAt: 2000 };
  // 10 + 200 over the stall, read in three chunks.
  assert.equal(takeMany(bucket, 100, 2000, stalls), 100);
  assert.equal(takeMany(bucket, 60, 2001, stalls), 60);
  assert.equal(takeMany(bucket, 100, 2002, stalls), 50);
  // Unspent credit is gone after the stall's length: back to the burst.
  const unspent = new TokenBucket(100, 10, 0);
  assert.equal(takeMany(unspent, 1, 2000, stalls), 1);
  assert.equal(takeMany(unspent, 1000, 4001, stalls), 10);
});

Deno.test("TokenBucket: a stall that ended before the last look gives nothing", () => {
  const stalls = { lastStallMs: 5000, lastStallEndedAt: 5000 };
  const bucket = new TokenBucket(100, 10, 5500); // first looked after it
  assert.equal(takeMany(bucket, 100, 6000, stalls), 10);
  // Idle time before a stall is capped at the burst as usual.
  const idle = new TokenBucket(100, 10, 0);
  const late = { lastStallMs: 1000, lastStallEndedAt: 61_000 };
  assert.equal(takeMany(idle, 1000, 61_000, late), 10 + 100);
});

Deno.test("TokenBucket: with stalls, no client ever gets more than burst + rate × elapsed", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          advance: fc.integer({ min: 0, max: 3000 }),
          stall: fc.integer({ min: 0, max: 3000 }),
          takes: fc.integer({ min: 0, max: 400 }),
        }),
        { maxLength: 30 },
      ),
      (steps) => {
        const rate = 100;
        const burst = 20;
        const bucket = new TokenBucket(rate, burst, 0);
        const stalls = { lastStallMs: 0, lastStallEndedAt: -Infinity };
        let now = 0;
        let granted = 0;
        for (const { advance, stall, takes } of steps) {
          now += advance;
          if (stall > 0) {
            now += stall;
            stalls.lastStallMs = stall;
            stalls.lastStallEndedAt = now;
          }
          granted += takeMany(bucket, takes, now, stalls);
          assert.ok(granted <= burst + (rate * now) / 1000 + 1e-9);
        }
      },
    ),
  );
});

Deno.test("TokenBucket: isFull says when it holds a whole burst again", () => {
  const bucket = new TokenBucket(10, 2, 0);
  assert.ok(bucket.isFull(0));
  bucket.take(0);
  assert.ok(!bucket.isFull(50));
  assert.ok(bucket.isFull(100));
});

Deno.test("StallClock: a gap past the heartbeat is a stall of the excess; jitter is not", () => {
  const clock = new StallClock(100, 0);
  clock.observe(100);
  clock.observe(240); // 40 ms late: jitter
  assert.equal(clock.lastStallMs, 0);
  assert.equal(clock.lastStallEndedAt, -Infinity);
  clock.observe(5340); // stopped
  assert.equal(clock.lastStallMs, 5000);
  assert.equal(clock.lastStallEndedAt, 5340);
  assert.equal(clock.totalStalledMs, 5000);
});

Deno.test("StallClock: a slow batch right after a stall extends it; a later stall starts anew", () => {
  const clock = new StallClock(100, 0);
  clock.observe(5100); // 5,000 ms stall
  clock.observe(5500); // the backlog's batch took 400 ms: 300 more
  assert.equal(clock.lastStallMs, 5300);
  assert.equal(clock.lastStallEndedAt, 5500);
  for (let t = 5600; t <= 7000; t += 100) clock.observe(t);
  clock.observe(8100); // another, after normal running
  assert.equal(clock.lastStallMs, 1000);
  assert.equal(clock.totalStalledMs, 6300);
});

Deno.test("FrameBudget: messages draw on the client's and the address's buckets; control frames on their own", () => {
  const address = new TokenBucket(1, 3, 0);
  const a = new FrameBudget(
    new TokenBucket(1, 2, 0),
    address,
    new TokenBucket(1, 1, 0),
  );
  const b = new FrameBudget(new TokenBucket(1, 2, 0), address, null);
  assert.equal(a.take(Tag.CHAT, 0), Verdict.Allowed);
  assert.equal(a.take(Tag.JOIN, 0), Verdict.Allowed);
  assert.equal(a.take(Tag.WHO, 0), Verdict.ClientMessages);
  assert.equal(b.take(Tag.NICK, 0), Verdict.Allowed); // the address's last
  assert.equal(b.take(Tag.CHAT, 0), Verdict.AddressMessages);
  // b's own token was given back: the address refills first.
  assert.equal(b.take(Tag.CHAT, 1000), Verdict.Allowed);
  assert.equal(a.take(Tag.PING, 0), Verdict.Allowed);
  assert.equal(a.take(Tag.PONG, 0), Verdict.ControlFrames);
  assert.equal(a.take(Tag.CLOSE, 0), Verdict.ControlFrames);
  assert.equal(a.take(99, 0), Verdict.ControlFrames);
  assert.equal(b.take(Tag.PING, 0), Verdict.Allowed); // no control limit
  assert.ok(!isMessageTag(Tag.PING) && isMessageTag(Tag.ROOMS));
});

const LIMITS = {
  connectsPerSecond: 1,
  connectBurst: 2,
  messagesPerSecond: 10,
  messageBurst: 5,
};

Deno.test("AddressLimits: connections over an address's rate are refused; other addresses are not", () => {
  const limits = new AddressLimits(LIMITS);
  const first = limits.admit("10.0.0.1:1000", 0)!;
  const second = limits.admit("10.0.0.1:1001", 0)!;
  assert.equal(first, second, "one record per address");
  assert.equal(first.connections, 2);
  assert.equal(limits.admit("10.0.0.1:1002", 500), null);
  assert.ok(limits.admit("10.0.0.2:1000", 500) !== null);
  assert.ok(limits.admit("10.0.0.1:1003", 1000) !== null);
  assert.equal(first.connections, 3);
});

Deno.test("AddressLimits: an address is forgotten once it has no connection and full buckets", () => {
  const limits = new AddressLimits(LIMITS);
  const record = limits.admit("10.0.0.1:1000", 0)!;
  record.messages!.take(0);
  assert.equal(limits.sweep(10_000), 0, "still connected");
  limits.release(record);
  assert.equal(record.connections, 0);
  const again = limits.admit("10.0.0.1:1001", 0)!;
  limits.release(again);
  // Connect bucket: 2 taken at 0, full again at 2,000 ms.
  assert.equal(limits.sweep(1500), 0);
  assert.equal(limits.size, 1);
  assert.equal(limits.sweep(2000), 1);
  assert.equal(limits.size, 0);
});

Deno.test("AddressLimits: beyond the cap, the oldest addresses without connections go first", () => {
  const limits = new AddressLimits(LIMITS);
  for (let i = 0; i < 10; i++) {
    limits.release(limits.admit(`10.0.0.${i}:1000`, 0)!);
  }
  const live = limits.admit("10.0.1.1:1000", 0)!;
  assert.equal(limits.sweep(0, 4), 6);
  assert.equal(limits.size, 5);
  // The newest idle ones and the connected one stay: 10.0.0.0 is new again.
  // 10.0.0.9 is remembered (one connection of its burst of 2 left),
  // 10.0.0.0 was forgotten (a whole burst again).
  assert.ok(limits.admit("10.0.0.9:1001", 0) !== null);
  assert.equal(limits.admit("10.0.0.9:1002", 0), null);
  assert.ok(limits.admit("10.0.0.0:1001", 0) !== null);
  assert.ok(limits.admit("10.0.0.0:1002", 0) !== null);
  assert.equal(live.connections, 1);
});

Deno.test("AddressLimits: with every rate 0 nothing is remembered", () => {
  const limits = new AddressLimits({
    ...LIMITS,
    connectsPerSecond: 0,
    messagesPerSecond: 0,
  });
  for (let i = 0; i < 100; i++) {
    const record = limits.admit("10.0.0.1:1000", 0)!;
    assert.equal(record.messages, null);
  }
  assert.equal(limits.size, 0);
});

Deno.test("addressKey: the host; IPv6 by its /64; IPv4-mapped as IPv4", () => {
  assert.equal(addressKey("203.0.113.7:5000"), "203.0.113.7");
  assert.equal(addressKey("::1:5000"), "0:0:0:0::/64");
  assert.equal(addressKey("[::1]:5000"), "0:0:0:0::/64");
  assert.equal(
    addressKey("2001:db8:0:1:aaaa:bbbb:cccc:dddd:443"),
    "2001:db8:0:1::/64",
  );
  assert.equal(addressKey("2001:DB8:0:1::7:443"), "2001:db8:0:1::/64");
  assert.equal(
    addressKey("2001:db8:0:1::7:443"),
    addressKey("2001:db8::1:0:0:8:9:443"),
  );
  assert.equal(addressKey("::ffff:198.51.100.2:80"), "198.51.100.2");
  assert.equal(addressKey("fe80::1%eth0:80"), "fe80:0:0:0::/64");
});
