/**
 * Latency histograms of the load generator: thin helpers over the npm
 * package `hdr-histogram-js` (WebAssembly build when it loads, plain
 * JavaScript otherwise), recording integer microseconds. Workers send their
 * histograms to the main thread encoded, where they are merged exactly.
 *
 * @module
 */

import * as hdr from "hdr-histogram-js";

/** A histogram of `hdr-histogram-js`. */
export type Histogram = hdr.Histogram;

/** Largest recordable value: one hour in microseconds. */
export const HIGHEST_TRACKABLE_MICROSECONDS = 3_600_000_000;

let useWebAssembly: boolean | undefined;

function webAssemblyAvailable(): boolean {
  if (useWebAssembly === undefined) {
    try {
      hdr.initWebAssemblySync();
      useWebAssembly = true;
    } catch {
      useWebAssembly = false;
    }
  }
  return useWebAssembly;
}

/**
 * A new empty histogram of microseconds, 1 µs to one hour, three
 * significant digits.
 *
 * @returns The histogram; call `destroy()` when done (it frees WebAssembly
 * memory).
 */
export function createHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_MICROSECONDS,
    numberOfSignificantValueDigits: 3,
    autoResize: false,
    bitBucketSize: 64,
    useWebAssembly: webAssemblyAvailable(),
  });
}

/**
 * Record a duration in whole microseconds, clamped to the histogram's range
 * (a negative duration, from clock jitter between processes, counts as
 * zero).
 *
 * @param histogram Where to record.
 * @param microseconds The duration, a whole number.
 */
export function recordMicroseconds(
  histogram: Histogram,
  microseconds: number,
): void {
  histogram.recordValue(
    microseconds < 0
      ? 0
      : microseconds > HIGHEST_TRACKABLE_MICROSECONDS
      ? HIGHEST_TRACKABLE_MICROSECONDS
      : microseconds,
  );
}

/**
 * Record a duration in milliseconds as whole microseconds, clamped as
 * {@linkcode recordMicroseconds} does.
 *
 * @param histogram Where to record.
 * @param milliseconds The duration.
 */
export function recordMilliseconds(
  histogram: Histogram,
  milliseconds: number,
): void {
  recordMicroseconds(histogram, Math.round(milliseconds * 1000));
}

/**
 * Latencies below this many microseconds are counted in a
 * {@linkcode LatencyTally}'s table; longer ones go straight to its histogram.
 */
export const TALLIED_MICROSECONDS = 0x4_0000;

/**
 * Counts of whole-microsecond latencies in a plain table in front of a
 * histogram: recording one is an index and an increment, with no call into
 * the histogram's WebAssembly per value; {@linkcode LatencyTally.flush}
 * moves the counts into the histogram, value by value with its count, so
 * the histogram ends up exactly as if each had been recorded in turn.
 *
 * @example Usage
 * ```ts
 * import { createHistogram, LatencyTally } from "./latency_histogram.ts";
 * const histogram = createHistogram();
 * const tally = new LatencyTally(histogram);
 * tally.record(1500);
 * tally.record(1500);
 * tally.flush();
 * console.log(histogram.totalCount); // 2
 * histogram.destroy();
 * ```
 */
export class LatencyTally {
  /** The histogram the counts go to. */
  readonly histogram: Histogram;
  readonly #counts = new Uint32Array(TALLIED_MICROSECONDS);
  /** Whether some count is not yet in the histogram. */
  #pending = false;

  /** @param histogram Where {@linkcode LatencyTally.flush} moves the counts. */
  constructor(histogram: Histogram) {
    this.histogram = histogram;
  }

  /**
   * Count one latency, clamped as {@linkcode recordMicroseconds} does.
   *
   * @param microseconds The latency, a whole number.
   */
  record(microseconds: number): void {
    if (microseconds >= 0 && microseconds < TALLIED_MICROSECONDS) {
      this.#counts[microseconds]++;
      this.#pending = true;
    } else {
      recordMicroseconds(this.histogram, microseconds);
    }
  }

  /** Move the counts into the histogram and clear them. */
  flush(): void {
    if (!this.#pending) return;
    this.#pending = false;
    const counts = this.#counts;
    const histogram = this.histogram;
    for (let value = 0; value < TALLIED_MICROSECONDS; value++) {
      const count = counts[value];
      if (count !== 0) {
        histogram.recordValueWithCount(value, count);
        counts[value] = 0;
      }
    }
  }
}

/**
 * Encode a histogram for another thread or a file (compressed, base64).
 *
 * @param histogram The histogram.
 * @returns The encoded text; empty histograms encode too.
 */
export function encodeHistogram(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

/**
 * Add an encoded histogram into `into`, exactly (bucket by bucket).
 *
 * @param into The histogram to add to.
 * @param encoded Text from {@linkcode encodeHistogram}.
 */
export function addEncodedHistogram(into: Histogram, encoded: string): void {
  const decoded = hdr.decodeFromCompressedBase64(
    encoded,
    64,
    webAssemblyAvailable(),
  );
  into.add(decoded);
  decoded.destroy();
}

/** Latency percentiles in milliseconds. */
export interface LatencyPercentiles {
  /** Number of values recorded. */
  count: number;
  /** Median. */
  p50: number;
  /** 90th percentile. */
  p90: number;
  /** 99th percentile. */
  p99: number;
  /** 99.9th percentile. */
  p99_9: number;
  /** Largest value. */
  max: number;
  /** Arithmetic mean. */
  mean: number;
}

const MICROSECONDS_PER_MILLISECOND = 1000;

function toMilliseconds(microseconds: number): number {
  return Math.round(microseconds) / MICROSECONDS_PER_MILLISECOND;
}

/**
 * The percentiles of a histogram of microseconds, in milliseconds.
 *
 * @param histogram The histogram.
 * @returns Count, p50, p90, p99, p99.9, max and mean (all 0 when empty).
 */
export function percentilesOf(histogram: Histogram): LatencyPercentiles {
  const count = histogram.totalCount;
  if (count === 0) {
    return { count: 0, p50: 0, p90: 0, p99: 0, p99_9: 0, max: 0, mean: 0 };
  }
  return {
    count,
    p50: toMilliseconds(histogram.getValueAtPercentile(50)),
    p90: toMilliseconds(histogram.getValueAtPercentile(90)),
    p99: toMilliseconds(histogram.getValueAtPercentile(99)),
    p99_9: toMilliseconds(histogram.getValueAtPercentile(99.9)),
    max: toMilliseconds(histogram.maxValue),
    mean: toMilliseconds(histogram.mean),
  };
}

/** One point of a latency distribution: a percentile and its value. */
export interface DistributionPoint {
  /** The percentile, 0 to 100. */
  percentile: number;
  /** The latency at that percentile, in milliseconds. */
  ms: number;
}

/**
 * The percentile spectrum of a histogram, for plots: points from the median
 * towards the maximum, denser in the tail (50, 75, 87.5, ... by halving the
 * distance to 100, with intermediate steps), ending with the maximum.
 *
 * @param histogram The histogram.
 * @returns Points in increasing percentile order; empty when the histogram is.
 */
export function distributionOf(histogram: Histogram): DistributionPoint[] {
  if (histogram.totalCount === 0) return [];
  const points: DistributionPoint[] = [];
  const count = histogram.totalCount;
  for (let step = 0; step <= 40; step++) {
    // Five points per halving of the distance to 100, from p0 up.
    const percentile = 100 - 100 * Math.pow(0.5, step / 5);
    if ((1 - percentile / 100) * count < 1) break;
    points.push({
      percentile: Math.round(percentile * 10000) / 10000,
      ms: toMilliseconds(histogram.getValueAtPercentile(percentile)),
    });
  }
  points.push({ percentile: 100, ms: toMilliseconds(histogram.maxValue) });
  return points;
}
