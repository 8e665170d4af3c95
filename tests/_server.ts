/**
 * Servers for tests: in-process (`withServer`, real sockets on an ephemeral
 * port) and as a real subprocess (`spawnServer`, for the command line,
 * signals and logs).
 */

import {
  Logger,
  type Server,
  type ServerOptions,
  startServer,
} from "../server/mod.ts";
import { deadline } from "./_deadline.ts";
import { collectLines, serverArgs } from "./_process.ts";

/** Log lines an in-process server wrote, for assertions. */
export type LogLines = string[];

/**
 * Run `body` against a fresh in-process server on 127.0.0.1 with an
 * ephemeral port, then shut it down. Log lines are captured, not printed.
 */
export async function withServer(
  options: ServerOptions,
  body: (server: Server, logs: LogLines) => Promise<void>,
): Promise<void> {
  const logs: LogLines = [];
  const server = await startServer({
    hostname: "127.0.0.1",
    port: 0,
    logger: new Logger({ level: "debug", write: (line) => logs.push(line) }),
    ...options,
  });
  try {
    await body(server, logs);
  } finally {
    await server.shutdown({ graceMs: 1000 });
  }
}

/**
 * Wait until a captured log line matches `pattern` and return it. Polls the
 * array every few milliseconds, up to `timeoutMs`.
 */
export async function waitForLog(
  logs: LogLines,
  pattern: RegExp,
  timeoutMs = 5000,
): Promise<string> {
  const started = Date.now();
  for (;;) {
    const line = logs.find((line) => pattern.test(line));
    if (line !== undefined) return line;
    if (Date.now() - started > timeoutMs) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for a log line matching ${pattern}; logs:\n${
          logs.join("\n")
        }`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A server running as a subprocess. */
export interface ServerProcess {
  process: Deno.ChildProcess;
  port: number;
  /** Every stderr line so far. */
  lines: string[];
  /** Wait for a stderr line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Send a signal and wait for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

const SERVER_MAIN = new URL("../server/main.ts", import.meta.url).pathname;

/**
 * Start `deno run server/main.ts --port 0 …args` and wait for its
 * "Listening" line.
 */
export async function spawnServer(args: string[] = []): Promise<ServerProcess> {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      SERVER_MAIN,
      ...serverArgs(["--port", "0", ...args]),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
  const process = command.spawn();
  const lines: string[] = [];
  let wake = null as (() => void) | null;
  let ended = false;
  const pump = (async () => {
    await collectLines(process.stderr, lines, () => wake?.());
    ended = true;
    wake?.();
  })();
  const stdoutDone = process.stdout.cancel();
  const waitForLine = async (pattern: RegExp, timeoutMs = 10_000) => {
    return await deadline(
      (async () => {
        let seen = 0;
        for (;;) {
          for (; seen < lines.length; seen++) {
            if (pattern.test(lines[seen])) return lines[seen];
          }
          if (ended) {
            throw new Error(`Server exited; output:\n${lines.join("\n")}`);
          }
          await new Promise<void>((resolve) => wake = resolve);
        }
      })(),
      timeoutMs,
      `a server line matching ${pattern}`,
    );
  };
  const listening = await waitForLine(/Listening/);
  const port = Number(/address=[^\s]+:(\d+)/.exec(listening)?.[1]);
  return {
    process,
    port,
    lines,
    waitForLine,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        process.kill(signal);
      } catch {
        // Already exited.
      }
      const status = await process.status;
      await pump;
      await stdoutDone;
      return status;
    },
  };
}
