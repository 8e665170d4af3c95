/**
 * The shutdown signal rule on an explicit clock: the first signal shuts down
 * gracefully, a repeat of it within the window is the same request, anything
 * else exits at once.
 */

import assert from "node:assert/strict";
import {
  ShutdownSignals,
  SIGNAL_REPEAT_WINDOW_MS,
} from "../server/shutdown_signals.ts";

Deno.test("Shutdown signals: the first SIGINT or SIGTERM starts a graceful shutdown", () => {
  assert.equal(new ShutdownSignals().decide("SIGINT", 5000), "shutdown");
  assert.equal(new ShutdownSignals().decide("SIGTERM", 0), "shutdown");
});

Deno.test("Shutdown signals: the same signal again within the window is the same request, however often", () => {
  const signals = new ShutdownSignals();
  assert.equal(signals.decide("SIGINT", 10_000), "shutdown");
  assert.equal(signals.decide("SIGINT", 10_000), "duplicate");
  assert.equal(signals.decide("SIGINT", 10_003), "duplicate");
  assert.equal(
    signals.decide("SIGINT", 10_000 + SIGNAL_REPEAT_WINDOW_MS - 1),
    "duplicate",
  );
});

Deno.test("Shutdown signals: the same signal a window or more after the first exits at once", () => {
  const signals = new ShutdownSignals();
  assert.equal(signals.decide("SIGTERM", 200), "shutdown");
  assert.equal(
    signals.decide("SIGTERM", 200 + SIGNAL_REPEAT_WINDOW_MS),
    "exit",
  );
  // The window runs from the first signal, not from the latest duplicate.
  const repeated = new ShutdownSignals();
  repeated.decide("SIGINT", 0);
  assert.equal(repeated.decide("SIGINT", 900), "duplicate");
  assert.equal(repeated.decide("SIGINT", 1800), "exit");
});

Deno.test("Shutdown signals: a different signal after the first exits at once, even right away", () => {
  const signals = new ShutdownSignals();
  assert.equal(signals.decide("SIGTERM", 0), "shutdown");
  assert.equal(signals.decide("SIGINT", 1), "exit");
});

Deno.test("Shutdown signals: the window is a constructor argument", () => {
  const signals = new ShutdownSignals(50);
  signals.decide("SIGINT", 0);
  assert.equal(signals.decide("SIGINT", 49), "duplicate");
  assert.equal(signals.decide("SIGINT", 50), "exit");
});
