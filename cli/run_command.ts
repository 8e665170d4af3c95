import {
  type CommandSpec,
  formatHelp,
  type OptionSpec,
  type OptionValues,
  parseCommandLine,
} from "./command_line.ts";
import { StartupError, UsageError } from "./errors.ts";
import { VERSION } from "./version.ts";

/**
 * Run a command's main function with its parsed options, and turn user
 * mistakes into one line on standard error and an exit status: 2 for a
 * {@linkcode UsageError}, 1 for a {@linkcode StartupError}. `--help` prints
 * the help and exits 0, `--version` prints the name and version (deno.json's)
 * and exits 0. Any other error is a bug and keeps its stack trace.
 *
 * @param spec The command.
 * @param args The arguments, usually `Deno.args`.
 * @param main The program; its resolved number, if any, is the exit status.
 * @returns A promise that settles when `main` does (the process may exit
 * before that on an error).
 */
export async function runCommand<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  args: string[],
  main: (options: OptionValues<O>) => Promise<number | void>,
): Promise<void> {
  let status: number | void;
  try {
    const { help, version, values } = parseCommandLine(spec, args);
    if (help) {
      await Deno.stdout.write(new TextEncoder().encode(formatHelp(spec)));
      return;
    }
    if (version) {
      await Deno.stdout.write(
        new TextEncoder().encode(`${spec.name} ${VERSION}\n`),
      );
      return;
    }
    status = await main(values);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${spec.name}: ${error.message} (see --help)`);
      Deno.exit(2);
    }
    if (error instanceof StartupError) {
      console.error(`${spec.name}: ${error.message}`);
      Deno.exit(1);
    }
    throw error;
  }
  if (typeof status === "number") Deno.exit(status);
}
