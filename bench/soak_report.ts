/**
 * The soak run's figures: one sample of the server every interval, the
 * verdict on whether memory, descriptors and p99 stayed flat, and the
 * Markdown table.
 *
 * @module
 */

import type { TimelineEntry } from "../client/loadtest/mod.ts";
import type { ChurnCounts } from "./soak_churn.ts";

/** The server at one moment of the soak, and the load over the interval before it. */
export interface SoakSample {
  /** Seconds since the load started. */
  second: number;
  /** Resident memory of the server, MiB. */
  residentMiB: number;
  /** Open file descriptors of the server. */
  openDescriptors: number;
  /** Server CPU over the interval, percent of one core. */
  serverCpuPercent: number;
  /** The machine's 1-minute load average (other processes included). */
  loadAverage: number;
  /** Churn sessions completed during the interval. */
  churnSessions: number;
  /** Deliveries a second over the interval (from the generator's timeline). */
  deliveriesPerSecond: number | null;
  /** The worst one-second p99 latency in the interval, ms. */
  p99Ms: number | null;
}

/** Whether one figure stayed flat, and the numbers that decided it. */
export interface FlatCheck {
  /** The figure stayed within its bound. */
  flat: boolean;
  /** Over the first half after settling. */
  early: number;
  /** Over the second half. */
  late: number;
  /** The largest `late` that counts as flat. */
  bound: number;
}

/** The verdict of a soak run. */
export interface SoakVerdict {
  /** Every figure stayed flat. */
  flat: boolean;
  /** Highest resident memory, MiB, early and late. */
  memory: FlatCheck;
  /** Least-squares growth of resident memory after settling, MiB a minute. */
  memorySlopeMiBPerMinute: number;
  /** Most open descriptors, early and late. */
  descriptors: FlatCheck;
  /** Median of the intervals' p99, ms, early and late. */
  p99: FlatCheck;
  /** How the halves were chosen. */
  note: string;
}

/** Seconds at the start not judged: JIT warm-up and buffers reaching their size. */
const SETTLE_SECONDS = 60;
/** Memory growth allowed between the halves: a fraction, or a few MiB. */
const MEMORY_GROWTH_FRACTION = 0.1;
const MEMORY_GROWTH_MIB = 8;
/** p99 allowed between the halves (the machine may be shared). */
const P99_GROWTH_FACTOR = 2;
const P99_GROWTH_MS = 2;

/**
 * Fill each sample's load figures from the generator's timeline: the
 * interval before a sample at `second` covers the load seconds after
 * `second - interval` up to `second`.
 *
 * @param samples The samples, in order.
 * @param timeline The generator's timeline.
 * @param intervalSeconds The sampling interval.
 */
export function attachTimeline(
  samples: SoakSample[],
  timeline: TimelineEntry[],
  intervalSeconds: number,
): void {
  const load = timeline.filter((entry) => entry.phase !== "connect");
  for (const sample of samples) {
    const from = Math.max(0, Math.round(sample.second - intervalSeconds));
    const seconds = load.slice(from, Math.round(sample.second));
    if (seconds.length === 0) continue;
    sample.p99Ms = Math.max(...seconds.map((entry) => entry.latencyMs.p99));
    sample.deliveriesPerSecond = Math.round(
      seconds.reduce((sum, entry) => sum + entry.delivered, 0) /
        seconds.length,
    );
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[(sorted.length - 1) >> 1];
}

function slopePerMinute(points: [number, number][]): number {
  if (points.length < 2) return 0;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / points.length;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / points.length;
  let numerator = 0;
  let denominator = 0;
  for (const [x, y] of points) {
    numerator += (x - meanX) * (y - meanY);
    denominator += (x - meanX) ** 2;
  }
  return denominator === 0 ? 0 : (numerator / denominator) * 60;
}

/**
 * Decide whether the run stayed flat: after the first minute (or the first
 * third of a shorter run), the second half's highest memory, most
 * descriptors and median p99 against the first half's.
 *
 * @param samples The samples, load figures attached.
 * @param churnConcurrency Most churn sessions at once (their descriptors
 * come and go).
 * @returns The verdict.
 */
export function judge(
  samples: SoakSample[],
  churnConcurrency: number,
): SoakVerdict {
  const last = samples.at(-1)?.second ?? 0;
  const settle = last >= 2 * SETTLE_SECONDS ? SETTLE_SECONDS : last / 3;
  const judged = samples.filter((sample) => sample.second > settle);
  const middle = (settle + last) / 2;
  const early = judged.filter((sample) => sample.second <= middle);
  const late = judged.filter((sample) => sample.second > middle);
  const max = (list: SoakSample[], pick: (s: SoakSample) => number) =>
    list.length === 0 ? 0 : Math.max(...list.map(pick));
  const earlyMemory = max(early, (s) => s.residentMiB);
  const lateMemory = max(late, (s) => s.residentMiB);
  const memoryBound = earlyMemory +
    Math.max(earlyMemory * MEMORY_GROWTH_FRACTION, MEMORY_GROWTH_MIB);
  const earlyFds = max(early, (s) => s.openDescriptors);
  const lateFds = max(late, (s) => s.openDescriptors);
  const fdBound = earlyFds + churnConcurrency;
  const p99s = (list: SoakSample[]) =>
    list.flatMap((s) => (s.p99Ms === null ? [] : [s.p99Ms]));
  const earlyP99 = median(p99s(early));
  const lateP99 = median(p99s(late));
  const p99Bound = earlyP99 * P99_GROWTH_FACTOR + P99_GROWTH_MS;
  const memory = {
    flat: lateMemory <= memoryBound,
    early: earlyMemory,
    late: lateMemory,
    bound: round(memoryBound),
  };
  const descriptors = {
    flat: lateFds <= fdBound,
    early: earlyFds,
    late: lateFds,
    bound: fdBound,
  };
  const p99 = {
    flat: lateP99 <= p99Bound,
    early: earlyP99,
    late: lateP99,
    bound: round(p99Bound),
  };
  return {
    flat: memory.flat && descriptors.flat && p99.flat &&
      early.length > 0 && late.length > 0,
    memory,
    memorySlopeMiBPerMinute: round(
      slopePerMinute(judged.map((s) => [s.second, s.residentMiB])),
      3,
    ),
    descriptors,
    p99,
    note:
      `samples after ${round(settle)} s, split at ${
        middle.toFixed(0)
      } s: early ${early.length}, late ${late.length}; ` +
      `memory may grow by ${
        MEMORY_GROWTH_FRACTION * 100
      }% or ${MEMORY_GROWTH_MIB} MiB, ` +
      `descriptors by the ${churnConcurrency} churn sessions that may be open, ` +
      `the median p99 to ${P99_GROWTH_FACTOR}x + ${P99_GROWTH_MS} ms`,
  };
}

/** Round to `digits` decimals. */
export function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Everything a soak run records (what `--json` writes). */
export interface SoakResults {
  /** Which tool wrote this. */
  tool: "hubbub soak";
  /** When the run began (ISO 8601). */
  startedAt: string;
  /** The machine: cores, memory, Deno. */
  machine: string;
  /** The settings. */
  settings: Record<string, string | number>;
  /** One per interval. */
  samples: SoakSample[];
  /** The churn's counts at the end. */
  churn: ChurnCounts;
  /** The generator's figures over the whole run. */
  generator: {
    exitCode: number;
    published: number;
    deliveriesExpected: number;
    lost: number;
    duplicates: number;
    reordered: number;
    disconnects: number;
    p99Ms: number;
    p999Ms: number;
    maxMs: number;
    failures: string[];
  };
  /** Flat or not. */
  verdict: SoakVerdict;
}

const yes = (flat: boolean) => (flat ? "flat" : "**NOT flat**");

/**
 * The results as Markdown: the settings, the table of samples and the
 * verdict.
 *
 * @param results The run.
 * @returns A Markdown document.
 */
export function renderSoakMarkdown(results: SoakResults): string {
  const { verdict, generator, churn } = results;
  const settings = Object.entries(results.settings)
    .map(([name, value]) => `${name} ${value}`).join(", ");
  const rows = results.samples.map((s) =>
    `| ${s.second} | ${s.residentMiB.toFixed(1)} | ${s.openDescriptors} | ${
      s.p99Ms ?? "–"
    } | ${s.deliveriesPerSecond ?? "–"} | ${
      s.serverCpuPercent.toFixed(0)
    } | ${s.churnSessions} | ${s.loadAverage.toFixed(2)} |`
  );
  const failures = Object.entries(churn.failures)
    .map(([reason, count]) => `${count} × ${reason}`).join("; ") || "none";
  return [
    "# Soak run",
    "",
    `Written by \`deno task soak\` (bench/soak.ts), started ${results.startedAt} on ${results.machine}.`,
    "",
    `Settings: ${settings}.`,
    "",
    `**Verdict: ${verdict.flat ? "flat" : "NOT flat"}.** Resident memory ${
      yes(verdict.memory.flat)
    } (highest ${verdict.memory.early} MiB early, ${verdict.memory.late} MiB late, bound ${verdict.memory.bound}; least-squares slope ${verdict.memorySlopeMiBPerMinute} MiB/min), ` +
    `open descriptors ${
      yes(verdict.descriptors.flat)
    } (most ${verdict.descriptors.early} early, ${verdict.descriptors.late} late, bound ${verdict.descriptors.bound}), ` +
    `p99 ${
      yes(verdict.p99.flat)
    } (median of the intervals' worst second ${verdict.p99.early} ms early, ${verdict.p99.late} ms late, bound ${verdict.p99.bound}). ` +
    `Judged on ${verdict.note}.`,
    "",
    `Load generator: exit ${generator.exitCode}, ${generator.published} messages published, ${generator.deliveriesExpected} deliveries expected, ` +
    `${generator.lost} lost, ${generator.duplicates} duplicated, ${generator.reordered} reordered, ${generator.disconnects} connections dropped; ` +
    `p99 ${generator.p99Ms} ms, p99.9 ${generator.p999Ms} ms, max ${generator.maxMs} ms over the run` +
    (generator.failures.length > 0
      ? ` (its verdict: ${generator.failures.join("; ")})`
      : "") +
    ".",
    "",
    `Churn: ${churn.started} sessions started, ${churn.completed} completed, ${churn.skipped} skipped (too many running); failures: ${failures}.`,
    "",
    "| second | RSS MiB | open fds | p99 ms (worst second) | deliveries/s | server CPU % | churn sessions | load avg |",
    "| -----: | ------: | -------: | --------------------: | -----------: | -----------: | -------------: | -------: |",
    ...rows,
    "",
  ].join("\n");
}
