/**
 * `docs/BENCHMARKS.md`: the benchmark's results as tables, each figure of
 * ours beside Redis's and the ratio.
 *
 * @module
 */

import type { BenchResults, MatrixRow } from "./results.ts";
import type { RunFigures } from "./scenarios.ts";

function count(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function millions(value: number): string {
  return `${(value / 1e6).toFixed(2)}M`;
}

/** Deliveries/s, marked "≥" when the generator may have been the limit. */
function throughput(figures: RunFigures | null): string {
  if (figures === null) return "–";
  return `${figures.limitedByGenerator ? "≥ " : ""}${
    millions(figures.deliveriesPerSecond)
  }`;
}

function ratio(ours: number | undefined, theirs: number | undefined): string {
  if (ours === undefined || theirs === undefined || theirs === 0) return "–";
  return `${(ours / theirs).toFixed(2)}×`;
}

function rowLabel(row: MatrixRow): string {
  const clients = row.idle > 0
    ? `${count(row.clients)} + ${count(row.idle)} idle`
    : count(row.clients);
  return clients;
}

function check(figures: RunFigures | null): string {
  if (figures === null) return "not run";
  if (figures.passed) return "ok";
  const parts = [];
  if (figures.lost > 0) parts.push(`${count(figures.lost)} lost`);
  if (figures.disconnects > 0) {
    parts.push(`${count(figures.disconnects)} dropped`);
  }
  if (parts.length === 0) parts.push(figures.failures.join("; "));
  return parts.join(", ");
}

function busy(figures: RunFigures | null): string {
  if (figures === null) return "–";
  return figures.generatorBusiest >= 0
    ? `${Math.round(figures.generatorBusiest * 100)}%`
    : `${figures.generatorCores} cores`;
}

/**
 * Render the results as Markdown.
 *
 * @param results The benchmark's results.
 * @returns The document.
 */
export function renderMarkdown(results: BenchResults): string {
  const { machine, settings } = results;
  const lines: string[] = [];
  lines.push(
    "# Benchmarks",
    "",
    "Written by `deno task bench` (bench/bench.ts); the raw figures are in `bench/results.json`.",
    "Every row ran against our server and, in the same invocation, against Redis pub/sub driven by the",
    "same load generator (`--target redis`: every receiver SUBSCRIBEs to one channel, each publisher",
    "PUBLISHes on a connection of its own; minimal RESP over raw sockets, so the generator's cost per",
    "delivery is the same for both). Ratios are ours ÷ Redis's.",
    "",
    "## Machine",
    "",
    `| | |`,
    `| --- | --- |`,
    `| Date | ${machine.date} |`,
    `| CPU | ${machine.cores} cores, ${machine.cpuModel} |`,
    `| Memory | ${machine.memoryGiB} GiB |`,
    `| Kernel | ${machine.kernel} |`,
    `| Deno | ${machine.deno} (V8 ${machine.v8}) |`,
    `| Redis | ${machine.redis} (persistence off) |`,
    `| Open-file limit | ${machine.openFileLimit ?? "unknown"} |`,
    `| Placement | ${
      settings.pinned
        ? "each server pinned to core 0, the generator to core 1 (taskset)"
        : "no pinning"
    } |`,
    `| Runs | ${10} publishers, ${settings.payloadBytes}-byte payloads, ${settings.warmupSeconds} s warmup + ${settings.durationSeconds} s measured, generator with ${settings.workers} worker${
      settings.workers === 1 ? "" : "s"
    } |`,
    "",
  );

  const closed = results.rows.filter((row) => row.mode === "closed");
  lines.push(
    "## Maximum throughput (closed loop)",
    "",
    `Each publisher keeps ${settings.window} messages in flight, each until every receiver has it; deliveries/s counts every receiver. ` +
      "Server CPU is the server process's user + system time over the whole run, per million deliveries it made. " +
      "Generator busy is its busiest worker thread's share of the run: at 90% or more the generator, not the server, may have been the limit, and the figure (marked ≥) is a lower bound of what the server can do.",
    "",
    "| Clients | Ours deliveries/s | Redis deliveries/s | Ratio | Ours CPU s / M | Redis CPU s / M | Ratio | Check (ours / Redis) | Generator busy (ours / Redis) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
  );
  for (const row of closed) {
    const ours = row.hubbub;
    const theirs = row.redis;
    lines.push(
      `| ${rowLabel(row)} | ${throughput(ours)} | ${throughput(theirs)} | ${
        ratio(ours?.deliveriesPerSecond, theirs?.deliveriesPerSecond)
      } | ${ours?.serverCpuPerMillionDeliveries ?? "–"} | ${
        theirs?.serverCpuPerMillionDeliveries ?? "–"
      } | ${
        ratio(
          ours?.serverCpuPerMillionDeliveries,
          theirs?.serverCpuPerMillionDeliveries,
        )
      } | ${check(ours)} / ${check(theirs)} | ${busy(ours)} / ${
        busy(theirs)
      } |`,
    );
  }

  const open = results.rows.filter((row) => row.mode === "open");
  lines.push(
    "",
    "## Latency at a fixed rate (open loop)",
    "",
    "Latency runs from each message's intended send time to its arrival, so a stalled server cannot hide behind coordinated omission. " +
      "It includes the generator's own send lag (about 0.1 ms typical). " +
      "Tail latency varies from run to run by a millisecond or more at these rates, so each row is run several times, alternating the servers, " +
      "and the run with the median p99 is reported; the p99 of every run is listed below the table.",
    "",
    "| Clients | Rate (msg/s) | Deliveries/s | Ours p50 / p99 / p99.9 / max (ms) | Redis p50 / p99 / p99.9 / max (ms) | p99 ratio | Ours CPU s / M | Redis CPU s / M | Ratio | Check (ours / Redis) | Generator busy (ours / Redis) |",
    "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
  );
  const latency = (figures: RunFigures | null) =>
    figures === null
      ? "–"
      : `${figures.latencyMs.p50} / ${figures.latencyMs.p99} / ${figures.latencyMs.p99_9} / ${figures.latencyMs.max}`;
  for (const row of open) {
    const ours = row.hubbub;
    const theirs = row.redis;
    lines.push(
      `| ${rowLabel(row)} | ${count(row.rate)} | ${
        count(row.rate * row.clients)
      } | ${latency(ours)} | ${latency(theirs)} | ${
        ratio(ours?.latencyMs.p99, theirs?.latencyMs.p99)
      } | ${ours?.serverCpuPerMillionDeliveries ?? "–"} | ${
        theirs?.serverCpuPerMillionDeliveries ?? "–"
      } | ${
        ratio(
          ours?.serverCpuPerMillionDeliveries,
          theirs?.serverCpuPerMillionDeliveries,
        )
      } | ${check(ours)} / ${check(theirs)} | ${busy(ours)} / ${
        busy(theirs)
      } |`,
    );
  }
  const spread = (figures: RunFigures | null) =>
    figures?.p99Runs === undefined ? "–" : figures.p99Runs.join(", ");
  if (open.some((row) => row.hubbub?.p99Runs !== undefined)) {
    lines.push("", "p99 of every run (ms):", "");
    for (const row of open) {
      lines.push(
        `- ${rowLabel(row)} clients: ours ${spread(row.hubbub)}; Redis ${
          spread(row.redis)
        }`,
      );
    }
  }
  if (results.rows.some((row) => row.idle > 0)) {
    lines.push(
      "",
      "In the idle rows 10,000 more connections are held open in another room (hubbub: JOIN `idle`; Redis: SUBSCRIBE to channel `idle`), " +
        "so they cost the server a connection each but receive nothing; the figures are those of the 1,000 active clients.",
    );
  }

  if (results.memory !== null) {
    const { hubbub, redis } = results.memory;
    lines.push(
      "",
      "## Memory per idle connection",
      "",
      "A fresh server, resident memory before and with every connection open (and 2 s to settle): (after − before) ÷ connections.",
      "",
      "| Server | Connections | RSS before | RSS after | Bytes per connection |",
      "| --- | ---: | ---: | ---: | ---: |",
    );
    for (
      const [name, figures] of [["Ours", hubbub], ["Redis", redis]] as const
    ) {
      if (figures === null) continue;
      lines.push(
        `| ${name} | ${count(figures.opened)} | ${
          (figures.residentBefore / 1048576).toFixed(1)
        } MiB | ${(figures.residentAfter / 1048576).toFixed(1)} MiB | ${
          count(figures.bytesPerConnection)
        } |`,
      );
    }
    lines.push(
      "",
      `Ratio (ours ÷ Redis): ${
        ratio(hubbub?.bytesPerConnection, redis?.bytesPerConnection)
      }`,
    );
  }

  if (results.broadcast !== null) {
    const { hubbub, redis } = results.broadcast;
    lines.push(
      "",
      "## One broadcast to 19,000 connections",
      "",
      "The connections are spread over two generator processes (each under the 20,000 open-file cap), which start publishing together; one publisher sends a broadcast a second. " +
        "Last delivery is the longest time from a send to its delivery on any of the connections.",
      "",
      "| Server | Connections | Broadcasts | Delivered / expected | p50 (ms) | p99 (ms) | Last delivery (ms) |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (
      const [name, figures] of [["Ours", hubbub], ["Redis", redis]] as const
    ) {
      if (figures === null) continue;
      lines.push(
        `| ${name} | ${count(figures.opened)} | ${figures.broadcasts} | ${
          count(figures.delivered)
        } / ${
          count(figures.expected)
        } | ${figures.p50Ms} | ${figures.p99Ms} | ${figures.lastDeliveryMs} |`,
      );
    }
    lines.push(
      "",
      `Last-delivery ratio (ours ÷ Redis): ${
        ratio(hubbub?.lastDeliveryMs, redis?.lastDeliveryMs)
      }`,
    );
  }
  lines.push("", `The whole benchmark took ${results.elapsedSeconds} s.`, "");
  return lines.join("\n");
}
