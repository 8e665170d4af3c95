import assert from "node:assert/strict";
import {
  createHistogram,
  encodeHistogram,
  LatencyTally,
  recordMicroseconds,
  TALLIED_MICROSECONDS,
} from "../client/loadtest/latency_histogram.ts";

Deno.test("LatencyTally: the histogram after a flush is exactly the one recording each latency gives", () => {
  const direct = createHistogram();
  const tallied = createHistogram();
  const tally = new LatencyTally(tallied);
  const latencies = [
    -5,
    0,
    1,
    1,
    2047,
    2048,
    2049,
    12_345,
    TALLIED_MICROSECONDS - 1,
    TALLIED_MICROSECONDS,
    4_000_000_000,
  ];
  for (let round = 0; round < 3; round++) {
    for (const microseconds of latencies) {
      recordMicroseconds(direct, microseconds);
      tally.record(microseconds);
    }
    tally.flush();
    assert.equal(tallied.totalCount, direct.totalCount);
    assert.equal(encodeHistogram(tallied), encodeHistogram(direct));
  }
  // A second flush with nothing new adds nothing.
  tally.flush();
  assert.equal(tallied.totalCount, 3 * latencies.length);
  direct.destroy();
  tallied.destroy();
});
