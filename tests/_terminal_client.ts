/**
 * The terminal client `client/main.ts` as a real subprocess for tests,
 * driven through a piped stdin and read line by line from its stdout and
 * stderr.
 */

import assert from "node:assert/strict";
import { deadline } from "./_deadline.ts";
import { collectLines } from "./_process.ts";

const CLIENT_MAIN = new URL("../client/main.ts", import.meta.url).pathname;
const encoder = new TextEncoder();

/** A running terminal client. */
export class TerminalClient {
  readonly process: Deno.ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  /** Set once the process has exited. */
  exited = false;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #pumps: Promise<void>;
  #status: Promise<Deno.CommandStatus>;
  #waiters = new Set<() => void>();
  #streamsEnded = false;

  constructor(port: number, extraArgs: string[] = []) {
    this.process = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        CLIENT_MAIN,
        "--port",
        String(port),
        ...extraArgs,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.#stdin = this.process.stdin.getWriter();
    this.#pumps = Promise.all([
      collectLines(this.process.stdout, this.stdout, () => this.#notify()),
      collectLines(this.process.stderr, this.stderr, () => this.#notify()),
    ]).then(() => {
      this.#streamsEnded = true;
      this.#notify();
    });
    this.#status = this.process.status.then((status) => {
      this.exited = true;
      this.#notify();
      return status;
    });
  }

  #notify(): void {
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  #changed(): Promise<void> {
    return new Promise((resolve) => this.#waiters.add(resolve));
  }

  /** Wait for a line of `stream` matching `pattern`. */
  async waitFor(
    stream: "stdout" | "stderr",
    pattern: RegExp,
    timeoutMs = 10_000,
  ): Promise<string> {
    const lines = stream === "stdout" ? this.stdout : this.stderr;
    return await deadline(
      (async () => {
        for (;;) {
          const line = lines.find((l) => pattern.test(l));
          if (line !== undefined) return line;
          if (this.#streamsEnded) {
            throw new Error(
              `Client ended without a ${stream} line matching ${pattern}\n${this.transcript()}`,
            );
          }
          await this.#changed();
        }
      })(),
      timeoutMs,
      `a client ${stream} line matching ${pattern}`,
    );
  }

  /** The id from the "Connected … as client N" line. */
  async issuedId(): Promise<number> {
    const line = await this.waitFor("stdout", /as client \d+/);
    return Number(/as client (\d+)/.exec(line)![1]);
  }

  /** Type a line (a newline is added). */
  async type(line: string): Promise<void> {
    await this.#stdin.write(encoder.encode(line + "\n"));
  }

  /** End standard input. */
  async closeStdin(): Promise<void> {
    try {
      await this.#stdin.close();
    } catch {
      // The process is gone already.
    }
  }

  /** Wait for the exit status (killing the process if it takes too long). */
  async finish(timeoutMs = 10_000): Promise<Deno.CommandStatus> {
    try {
      return await deadline(this.#status, timeoutMs, "the client to exit");
    } catch (error) {
      this.kill();
      throw error;
    } finally {
      await this.#status;
      await this.closeStdin();
      await this.#pumps;
    }
  }

  /** Kill the process (cleanup after a failure). */
  kill(): void {
    try {
      this.process.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }

  /** Everything it printed, for failure messages. */
  transcript(): string {
    return `stdout:\n${this.stdout.join("\n")}\nstderr:\n${
      this.stderr.join("\n")
    }`;
  }
}

/** Start a client, run `body`, and always reap the process. */
export async function withClient(
  port: number,
  body: (client: TerminalClient) => Promise<void>,
  extraArgs: string[] = [],
): Promise<void> {
  const client = new TerminalClient(port, extraArgs);
  try {
    await body(client);
  } catch (error) {
    client.kill();
    await client.finish().catch(() => {});
    throw new Error(`${(error as Error).message}\n${client.transcript()}`, {
      cause: error,
    });
  }
  if (!client.exited) {
    client.kill();
  }
  await client.finish();
}

/** Fail when the client printed a stack trace. */
export function assertNoStackTrace(client: TerminalClient): void {
  const all = [...client.stdout, ...client.stderr];
  assert.ok(!all.some((l) => /^\s+at /.test(l)), client.transcript());
  assert.ok(!all.some((l) => /Uncaught/.test(l)), client.transcript());
}
