/**
 * The rate-limit policy (server/rate_limits.ts) without sockets: when a
 * budget starts, the notices of dropped frames, and the flood, with the time
 * given as explicit values. The limits over real sockets are in
 * rate_limit_test.ts.
 */

import assert from "node:assert/strict";
import { Tag } from "../protocol/mod.ts";
import { Connection } from "../server/connection.ts";
import { DisconnectReason } from "../server/events.ts";
import type { Farewell } from "../server/farewell.ts";
import { MIN_FLOOD_FRAMES, Verdict } from "../server/frame_budget.ts";
import { Metrics } from "../server/metrics.ts";
import { type RateLimitOptions, RateLimits } from "../server/rate_limits.ts";

function client(): Connection {
  const transport = {
    remoteAddress: "127.0.0.1:1",
    write: () => new Promise<number>(() => {}),
    close() {},
  } as ConstructorParameters<typeof Connection>[0];
  return new Connection(transport, 1024, () => {});
}

function limits(options: Partial<RateLimitOptions> = {}) {
  const metrics = new Metrics();
  const rateLimits = new RateLimits({
    maxMessagesPerSecond: 10,
    messageBurst: 2,
    maxAddressMessagesPerSecond: 50,
    maxControlFramesPerSecond: 5,
    ...options,
  }, metrics);
  return { rateLimits, metrics };
}

Deno.test("Rate limit policy: a client's budget starts full on its first frames, once; with no message rate there is none", () => {
  const { rateLimits } = limits();
  const c = client();
  assert.equal(c.rateLimit, null, "listening costs nothing");
  const budget = rateLimits.budget(c, 0)!;
  assert.equal(rateLimits.budget(c, 5000), budget);
  assert.equal(budget.take(Tag.CHAT, 0), Verdict.Allowed);
  assert.equal(budget.take(Tag.CHAT, 0), Verdict.Allowed);
  assert.equal(budget.take(Tag.CHAT, 0), Verdict.ClientMessages);
  assert.equal(
    limits({ maxMessagesPerSecond: 0 }).rateLimits.budget(client(), 0),
    null,
  );
});

Deno.test("Rate limit policy: a dropped frame is told once a second, naming the limit it was over; each is counted", () => {
  const { rateLimits, metrics } = limits();
  const c = client();
  assert.equal(
    rateLimits.dropped(c, Verdict.ClientMessages, 1000),
    "rate limit of 10 messages per second exceeded; messages dropped",
  );
  assert.equal(rateLimits.dropped(c, Verdict.ControlFrames, 1999), null);
  assert.equal(
    rateLimits.dropped(c, Verdict.ControlFrames, 2000),
    "rate limit of 5 control frames per second exceeded; frames dropped",
  );
  assert.equal(
    rateLimits.dropped(c, Verdict.AddressMessages, 3000),
    "rate limit of 50 messages per second from your address exceeded; messages dropped",
  );
  assert.equal(c.rateLimitedFrames, 4);
  assert.equal(metrics.rateLimitedFrames, 4);
});

Deno.test("Rate limit policy: more dropped frames than the flood bound within one notice period cost the connection", () => {
  const { rateLimits } = limits();
  const c = client();
  assert.notEqual(rateLimits.dropped(c, Verdict.ClientMessages, 0), null);
  for (let i = 0; i < MIN_FLOOD_FRAMES; i++) {
    assert.equal(rateLimits.dropped(c, Verdict.ClientMessages, 1), null);
  }
  const due = rateLimits.dropped(c, Verdict.ClientMessages, 2) as Farewell;
  assert.equal(due.reason, DisconnectReason.RateLimitFlood);
  assert.equal(due.error, "rate limit flood");
});

Deno.test("Rate limit policy: the flood count starts over with each notice", () => {
  const { rateLimits } = limits();
  const c = client();
  for (let second = 0; second < 3; second++) {
    for (let i = 0; i < MIN_FLOOD_FRAMES; i++) {
      const due = rateLimits.dropped(c, Verdict.ClientMessages, second * 1000);
      assert.equal(typeof due === "object" && due !== null, false);
    }
  }
});
