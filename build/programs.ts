/**
 * The programs hubbub ships, as `deno task bundle` and `deno task compile`
 * build them: each one's entry module, the worker modules it starts, and the
 * Deno flags it runs with (the same as its `deno task`, which a test checks).
 *
 * @module
 */

/** One program: what it is built from and how it runs. */
export interface Program {
  /** Its name: the output is `dist/hubbub-NAME` (`.js` for a bundle). */
  name: string;
  /** The entry module, from the repository root. */
  entry: string;
  /**
   * The worker modules it starts, from the repository root. A bundle carries
   * each one's bundled code (see `cli/worker_url.ts`); a compiled executable
   * embeds them with `--include`.
   */
  workers: readonly string[];
  /** The permissions it needs, as Deno flags. */
  permissions: readonly string[];
  /** Other runtime flags (V8's), as Deno flags. */
  runtimeFlags: readonly string[];
}

/** The programs, in the order they are built. */
export const PROGRAMS: readonly Program[] = [
  {
    name: "serve",
    entry: "server/main.ts",
    workers: [
      "server/_precise_timer_worker.ts",
      "server/history/_sqlite_worker.ts",
    ],
    // Read: the TLS certificate and key and the token file; read and write:
    // the history database (--history-db, any path); env: REDIS_URL, and
    // the Redis client reads its debug settings from the environment.
    permissions: [
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
    ],
    runtimeFlags: ["--v8-flags=--max-semi-space-size=2"],
  },
  {
    name: "client",
    entry: "client/main.ts",
    workers: [],
    // Read: the --ca file.
    permissions: ["--allow-net", "--allow-read"],
    runtimeFlags: [],
  },
  {
    name: "loadtest",
    entry: "client/loadtest/main.ts",
    workers: ["client/loadtest/worker.ts", "client/loadtest/_ticker_worker.ts"],
    // Write: --report and --json; sys: the machine's figures in the report.
    permissions: [
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-sys",
    ],
    runtimeFlags: [],
  },
];

/** Where the builds go, from the repository root. */
export const DIST_DIR = "dist";

/**
 * The output path of a program, from the repository root.
 *
 * @param program The program.
 * @param kind `bundle` for the JavaScript file, `compile` for the executable.
 * @returns For example `dist/hubbub-serve.js`.
 */
export function outputPath(
  program: Program,
  kind: "bundle" | "compile",
): string {
  const suffix = kind === "bundle"
    ? ".js"
    : Deno.build.os === "windows"
    ? ".exe"
    : "";
  return `${DIST_DIR}/hubbub-${program.name}${suffix}`;
}

/**
 * A worker's name: its module's file name without the extension, as its
 * starter names it to `workerUrl` and a bundle keys its code.
 *
 * @param worker The worker module, from the repository root.
 * @returns For example `_ticker_worker`.
 */
export function workerName(worker: string): string {
  const file = worker.slice(worker.lastIndexOf("/") + 1);
  return file.replace(/\.[cm]?[jt]sx?$/, "");
}
