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
import { rateLimitWarning } from "./result.ts";
import { runLoadTest } from "./run.ts";
import { formatSummary } from "./summary.ts";

/** Descriptors the generator needs besides its connections. */
const SPARE_FILES = 64;

function describeWriteError(path: string, error: unknown): StartupError {
  const why = error instanceof Deno.errors.NotFound
    ? "its directory does not exist"
    : error instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : error instanceof Deno.errors.IsADirectory
    ? "it is a directory"
    : error instanceof Error
    ? error.message
    : String(error);
  return new StartupError(`Cannot write ${path}: ${why}`, { cause: error });
}

/**
 * Fail before the run, not after it, when an output file cannot be
 * written: open it for writing (creating it) and remove it again if it was
 * not there.
 */
function checkWritable(path: string): void {
  let existed = true;
  try {
    Deno.statSync(path);
  } catch {
    existed = false;
  }
  try {
    Deno.openSync(path, { write: true, create: true }).close();
  } catch (error) {
    throw describeWriteError(path, error);
  }
  if (!existed) Deno.removeSync(path);
}

async function writeOutput(path: string, text: string): Promise<void> {
  try {
    await Deno.writeTextFile(path, text);
  } catch (error) {
    throw describeWriteError(path, error);
  }
}

await runCommand(loadtestCommand, Deno.args, async (flags) => {
  const options = optionsFromFlags(flags);
  if (flags.ca !== undefined) options.caCerts = [await readCaFile(flags.ca)];
  for (const path of [flags.json, flags.report]) {
    if (path !== undefined) checkWritable(path);
  }
  const progress = new ProgressLine();
  const warning = rateLimitWarning(options);
  if (warning !== null) progress.note(warning);
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
