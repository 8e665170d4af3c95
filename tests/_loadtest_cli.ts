/**
 * Run `client/loadtest/main.ts` as a real subprocess, the way
 * `deno task loadtest` does (its permissions, read from deno.json), and
 * collect its exit code, output and JSON.
 */

import type { LoadTestResult } from "../client/loadtest/mod.ts";

const LOADTEST_MAIN =
  new URL("../client/loadtest/main.ts", import.meta.url).pathname;

/**
 * The permission flags of `deno task loadtest` (deno.json), so every test
 * run has exactly the permissions a user's run has.
 */
export const LOADTEST_TASK_FLAGS: string[] = (() => {
  const config = JSON.parse(
    Deno.readTextFileSync(new URL("../deno.json", import.meta.url)),
  );
  const words = String(config.tasks.loadtest).split(/\s+/);
  return words.slice(
    words.indexOf("run") + 1,
    words.indexOf(
      "client/loadtest/main.ts",
    ),
  );
})();

/** What a load generator run left behind. */
export interface LoadtestRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The `--json` output, when the run wrote one. */
  result: LoadTestResult | null;
  /** Where `--json` and `--report` went. */
  directory: string;
}

/**
 * Run the load generator with `args`, adding `--json` into a fresh temporary
 * directory unless `json: false`.
 *
 * @param args The command-line arguments.
 * @param options `json: false` to leave out `--json`.
 */
export async function runLoadtestCli(
  args: string[],
  options: { json?: boolean } = {},
): Promise<LoadtestRun> {
  const directory = await Deno.makeTempDir({ prefix: "hubbub-loadtest-" });
  const jsonPath = `${directory}/result.json`;
  const withJson = options.json ?? true;
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...LOADTEST_TASK_FLAGS,
      LOADTEST_MAIN,
      ...args,
      ...(withJson ? ["--json", jsonPath] : []),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
  const output = await command.output();
  const decoder = new TextDecoder();
  let result: LoadTestResult | null = null;
  if (withJson) {
    try {
      result = JSON.parse(await Deno.readTextFile(jsonPath));
    } catch {
      result = null;
    }
  }
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    result,
    directory,
  };
}

/**
 * Load generator flags by name, without the leading dashes: a value, or
 * `true` for a flag that takes none.
 */
export type LoadtestFlags = Record<string, string | number | true>;

/**
 * The command-line arguments for `flags`, in their order:
 * `{ clients: 10, quiet: true }` → `["--clients", "10", "--quiet"]`.
 */
export function loadtestArgs(flags: LoadtestFlags): string[] {
  return Object.entries(flags).flatMap(([name, value]) =>
    value === true ? [`--${name}`] : [`--${name}`, String(value)]
  );
}

/** A port on 127.0.0.1 that nothing listens on (just released). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
