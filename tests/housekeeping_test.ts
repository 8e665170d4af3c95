/**
 * The hub's tick (server/housekeeping.ts) without sockets: its period, and
 * what it says of a client at explicit times. Over real sockets the write
 * deadline is in slow_consumer_test.ts, keepalive in keepalive_test.ts.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import { Connection } from "../server/connection.ts";
import { DisconnectReason } from "../server/events.ts";
import type { Farewell } from "../server/farewell.ts";
import {
  Housekeeping,
  tickPeriod,
  type TickTimers,
} from "../server/housekeeping.ts";
import { Keepalive, SEND_PING } from "../server/keepalive.ts";
import { TokenSet } from "../server/token_set.ts";
import { FakeClock } from "./_fake_clock.ts";
import { stuckConnection } from "./_stuck_stream.ts";

const NO_STALLS = { lastStallMs: 0, lastStallEndedAt: -Infinity };

function housekeeping(
  writeDeadlineMs: number,
  pingIntervalMs = 0,
): Housekeeping {
  const keepalive = new Keepalive(
    { pingIntervalMs, idleTimeoutMs: 0, frameTimeoutMs: 0 },
    NO_STALLS,
  );
  return new Housekeeping(keepalive, writeDeadlineMs);
}

/** A hubbub connection whose write, begun at the clock's time, never ends. */
function stalledWriter(clock: FakeClock): Connection {
  const connection = stuckConnection(clock);
  connection.writer.append(encodeFrame(Tag.CHAT, 1, "hello"));
  connection.writer.flush();
  return connection;
}

Deno.test("Housekeeping: the tick is a quarter of the shortest timer in force, between 10 ms and 1 s", () => {
  const none: TickTimers = {
    pingIntervalMs: 0,
    idleTimeoutMs: 0,
    frameTimeoutMs: 0,
    writeDeadlineMs: 0,
    handshakeTimeoutMs: 0,
    tokens: null,
  };
  assert.equal(tickPeriod(none), 1000, "no timers: 4 s / 4");
  assert.equal(tickPeriod({ ...none, pingIntervalMs: 2000 }), 500);
  assert.equal(tickPeriod({ ...none, writeDeadlineMs: 8 }), 10, "floor");
  assert.equal(tickPeriod({ ...none, idleTimeoutMs: 60_000 }), 1000);
  assert.equal(
    tickPeriod({ ...none, handshakeTimeoutMs: 400 }),
    1000,
    "the handshake timeout counts only with tokens",
  );
  assert.equal(
    tickPeriod({
      ...none,
      handshakeTimeoutMs: 400,
      tokens: TokenSet.parse("secret\n"),
    }),
    100,
  );
});

Deno.test("Housekeeping: a write stalled for the write deadline drops the client as a slow consumer, not a moment before", () => {
  const clock = new FakeClock(1000);
  const connection = stalledWriter(clock);
  assert.equal(connection.writer.writeStartedAt, 1000);
  const rules = housekeeping(500);
  assert.equal(rules.check(connection, 1499), null);
  const due = rules.check(connection, 1500) as Farewell;
  assert.equal(due.reason, DisconnectReason.SlowConsumer);
  assert.equal(due.error, "slow consumer");
  assert.equal(due.discardQueued, true);
  assert.match(due.detail!, /^write stalled with \d+ bytes pending$/);
});

Deno.test("Housekeeping: without a write deadline a stalled write is left alone, and keepalive's PING comes through", () => {
  const clock = new FakeClock(1000);
  const connection = stalledWriter(clock);
  connection.lastInboundAt = 1000;
  const rules = housekeeping(0, 100);
  assert.equal(rules.check(connection, 1_000_000), SEND_PING);
  assert.equal(rules.check(connection, 1_000_001), null);
});
