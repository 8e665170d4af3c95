/**
 * Unit tests of `ReconnectBackoff` (client/reconnect_backoff.ts) with a
 * fixed random source: no clock, no sleeping.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { ReconnectBackoff } from "../client/reconnect_backoff.ts";

Deno.test("ReconnectBackoff: the ceiling doubles from 0.5 s to 30 s; waits lie in its upper half", () => {
  const lowest = new ReconnectBackoff({ random: () => 0 });
  const highest = new ReconnectBackoff({ random: () => 0.999999 });
  const ceilings = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
  for (const ceiling of ceilings) {
    assert.equal(lowest.nextDelayMs(), ceiling / 2);
    const high = highest.nextDelayMs();
    assert.ok(high < ceiling && high > ceiling * 0.999, `${high}`);
  }
  assert.equal(lowest.attempts, ceilings.length);
});

Deno.test("ReconnectBackoff: the random source spreads each wait over its range", () => {
  const values = [0.5, 0.25];
  const backoff = new ReconnectBackoff({ random: () => values.shift()! });
  assert.equal(backoff.nextDelayMs(), 250 + 125);
  assert.equal(backoff.nextDelayMs(), 500 + 125);
});

Deno.test("ReconnectBackoff: reset starts again from the shortest wait", () => {
  const backoff = new ReconnectBackoff({ random: () => 0 });
  for (let i = 0; i < 5; i++) backoff.nextDelayMs();
  backoff.reset();
  assert.equal(backoff.attempts, 0);
  assert.equal(backoff.nextDelayMs(), 250);
});

Deno.test("ReconnectBackoff: any number of failures stays finite, within [max/2, max)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2000 }),
      fc.double({ min: 0, max: 0.999999, noNaN: true }),
      (failures, r) => {
        const backoff = new ReconnectBackoff({ random: () => r });
        let delay = 0;
        for (let i = 0; i < failures; i++) delay = backoff.nextDelayMs();
        assert.ok(Number.isFinite(delay));
        assert.ok(delay >= 250 && delay < 30_000, `${delay}`);
        if (failures > 7) assert.ok(delay >= 15_000);
      },
    ),
    { numRuns: 50 },
  );
});

Deno.test("ReconnectBackoff: custom ceilings", () => {
  const backoff = new ReconnectBackoff({
    initialMs: 100,
    maxMs: 300,
    random: () => 0,
  });
  assert.deepEqual(
    [1, 2, 3, 4].map(() => backoff.nextDelayMs()),
    [50, 100, 150, 150],
  );
});
