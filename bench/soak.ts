/**
 * `deno task soak`: run our server for a long while (10 minutes by default)
 * at a steady open-loop load from the load generator plus connection churn,
 * sample its resident memory, open descriptors and CPU every 10 s, take the
 * p99 of each interval from the generator's timeline, and write the table
 * and the verdict (did they stay flat?) as Markdown and JSON. Not part of
 * CI: it takes minutes and its figures depend on the machine.
 *
 * @module
 */

import { defineCommand, runCommand, StartupError } from "../cli/mod.ts";
import { startGenerator } from "./generator.ts";
import { describeMachine } from "./machine.ts";
import { openDescriptorsOf } from "./process_stats.ts";
import { startHubbub } from "./servers.ts";
import { startChurn } from "./soak_churn.ts";
import {
  attachTimeline,
  judge,
  renderSoakMarkdown,
  round,
  type SoakResults,
  type SoakSample,
} from "./soak_report.ts";

const command = defineCommand({
  usage: "deno task soak [options]",
  name: "hubbub soak",
  summary:
    "Run the server at a steady load with connection churn, sample memory, descriptors and p99 every interval, and write whether they stayed flat.",
  options: {
    duration: {
      type: "number",
      default: 600,
      min: 10,
      max: 86_400,
      valueName: "SECONDS",
      description: "How long the load runs",
    },
    interval: {
      type: "number",
      default: 10,
      min: 1,
      max: 600,
      valueName: "SECONDS",
      description: "Time between samples",
    },
    clients: {
      type: "integer",
      default: 50,
      min: 1,
      max: 10_000,
      valueName: "N",
      description: "Receiving connections of the load generator",
    },
    publishers: {
      type: "integer",
      default: 5,
      min: 1,
      valueName: "P",
      description: "How many of them publish",
    },
    rate: {
      type: "number",
      default: 500,
      min: 1,
      max: 100_000,
      valueName: "MSGS",
      description: "Messages a second over all publishers (open loop)",
    },
    "churn-rate": {
      type: "number",
      default: 5,
      min: 0,
      max: 200,
      valueName: "PER_SECOND",
      description:
        "Short sessions a second that connect, NICK, JOIN, chat, WHO and leave (0: none)",
    },
    "churn-concurrency": {
      type: "integer",
      default: 20,
      min: 1,
      max: 1000,
      valueName: "N",
      description: "Most churn sessions at once",
    },
    "server-args": {
      type: "string",
      default: "",
      valueName: "ARGS",
      description: "More flags for the server, space-separated",
    },
    json: {
      type: "string",
      default: "bench/soak.json",
      valueName: "FILE",
      description: "Where to write every figure as JSON",
    },
    markdown: {
      type: "string",
      default: "docs/SOAK.md",
      valueName: "FILE",
      description: "Where to write the table and the verdict",
    },
  },
  epilog:
    "Exits 0 when memory, descriptors and p99 stayed flat, 1 when not (or the server or generator failed to start).",
});

const began = Date.now();

function log(line: string): void {
  const seconds = ((Date.now() - began) / 1000).toFixed(0).padStart(4);
  console.error(`[${seconds}s] ${line}`);
}

function loadAverage(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return -1;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

await runCommand(command, Deno.args, async (options) => {
  const serverArgs = options["server-args"].split(/\s+/).filter((a) => a);
  const server = await startHubbub(null, serverArgs);
  const machine = describeMachine();
  log(
    `Server pid ${server.pid} on port ${server.port}; ${machine.cores} cores, load average ${loadAverage()}`,
  );
  const startedAt = new Date().toISOString();
  const samples: SoakSample[] = [];
  let churnCounts;
  let outcome;
  try {
    const generator = startGenerator([
      "--port",
      `${server.port}`,
      "--clients",
      `${options.clients}`,
      "--publishers",
      `${options.publishers}`,
      "--rate",
      `${options.rate}`,
      "--duration",
      `${options.duration}`,
      "--warmup",
      "1",
      "--drain",
      "10",
      "--connect-timeout",
      "30",
    ], null);
    let finished = false;
    generator.finished.finally(() => {
      finished = true;
    }).catch(() => {});
    try {
      log(await generator.connected(60_000));
    } catch (error) {
      throw new StartupError(
        `The load generator did not connect: ${(error as Error).message}`,
      );
    }
    const churn = options["churn-rate"] > 0
      ? startChurn(
        server.port,
        options["churn-rate"],
        options["churn-concurrency"],
      )
      : null;
    const loadStart = performance.now();
    let lastCpu = server.cpuSeconds();
    let lastChurn = 0;
    let lastAt = loadStart;
    const take = () => {
      const now = performance.now();
      const cpu = server.cpuSeconds();
      const churned = churn?.counts.completed ?? 0;
      const sample: SoakSample = {
        second: round((now - loadStart) / 1000, 0),
        residentMiB: round(server.residentBytes() / 2 ** 20),
        openDescriptors: openDescriptorsOf(server.pid),
        serverCpuPercent: round(
          (cpu - lastCpu) / ((now - lastAt) / 1000) * 100,
        ),
        loadAverage: loadAverage(),
        churnSessions: churned - lastChurn,
        deliveriesPerSecond: null,
        p99Ms: null,
      };
      lastCpu = cpu;
      lastChurn = churned;
      lastAt = now;
      samples.push(sample);
      log(
        `${sample.second} s: RSS ${sample.residentMiB} MiB, ${sample.openDescriptors} fds, CPU ${sample.serverCpuPercent}%, churn ${sample.churnSessions}, load ${sample.loadAverage}`,
      );
    };
    const intervalMs = options.interval * 1000;
    const loadMs = (options.duration + 1) * 1000; // warmup included
    for (
      let next = intervalMs;
      next <= loadMs && !finished;
      next += intervalMs
    ) {
      await sleep(loadStart + next - performance.now());
      if (!finished) take();
    }
    await churn?.stop();
    churnCounts = churn?.counts ?? {
      started: 0,
      completed: 0,
      failures: {},
      skipped: 0,
      running: 0,
    };
    try {
      outcome = await generator.finished;
    } catch (error) {
      throw new StartupError((error as Error).message);
    }
  } finally {
    await server.stop();
  }
  const { result, code } = outcome;
  attachTimeline(samples, result.timeline, options.interval);
  const verdict = judge(samples, options["churn-concurrency"]);
  const results: SoakResults = {
    tool: "hubbub soak",
    startedAt,
    machine:
      `${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Deno ${machine.deno}`,
    settings: {
      duration: options.duration,
      interval: options.interval,
      clients: options.clients,
      publishers: options.publishers,
      rate: options.rate,
      payloadBytes: result.options.size,
      churnRate: options["churn-rate"],
      churnConcurrency: options["churn-concurrency"],
      serverArgs: ["--max-msgs-per-sec 0", ...serverArgs].join(" "),
    },
    samples,
    churn: churnCounts,
    generator: {
      exitCode: code,
      published: result.throughput.published,
      deliveriesExpected: result.delivery.expected,
      lost: result.delivery.lost,
      duplicates: result.delivery.duplicates,
      reordered: result.delivery.reordered,
      disconnects: result.errors.disconnectCount,
      p99Ms: result.latencyMs.p99,
      p999Ms: result.latencyMs.p99_9,
      maxMs: result.latencyMs.max,
      failures: result.verdict.failures,
    },
    verdict,
  };
  try {
    await Deno.writeTextFile(
      options.json,
      JSON.stringify(results, null, 2) + "\n",
    );
    await Deno.writeTextFile(options.markdown, renderSoakMarkdown(results));
  } catch (error) {
    throw new StartupError(
      `Cannot write the results: ${(error as Error).message}`,
    );
  }
  log(`Wrote ${options.markdown} and ${options.json}`);
  console.log(renderSoakMarkdown(results));
  return verdict.flat ? 0 : 1;
});
