/**
 * The servers under benchmark: hubbub (`server/main.ts`) and Redis
 * (`redis-server`, persistence off), each started on a free loopback port,
 * optionally pinned to one core, with its CPU time and memory readable.
 *
 * @module
 */

import { StartupError } from "../cli/mod.ts";
import {
  cpuSecondsOf,
  freePort,
  LineCollector,
  peakResidentBytesOf,
  residentBytesOf,
} from "./process_stats.ts";

/** A server process under test. */
export interface ServerUnderTest {
  /** `hubbub` or `redis`. */
  target: "hubbub" | "redis";
  /** Its port on 127.0.0.1. */
  port: number;
  /** Its process id. */
  pid: number;
  /** CPU seconds used so far. */
  cpuSeconds(): number;
  /** Resident memory now, bytes. */
  residentBytes(): number;
  /** Peak resident memory so far, bytes. */
  peakResidentBytes(): number;
  /** Stop it and wait until it has exited. */
  stop(): Promise<void>;
}

const ROOT = new URL("../", import.meta.url);

/**
 * The arguments `deno task serve` runs the server with (permissions, V8
 * flags, entry point), read from deno.json so that the benchmark measures
 * exactly what users run.
 *
 * @returns The arguments after `deno`.
 */
export function serveTaskArgs(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
  const [, ...args] = (config.tasks.serve as string).trim().split(/\s+/);
  return args.map((arg) =>
    arg.endsWith(".ts") ? new URL(arg, ROOT).pathname : arg
  );
}
const STARTUP_TIMEOUT_MS = 15_000;

function pinned(core: number | null, command: string, args: string[]) {
  return core === null
    ? { command, args }
    : { command: "taskset", args: ["-c", `${core}`, command, ...args] };
}

async function stopChild(
  child: Deno.ChildProcess,
  outputs: LineCollector[],
): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, 5000);
  await child.status;
  clearTimeout(timer);
  await Promise.all(outputs.map((output) => output.done));
}

function handle(
  target: "hubbub" | "redis",
  port: number,
  child: Deno.ChildProcess,
  outputs: LineCollector[],
): ServerUnderTest {
  return {
    target,
    port,
    pid: child.pid,
    cpuSeconds: () => cpuSecondsOf(child.pid),
    residentBytes: () => residentBytesOf(child.pid),
    peakResidentBytes: () => peakResidentBytesOf(child.pid),
    stop: () => stopChild(child, outputs),
  };
}

/**
 * Start hubbub's server on a free port, without its frame-rate limits and
 * per-address connection rate, and with history off unless a database file
 * is given (Redis pub/sub, the comparison, stores nothing).
 *
 * @param core Pin it to this core, or `null`.
 * @param extraArgs More server flags (the soak run's `--server-args`).
 * @param historyFile Record history in this file, or `null` for none.
 * @returns The running server.
 * @throws {StartupError} When it does not say it is listening in time.
 */
export async function startHubbub(
  core: number | null,
  extraArgs: string[] = [],
  historyFile: string | null = null,
): Promise<ServerUnderTest> {
  const port = freePort();
  const { command, args } = pinned(core, Deno.execPath(), [
    ...serveTaskArgs(),
    "--port",
    `${port}`,
    "--quiet",
    // Redis has no per-client rate limit; neither should the comparison.
    "--max-msgs-per-sec",
    "0",
    // The generators open up to 19,000 connections from one address at once.
    "--max-address-connects-per-sec",
    "0",
    ...(historyFile === null
      ? ["--no-history"]
      : ["--history-db", historyFile]),
    ...extraArgs,
  ]);
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    clearEnv: false,
  }).spawn();
  const stdout = new LineCollector(child.stdout);
  const stderr = new LineCollector(child.stderr);
  try {
    await stderr.waitFor(/Listening/, STARTUP_TIMEOUT_MS);
  } catch (error) {
    await stopChild(child, [stdout, stderr]);
    throw new StartupError(
      `Our server did not start: ${(error as Error).message}`,
    );
  }
  return handle("hubbub", port, child, [stdout, stderr]);
}

/** Whether `redis-server` is on the PATH. */
export function redisInstalled(): boolean {
  try {
    return new Deno.Command("redis-server", { args: ["--version"] })
      .outputSync().success;
  } catch {
    return false;
  }
}

/**
 * Install Redis with apt when it is missing.
 *
 * @param log Where progress lines go.
 * @returns Whether `redis-server` is available afterwards.
 */
export async function ensureRedis(
  log: (line: string) => void,
): Promise<boolean> {
  if (redisInstalled()) return true;
  log("redis-server is missing: installing it with apt-get");
  for (
    const args of [["update", "-qq"], ["install", "-y", "-qq", "redis-server"]]
  ) {
    try {
      await new Deno.Command("apt-get", {
        args,
        stdout: "null",
        stderr: "null",
        env: { DEBIAN_FRONTEND: "noninteractive" },
      }).output();
    } catch {
      return false;
    }
  }
  return redisInstalled();
}

/**
 * The installed Redis version.
 *
 * @returns For example `7.0.15`, or `not installed`.
 */
export function redisVersion(): string {
  try {
    const output = new Deno.Command("redis-server", { args: ["--version"] })
      .outputSync();
    const text = new TextDecoder().decode(output.stdout);
    return /v=(\S+)/.exec(text)?.[1] ?? text.trim();
  } catch {
    return "not installed";
  }
}

/**
 * Start `redis-server` on a free port, persistence off.
 *
 * @param core Pin it to this core, or `null`.
 * @param maxClients Its client limit (it raises its own open-file limit to match).
 * @returns The running server.
 * @throws {StartupError} When it does not become ready in time.
 */
export async function startRedis(
  core: number | null,
  maxClients = 12_000,
): Promise<ServerUnderTest> {
  const port = freePort();
  const { command, args } = pinned(core, "redis-server", [
    "--port",
    `${port}`,
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--maxclients",
    `${maxClients}`,
    "--loglevel",
    "notice",
  ]);
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new LineCollector(child.stdout);
  const stderr = new LineCollector(child.stderr);
  try {
    await stdout.waitFor(/Ready to accept connections/, STARTUP_TIMEOUT_MS);
  } catch (error) {
    await stopChild(child, [stdout, stderr]);
    throw new StartupError(
      `Redis did not start: ${(error as Error).message}`,
    );
  }
  return handle("redis", port, child, [stdout, stderr]);
}
