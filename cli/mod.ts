/**
 * Command-line plumbing shared by `serve`, `client` and `loadtest`: a typed
 * option table on top of `node:util` `parseArgs`, generated `--help` text,
 * and the rule that user mistakes cost one clear line and an exit code, never
 * a stack trace (exit 2 for a bad flag or value, 1 for a failure to start).
 *
 * @example Usage
 * ```ts no-eval
 * import { defineCommand, runCommand } from "../cli/mod.ts";
 *
 * const command = defineCommand({
 *   name: "serve",
 *   summary: "Run the chat server.",
 *   options: {
 *     port: { type: "integer", default: 9000, min: 0, max: 65535, description: "Port to listen on" },
 *   },
 * });
 * await runCommand(command, Deno.args, async (options) => {
 *   console.log(options.port);
 * });
 * ```
 *
 * @module
 */

export {
  type CommandSpec,
  defineCommand,
  formatHelp,
  type OptionSpec,
  type OptionValues,
  parseCommandLine,
} from "./command_line.ts";
export { StartupError, UsageError } from "./errors.ts";
export { runCommand } from "./run_command.ts";
export { VERSION } from "./version.ts";
export { workerUrl } from "./worker_url.ts";
