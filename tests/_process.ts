/**
 * Real subprocesses for tests: the server (optionally under a low open-file
 * limit), the terminal client with a piped stdin, and one-shot runs that
 * must exit by themselves. Output is captured line by line; every stream is
 * drained and every process awaited, so Deno's sanitizers stay quiet.
 */

import { deadline } from "./_deadline.ts";

/** `server/main.ts`. */
export const SERVER_MAIN = new URL("../server/main.ts", import.meta.url)
  .pathname;
/** `client/main.ts`. */
export const CLIENT_MAIN = new URL("../client/main.ts", import.meta.url)
  .pathname;

/**
 * A test server keeps no history unless its test asks for it (gives
 * `--history-db` or `--no-history`): the default `./data/hubbub.db` would be
 * one file shared, and locked, by every server of every test running at once.
 *
 * @param args The server's flags.
 * @returns `args`, after `--no-history` unless history is asked about.
 */
export function serverArgs(args: readonly string[]): string[] {
  const asked = args.some((arg) =>
    arg === "--no-history" || arg === "--history-db" ||
    arg.startsWith("--history-db=")
  );
  // First, so a flag at the end that is missing its value stays so.
  return asked ? [...args] : ["--no-history", ...args];
}

/** The parent's environment without `RUST_BACKTRACE`, with `NO_COLOR`. */
function cleanEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.RUST_BACKTRACE;
  env.NO_COLOR = "1";
  return env;
}

/** Options of {@linkcode spawnDeno}. */
export interface SpawnOptions {
  /** Pipe stdin (for the terminal client). Default: stdin is null. */
  stdin?: boolean;
  /** Run under `ulimit -n` of this many open files. */
  openFileLimit?: number;
  /** Deno permission flags. Default `--allow-net --allow-read`. */
  permissions?: string[];
  /**
   * Run `script` itself, a compiled executable, not through `deno run`
   * (`permissions` are then ignored: they are compiled in).
   */
  executable?: boolean;
}

/**
 * Read `stream` as UTF-8 text to its end, appending each complete line to
 * `lines` (and a last unterminated one at the end) and calling `onLines`
 * after every chunk read.
 */
export async function collectLines(
  stream: ReadableStream<Uint8Array>,
  lines: string[],
  onLines: () => void,
): Promise<void> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop()!;
    lines.push(...parts);
    onLines();
  }
  if (pending) lines.push(pending);
}

/** A running Deno subprocess with its output captured by line. */
export class Spawned {
  readonly child: Deno.ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  #wake: (() => void) | null = null;
  #stdoutDone = false;
  #stderrDone = false;
  #pumps: Promise<void>;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #status: Deno.CommandStatus | null = null;

  constructor(script: string, args: string[], options: SpawnOptions = {}) {
    const denoArgs = options.executable ? args : [
      "run",
      ...(options.permissions ?? ["--allow-net", "--allow-read"]),
      script,
      ...(script === SERVER_MAIN ? serverArgs(args) : args),
    ];
    const program = options.executable ? script : Deno.execPath();
    const command = options.openFileLimit === undefined
      ? new Deno.Command(program, {
        args: denoArgs,
        stdin: options.stdin ? "piped" : "null",
        stdout: "piped",
        stderr: "piped",
        clearEnv: true,
        env: cleanEnv(),
      })
      : new Deno.Command("sh", {
        args: [
          "-c",
          'ulimit -n "$0" && exec "$@"',
          String(options.openFileLimit),
          program,
          ...denoArgs,
        ],
        stdin: options.stdin ? "piped" : "null",
        stdout: "piped",
        stderr: "piped",
        clearEnv: true,
        env: cleanEnv(),
      });
    this.child = command.spawn();
    if (options.stdin) this.#stdin = this.child.stdin.getWriter();
    this.#pumps = Promise.all([
      this.#pump(this.child.stdout, this.stdout, () => this.#stdoutDone = true),
      this.#pump(this.child.stderr, this.stderr, () => this.#stderrDone = true),
    ]).then(() => {});
    this.child.status.then((status) => {
      this.#status = status;
      this.#notify();
    });
  }

  async #pump(
    stream: ReadableStream<Uint8Array>,
    lines: string[],
    done: () => void,
  ): Promise<void> {
    await collectLines(stream, lines, () => this.#notify());
    done();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** The exit status once known, else `null`. */
  get exited(): Deno.CommandStatus | null {
    return this.#status;
  }

  /**
   * Wait for a line of `stream` matching `pattern` (searching from line
   * `from`) and return it.
   */
  async waitForLine(
    stream: "stdout" | "stderr",
    pattern: RegExp,
    timeoutMs = 10_000,
    from = 0,
  ): Promise<string> {
    const lines = this[stream];
    return await deadline(
      (async () => {
        let seen = from;
        for (;;) {
          for (; seen < lines.length; seen++) {
            if (pattern.test(lines[seen])) return lines[seen];
          }
          const done = stream === "stdout"
            ? this.#stdoutDone
            : this.#stderrDone;
          if (done) {
            throw new Error(
              `The process closed its ${stream} without a line matching ${pattern}; stdout:\n${
                this.stdout.join("\n")
              }\nstderr:\n${this.stderr.join("\n")}`,
            );
          }
          await new Promise<void>((resolve) => this.#wake = resolve);
        }
      })(),
      timeoutMs,
      `a ${stream} line matching ${pattern}; stdout:\n${
        this.stdout.join("\n")
      }\nstderr:\n${this.stderr.join("\n")}`,
    );
  }

  /** Write a line to stdin. */
  async writeLine(line: string): Promise<void> {
    await this.#stdin!.write(new TextEncoder().encode(line + "\n"));
  }

  /** Close stdin (end of input). */
  async closeStdin(): Promise<void> {
    const stdin = this.#stdin;
    this.#stdin = null;
    if (stdin !== null) {
      try {
        await stdin.close();
      } catch {
        // The process is gone already.
      }
    }
  }

  /** Send a signal (ignored when the process has exited). */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.child.kill(signal);
    } catch {
      // Already exited.
    }
  }

  /**
   * Wait for the process to exit (killing it with SIGKILL after
   * `timeoutMs`), drain its output, and return the status.
   */
  async wait(timeoutMs = 10_000): Promise<Deno.CommandStatus> {
    let status: Deno.CommandStatus;
    try {
      status = await deadline(this.child.status, timeoutMs, "process exit");
    } catch (error) {
      this.kill("SIGKILL");
      await this.child.status;
      await this.closeStdin();
      await this.#pumps;
      throw error;
    }
    await this.closeStdin();
    await this.#pumps;
    return status;
  }

  /** Stop with `signal` and wait (see {@linkcode wait}). */
  async stop(
    signal: Deno.Signal = "SIGTERM",
    timeoutMs = 10_000,
  ): Promise<Deno.CommandStatus> {
    this.kill(signal);
    return await this.wait(timeoutMs);
  }
}

/** Start a Deno script as a subprocess. */
export function spawnDeno(
  script: string,
  args: string[],
  options: SpawnOptions = {},
): Spawned {
  return new Spawned(script, args, options);
}

/** The result of {@linkcode runDeno}. */
export interface RunResult {
  code: number;
  stdout: string[];
  stderr: string[];
}

/**
 * Run a Deno script to its exit (SIGKILL after `timeoutMs`). With `stdin`,
 * its input is empty (closed at once).
 */
export async function runDeno(
  script: string,
  args: string[],
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<RunResult> {
  const process = spawnDeno(script, args, options);
  // A piped stdin is closed at once: the input is empty.
  await process.closeStdin();
  const status = await process.wait(options.timeoutMs ?? 10_000);
  return { code: status.code, stdout: process.stdout, stderr: process.stderr };
}

/** A server subprocess and where it listens. */
export interface ServerProcess {
  process: Spawned;
  /** The chat port. */
  port: number;
  /** The HTTP port, when `--http-port` was given. */
  httpPort?: number;
  /** Its stderr lines (the log). */
  lines: string[];
  /** Stop with a signal; the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/**
 * Start `server/main.ts --port 0 …args` and wait for its "Listening" line
 * (text or JSON format).
 */
export async function startServerProcess(
  args: string[] = [],
  options: SpawnOptions = {},
): Promise<ServerProcess> {
  const process = spawnDeno(SERVER_MAIN, ["--port", "0", ...args], options);
  let listening: string;
  try {
    listening = await process.waitForLine("stderr", /Listening/);
  } catch (error) {
    await process.stop("SIGKILL");
    throw error;
  }
  let port: number;
  let httpPort: number | undefined;
  if (listening.startsWith("{")) {
    const line = JSON.parse(listening);
    port = Number(/:(\d+)$/.exec(line.address)![1]);
    if (line.http) httpPort = Number(/:(\d+)$/.exec(line.http)![1]);
  } else {
    port = Number(/address=[^\s]+:(\d+)/.exec(listening)![1]);
    const http = /http=[^\s]+:(\d+)/.exec(listening);
    if (http) httpPort = Number(http[1]);
  }
  return {
    process,
    port,
    httpPort,
    lines: process.stderr,
    stop: (signal: Deno.Signal = "SIGTERM") => process.stop(signal),
  };
}
