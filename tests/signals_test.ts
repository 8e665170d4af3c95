/**
 * Signals through `deno task serve`, as a person and systemd send them: Ctrl-C
 * in a terminal and systemd's default `KillMode=control-group` signal the
 * whole process group, so both `deno task` and the server get the signal, and
 * `deno task` forwards its copy to the server too. The server must take the
 * duplicate as the same request: CLOSE to every client, exit status 0.
 *
 * The task runs under `setsid` (util-linux) so that it leads a process group
 * of its own that the test can signal as a whole without signalling itself.
 */

import assert from "node:assert/strict";
import { Tag } from "../protocol/mod.ts";
import { deadline } from "./_deadline.ts";
import { closeAll, join, RawClient, takeUntil, text } from "./_kit.ts";
import { collectLines } from "./_process.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** Why the tests cannot run here, or `null` when they can. */
async function setsidMissing(): Promise<string | null> {
  if (Deno.build.os === "windows") return "no process groups on Windows";
  try {
    const { success } = await new Deno.Command("setsid", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? null : "setsid --version failed";
  } catch {
    return "setsid (util-linux) is not installed";
  }
}

const skipReason = await setsidMissing();
if (skipReason !== null) {
  console.log(`Signal tests through deno task ignored: ${skipReason}`);
}

/** `deno task serve` leading its own process group, output by line. */
class TaskServer {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  #wake: (() => void) | null = null;
  #done = false;
  #pumps: Promise<void>;

  constructor(args: string[]) {
    const env = Deno.env.toObject();
    delete env.RUST_BACKTRACE;
    env.NO_COLOR = "1";
    this.child = new Deno.Command("setsid", {
      args: [Deno.execPath(), "task", "serve", ...args],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env,
    }).spawn();
    const notify = () => {
      const wake = this.#wake;
      this.#wake = null;
      wake?.();
    };
    this.#pumps = Promise.all([
      collectLines(this.child.stdout, this.lines, notify),
      collectLines(this.child.stderr, this.lines, notify),
    ]).then(() => {
      this.#done = true;
      notify();
    });
  }

  /** The process group: `setsid` makes the task its leader. */
  get group(): number {
    return this.child.pid;
  }

  /** Wait for an output line matching `pattern`. */
  async waitForLine(pattern: RegExp, timeoutMs = 20_000): Promise<string> {
    return await deadline(
      (async () => {
        for (let seen = 0;;) {
          for (; seen < this.lines.length; seen++) {
            if (pattern.test(this.lines[seen])) return this.lines[seen];
          }
          if (this.#done) {
            throw new Error(
              `deno task serve ended without ${pattern}:\n${
                this.lines.join("\n")
              }`,
            );
          }
          await new Promise<void>((resolve) => this.#wake = resolve);
        }
      })(),
      timeoutMs,
      `a line matching ${pattern}; output:\n${this.lines.join("\n")}`,
    );
  }

  /** Send `signal` to every process of the group, as a terminal does. */
  signalGroup(signal: Deno.Signal): void {
    Deno.kill(-this.group, signal);
  }

  /** The exit status (SIGKILL to the group after `timeoutMs`). */
  async wait(timeoutMs = 20_000): Promise<Deno.CommandStatus> {
    try {
      return await deadline(this.child.status, timeoutMs, "deno task exit");
    } catch (error) {
      this.kill();
      throw error;
    } finally {
      await this.child.status;
      await this.#pumps;
    }
  }

  /** SIGKILL the whole group (ignored once it is gone). */
  kill(): void {
    try {
      Deno.kill(-this.group, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test({
    name:
      `Signals: ${signal} to the process group of deno task serve stops gracefully: CLOSE to every client, exit 0`,
    ignore: skipReason !== null,
    fn: async () => {
      const task = new TaskServer(["--port", "0"]);
      const clients: RawClient[] = [];
      try {
        const listening = await task.waitForLine(/Listening address=/);
        const port = Number(/address=[^\s]+:(\d+)/.exec(listening)![1]);
        for (let i = 0; i < 3; i++) clients.push(await RawClient.connect(port));
        await join(clients[2], "elsewhere");
        task.signalGroup(signal);
        for (const client of clients) {
          const frames = await takeUntil(
            client,
            (frame) => frame.tag === Tag.CLOSE,
            15_000,
          );
          assert.equal(text(frames[frames.length - 1]), "server shutting down");
          await client.waitForEnd();
        }
        const status = await task.wait();
        const output = task.lines.join("\n");
        assert.equal(status.code, 0, output);
        assert.match(output, new RegExp(`Shutting down signal=${signal}`));
        assert.match(output, /Stopped/);
        assert.doesNotMatch(output, /exiting at once/);
      } finally {
        task.kill();
        await task.wait().catch(() => {});
        await closeAll(...clients);
      }
    },
  });
}
