/**
 * The keepalive rules (server/keepalive.ts) without sockets or timers: what
 * `check` says about a client at explicit times. The same rules over real
 * sockets are in keepalive_test.ts and frame_deadline_test.ts.
 */

import assert from "node:assert/strict";
import { Connection } from "../server/connection.ts";
import { DisconnectReason } from "../server/events.ts";
import type { Farewell } from "../server/farewell.ts";
import {
  Keepalive,
  type KeepaliveOptions,
  SEND_PING,
} from "../server/keepalive.ts";

function client({ original = false } = {}): Connection {
  const transport = {
    remoteAddress: "127.0.0.1:1",
    write: () => new Promise<number>(() => {}),
    close() {},
  } as ConstructorParameters<typeof Connection>[0];
  const c = new Connection(transport, 1024, () => {});
  if (!original) c.declareHubbub();
  return c;
}

function keepalive(
  options: Partial<KeepaliveOptions>,
  stalls = { lastStallMs: 0, lastStallEndedAt: -Infinity },
): Keepalive {
  return new Keepalive(
    { pingIntervalMs: 0, idleTimeoutMs: 0, frameTimeoutMs: 0, ...options },
    stalls,
  );
}

/** The reason and ERROR of a drop. */
function drop(due: unknown): [string, string | undefined] {
  assert.equal(typeof due, "object", `a drop, not ${due}`);
  const farewell = due as Farewell;
  return [farewell.reason, farewell.error];
}

Deno.test("Keepalive rules: a silent hubbub client is due a PING after pingIntervalMs of silence, then once per interval", () => {
  const rules = keepalive({ pingIntervalMs: 100 });
  const c = client();
  rules.seen(c, 1000);
  assert.equal(rules.check(c, 1099), null);
  assert.equal(rules.check(c, 1100), SEND_PING);
  assert.equal(rules.check(c, 1150), null);
  assert.equal(rules.check(c, 1199), null);
  assert.equal(rules.check(c, 1200), SEND_PING);
  rules.seen(c, 1250);
  assert.equal(rules.check(c, 1300), null, "heard from 50 ms ago");
  assert.equal(rules.check(c, 1350), SEND_PING);
});

Deno.test("Keepalive rules: a client that may be the original one is never sent PING, but is dropped when idle", () => {
  const rules = keepalive({ pingIntervalMs: 100, idleTimeoutMs: 500 });
  const c = client({ original: true });
  rules.seen(c, 0);
  for (let now = 0; now < 500; now += 50) {
    assert.equal(rules.check(c, now), null, `at ${now}`);
  }
  assert.deepEqual(drop(rules.check(c, 500)), [
    DisconnectReason.IdleTimeout,
    "idle timeout",
  ]);
});

Deno.test("Keepalive rules: silent for idleTimeoutMs, a client is due a drop 'idle timeout' naming how long", () => {
  const rules = keepalive({ pingIntervalMs: 100, idleTimeoutMs: 300 });
  const c = client();
  rules.seen(c, 0);
  assert.equal(rules.check(c, 299.4), SEND_PING);
  const due = rules.check(c, 300.4) as Farewell;
  assert.deepEqual(drop(due), [DisconnectReason.IdleTimeout, "idle timeout"]);
  assert.equal(due.detail, "silent for 300 ms");
  assert.equal(due.warn, undefined, "logged at info");
});

Deno.test("Keepalive rules: a frame begun and not complete within frameTimeoutMs is due a drop 'frame timeout', even from a client that keeps talking", () => {
  const rules = keepalive({ idleTimeoutMs: 10_000, frameTimeoutMs: 200 });
  const c = client();
  c.partialFrameSince = 1000;
  rules.seen(c, 1150);
  assert.equal(rules.check(c, 1199), null);
  rules.seen(c, 1200);
  const due = rules.check(c, 1200) as Farewell;
  assert.deepEqual(drop(due), [DisconnectReason.FrameTimeout, "frame timeout"]);
  assert.equal(due.detail, "frame incomplete for 200 ms");
  c.partialFrameSince = -1; // at a frame boundary
  assert.equal(rules.check(c, 5000), null);
});

Deno.test("Keepalive rules: a server stall since the frame began is not counted against it; one before it began is", () => {
  const stalls = { lastStallMs: 0, lastStallEndedAt: -Infinity };
  const rules = keepalive({ frameTimeoutMs: 200 }, stalls);
  const c = client();
  rules.seen(c, 1000);
  c.partialFrameSince = 1000;
  stalls.lastStallMs = 5000;
  stalls.lastStallEndedAt = 6100;
  assert.equal(rules.check(c, 6150), null, "150 ms of its own");
  assert.deepEqual(drop(rules.check(c, 6200)), [
    DisconnectReason.FrameTimeout,
    "frame timeout",
  ]);
  c.partialFrameSince = 7000; // began after the stall
  assert.deepEqual(drop(rules.check(c, 7200)), [
    DisconnectReason.FrameTimeout,
    "frame timeout",
  ]);
});

Deno.test("Keepalive rules: each interval at 0 turns its rule off", () => {
  const rules = keepalive({});
  const c = client();
  rules.seen(c, 0);
  c.partialFrameSince = 0;
  assert.equal(rules.check(c, 1e9), null);
});
