/**
 * Runs the load generator (`client/loadtest/main.ts`) as a subprocess for
 * the benchmark, optionally pinned to a core, and reads back its `--json`.
 *
 * @module
 */

import type { LoadTestResult } from "../client/loadtest/mod.ts";
import { LineCollector } from "./process_stats.ts";

const LOADTEST_MAIN =
  new URL("../client/loadtest/main.ts", import.meta.url).pathname;

/** A running generator process. */
export interface GeneratorRun {
  /** Its stderr lines (progress, notes). */
  stderr: LineCollector;
  /** Settles once every connection has been tried ("Connected N of M"). */
  connected(timeoutMs: number): Promise<string>;
  /** Settles with the figures when it exits. */
  finished: Promise<{ code: number; result: LoadTestResult; summary: string }>;
}

/**
 * Start the load generator.
 *
 * @param args Its command-line arguments (`--json` is added).
 * @param core Pin it to this core, or `null`.
 * @param singleThreadedGc Run V8's garbage collector on the generator's own
 * threads only. For latency runs: on a single pinned core, V8's concurrent
 * GC threads preempt the generator and its send lag reached 7–30 ms at
 * p99.9; with this flag, 4–6 ms (measured at 2,000 msg/s to 100 clients).
 * Left off for throughput runs, where the generator is often the limit.
 * @returns The running generator.
 */
export function startGenerator(
  args: string[],
  core: number | null,
  singleThreadedGc = false,
): GeneratorRun {
  const jsonPath = Deno.makeTempFileSync({
    prefix: "hubbub-bench-",
    suffix: ".json",
  });
  const deno = [
    Deno.execPath(),
    "run",
    "-A",
    ...(singleThreadedGc ? ["--v8-flags=--single-threaded-gc"] : []),
    LOADTEST_MAIN,
    ...args,
    "--json",
    jsonPath,
  ];
  const command = core === null ? deno : ["taskset", "-c", `${core}`, ...deno];
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stdout = new LineCollector(child.stdout);
  const stderr = new LineCollector(child.stderr);
  const finished = (async () => {
    const status = await child.status;
    await Promise.all([stdout.done, stderr.done]);
    let result: LoadTestResult;
    try {
      result = JSON.parse(await Deno.readTextFile(jsonPath));
    } catch {
      throw new Error(
        `The load generator (${
          args.join(" ")
        }) exited with status ${status.code} and wrote no figures:\n${
          [...stdout.lines, ...stderr.lines].slice(-8).join("\n")
        }`,
      );
    } finally {
      await Deno.remove(jsonPath).catch(() => {});
    }
    return { code: status.code, result, summary: stdout.lines.join("\n") };
  })();
  finished.catch(() => {});
  return {
    stderr,
    connected: (timeoutMs) => stderr.waitFor(/^Connected /, timeoutMs),
    finished,
  };
}
