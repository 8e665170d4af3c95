/**
 * Unit tests of `ReconnectBackoff` (client/reconnect_backoff.ts) with a
 * fixed random source and explicit times: no clock, no sleeping.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { ReconnectBackoff } from "../client/reconnect_backoff.ts";

Deno.test("ReconnectBackoff: the ceiling doubles from 0.5 s to 30 s; waits lie in its upper half", () => {
  const lowest = new ReconnectBackoff({ random: () => 0 });
  const highest = new ReconnectBackoff({ random: () => 0.999999 });
  const ceilings = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
  for (const ceiling of ceilings) {
    assert.equal(lowest.nextDelayMs(0), ceiling / 2);
    const high = highest.nextDelayMs(0);
    assert.ok(high < ceiling && high > ceiling * 0.999, `${high}`);
  }
  assert.equal(lowest.attempts, ceilings.length);
});

Deno.test("ReconnectBackoff: the random source spreads each wait over its range", () => {
  const values = [0.5, 0.25];
  const backoff = new ReconnectBackoff({ random: () => values.shift()! });
  assert.equal(backoff.nextDelayMs(0), 250 + 125);
  assert.equal(backoff.nextDelayMs(0), 500 + 125);
});

Deno.test("ReconnectBackoff: a connection that lasted starts the waits over", () => {
  const backoff = new ReconnectBackoff({ random: () => 0 });
  let now = 0;
  for (let i = 0; i < 5; i++) now += backoff.nextDelayMs(now);
  backoff.connected(now);
  assert.equal(backoff.nextDelayMs(now + 10_000), 250);
  assert.equal(backoff.attempts, 1);
});

Deno.test("ReconnectBackoff: a server that greets and drops at once does not reset the waits", () => {
  const backoff = new ReconnectBackoff({ random: () => 0 });
  let now = 0;
  const waits: number[] = [];
  for (let i = 0; i < 4; i++) {
    const wait = backoff.nextDelayMs(now);
    waits.push(wait);
    now += wait;
    backoff.connected(now); // greeted...
    now += 50; // ...and dropped 50 ms later
  }
  assert.deepEqual(waits, [250, 500, 1000, 2000]);
  // Just under and at the stable time.
  const edge = new ReconnectBackoff({ random: () => 0, stableMs: 1000 });
  edge.nextDelayMs(0);
  edge.connected(100);
  assert.equal(edge.nextDelayMs(1099), 500);
  edge.connected(2000);
  assert.equal(edge.nextDelayMs(3000), 250);
});

Deno.test("ReconnectBackoff: any number of failures stays finite, within [max/2, max)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2000 }),
      fc.double({ min: 0, max: 0.999999, noNaN: true }),
      (failures, r) => {
        const backoff = new ReconnectBackoff({ random: () => r });
        let delay = 0;
        for (let i = 0; i < failures; i++) delay = backoff.nextDelayMs(0);
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
    [1, 2, 3, 4].map(() => backoff.nextDelayMs(0)),
    [50, 100, 150, 150],
  );
});
