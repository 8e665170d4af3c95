/**
 * `deno task loadtest`: the load generator's command line. Progress goes to
 * standard error, the summary to standard output, the figures to `--json`
 * and the plots to `--report`; the exit status tells whether the run passed.
 *
 * @module
 */

import { runCommand, StartupError } from "../../cli/mod.ts";
import { readCaFile } from "../_ca_file.ts";
import { openFileLimit } from "./connect_failure.ts";
import { formatCount } from "./format.ts";
import {
  connectionsRequested,
  loadtestCommand,
  optionsFromFlags,
} from "./options.ts";
import { ProgressLine } from "./progress.ts";
import { renderHtmlReport } from "./report_html.ts";
import { runLoadTest } from "./run.ts";
import { formatSummary } from "./summary.ts";

/** Descriptors the generator needs besides its connections. */
const SPARE_FILES = 64;

async function writeOutput(path: string, text: string): Promise<void> {
  try {
    await Deno.writeTextFile(path, text);
  } catch (error) {
    throw new StartupError(
      `Cannot write ${path}: ${error instanceof Error ? error.message : error}`,
      { cause: error },
    );
  }
}

await runCommand(loadtestCommand, Deno.args, async (flags) => {
  const options = optionsFromFlags(flags);
  if (flags.ca !== undefined) options.caCerts = [await readCaFile(flags.ca)];
  const progress = new ProgressLine();
  const connections = connectionsRequested(options);
  const limit = openFileLimit();
  if (limit !== undefined && connections + SPARE_FILES > limit) {
    progress.note(
      `Warning: ${
        formatCount(connections)
      } connections need more open files than this process may have (${limit}); raise it with 'ulimit -n ${
        connections + SPARE_FILES
      }' or spread the clients over several processes (--publisher-offset, --total-publishers, --start-at)`,
    );
  }
  const stop = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) Deno.exit(130);
    interrupted = true;
    progress.note(
      "Interrupted: stopping publishing and draining (again to quit)",
    );
    stop.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const result = await runLoadTest(options, {
      signal: stop.signal,
      onProgress: flags.quiet
        ? undefined
        : (figures) => progress.update(figures),
      onConnected: (opened, requested, seconds) => {
        if (!flags.quiet) {
          progress.note(
            `Connected ${formatCount(opened)} of ${formatCount(requested)} in ${
              seconds.toFixed(2)
            } s`,
          );
        }
      },
    });
    progress.clear();
    await Deno.stdout.write(new TextEncoder().encode(formatSummary(result)));
    if (flags.json !== undefined) {
      await writeOutput(flags.json, JSON.stringify(result, null, 2) + "\n");
    }
    if (flags.report !== undefined) {
      await writeOutput(flags.report, renderHtmlReport(result));
    }
    return result.verdict.passed ? 0 : 1;
  } finally {
    progress.clear();
    Deno.removeSignalListener("SIGINT", onSignal);
  }
});
