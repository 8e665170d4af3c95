/**
 * Signals through `deno task serve`, as a person and systemd send them: Ctrl-C
 * in a terminal and systemd's default `KillMode=control-group` signal the
 * whole process group, so both `deno task` and the server get the signal, and
 * `deno task` forwards its copy to the server too. The server must take the
 * duplicate as the same request: CLOSE to every client, exit status 0.
 *
 * The task runs under `setsid` (util-linux) so that it leads a process group
 * of its own that the test signals as a whole, or under `script` (util-linux)
 * on a pseudo-terminal whose Ctrl-C the terminal driver turns into SIGINT for
 * the foreground process group. A client that reads nothing until after the
 * signal keeps the graceful shutdown waiting, so a duplicate arrives while it
 * is under way. (Not every run has one: the kernel and Deno merge a second
 * delivery that comes before the first is handled, and on a terminal
 * `deno task` mostly does not forward.)
 */

import assert from "node:assert/strict";
import { Tag } from "../protocol/mod.ts";
import { SIGNAL_REPEAT_WINDOW_MS } from "../server/shutdown_signals.ts";
import { deadline } from "./_deadline.ts";
import {
  closeAll,
  join,
  numberedChats,
  RawClient,
  readToEnd,
  sendBatches,
  takeUntil,
  text,
} from "./_kit.ts";
import { collectLines, serverArgs } from "./_process.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** Why `tool` (of util-linux) cannot be used here, or `null`. */
async function missing(tool: string): Promise<string | null> {
  if (Deno.build.os === "windows") return "no process groups on Windows";
  try {
    const { success } = await new Deno.Command(tool, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? null : `${tool} --version failed`;
  } catch {
    return `${tool} (util-linux) is not installed`;
  }
}

const noSetsid = await missing("setsid");
const noScript = await missing("script");
for (const reason of new Set([noSetsid, noScript])) {
  if (reason !== null) {
    console.log(`Signal tests through deno task ignored: ${reason}`);
  }
}

/** How the task is started: its own process group, or a terminal's. */
type Session = "process group" | "terminal";

/** `deno task serve` in a session of its own, output by line. */
class TaskServer {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  #wake: (() => void) | null = null;
  #done = false;
  #pumps: Promise<void>;

  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(readonly session: Session, args: string[]) {
    const env = Deno.env.toObject();
    delete env.RUST_BACKTRACE;
    env.NO_COLOR = "1";
    const task = [Deno.execPath(), "task", "serve", ...serverArgs(args)];
    this.child = new Deno.Command(
      session === "terminal" ? "script" : "setsid",
      {
        // script: quiet, flush, the command's exit status, no typescript file.
        // `exec`: script runs the command through `$SHELL -c` (dash when
        // SHELL is unset), and a shell left waiting in the foreground takes
        // the Ctrl-C too and exits 130; a shell with job control keeps itself
        // out of the job's process group, so only deno task and the server
        // are there.
        args: session === "terminal"
          ? ["-qfec", `exec ${task.join(" ")}`, "/dev/null"]
          : task,
        cwd: ROOT,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        clearEnv: true,
        env,
      },
    ).spawn();
    this.#stdin = this.child.stdin.getWriter();
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

  /** The process group: `setsid` or `script` leads it. */
  get group(): number {
    return this.child.pid;
  }

  /** Wait for an output line matching `pattern`. */
  async waitForLine(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
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

  /**
   * Send `signal` to every process of the task's group: on a terminal by
   * typing Ctrl-C (SIGINT only), else with kill(2) on the group.
   */
  async signal(signal: Deno.Signal): Promise<void> {
    if (this.session === "terminal") {
      assert.equal(signal, "SIGINT", "a terminal sends SIGINT only");
      await this.#stdin.write(new Uint8Array([0x03]));
    } else {
      Deno.kill(-this.group, signal);
    }
  }

  /** The exit status (SIGKILL to the group after `timeoutMs`). */
  async wait(timeoutMs = 60_000): Promise<Deno.CommandStatus> {
    try {
      return await deadline(this.child.status, timeoutMs, "deno task exit");
    } catch (error) {
      this.kill();
      throw error;
    } finally {
      await this.child.status;
      await this.#stdin.close().catch(() => {});
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

/**
 * Start `deno task serve` in `session`, with clients that read and one that
 * reads nothing yet but has megabytes queued for it; send `signal` to the
 * task's whole process group; then every client gets CLOSE with the reason
 * and the task exits 0.
 */
async function gracefulThroughTask(
  session: Session,
  signal: Deno.Signal,
): Promise<void> {
  const task = new TaskServer(session, [
    "--port",
    "0",
    "--log-level",
    "debug",
    "--shutdown-grace",
    "60",
    "--max-msgs-per-sec",
    "0",
    "--max-pending-bytes",
    String(64 * 1024 * 1024),
  ]);
  const clients: RawClient[] = [];
  let stuck: RawClient | null = null;
  try {
    const listening = await task.waitForLine(/Listening address=/);
    const port = Number(/address=[^\s]+:(\d+)/.exec(listening)![1]);
    stuck = await RawClient.connect(port, { read: false });
    for (let i = 0; i < 3; i++) clients.push(await RawClient.connect(port));
    await join(clients[2], "elsewhere");
    // About 4 MB for `stuck`, more than the kernel buffers hold, so the
    // graceful shutdown waits for it to read.
    await sendBatches(clients[0], 10_000, numberedChats).catch((error) => {
      throw new Error(`${error}; output:\n${task.lines.join("\n")}`);
    });

    await task.signal(signal);
    for (const client of clients) {
      const frames = await takeUntil(
        client,
        (frame) => frame.tag === Tag.CLOSE,
        30_000,
      ).catch((error) => {
        throw new Error(`${error}; output:\n${task.lines.join("\n")}`);
      });
      assert.equal(text(frames[frames.length - 1]), "server shutting down");
      await client.waitForEnd(15_000);
    }
    // Drain `stuck` only once a duplicate of the signal has come, or the
    // window in which one would count has passed: deno task forwards its
    // copy to a group signal, while on a terminal it mostly does not.
    await task.waitForLine(/Repeated signal/, SIGNAL_REPEAT_WINDOW_MS + 500)
      .catch(() => {});
    const { frames } = await readToEnd(stuck.conn, 60_000);
    assert.equal(frames[frames.length - 1]?.tag, Tag.CLOSE);
    const status = await task.wait(60_000);
    const output = task.lines.join("\n");
    assert.equal(status.code, 0, output);
    assert.match(output, new RegExp(`Shutting down signal=${signal}`));
    assert.match(output, /Stopped/);
    assert.doesNotMatch(output, /exiting at once/);
  } finally {
    task.kill();
    await task.wait().catch(() => {});
    await closeAll(...clients, ...(stuck ? [stuck] : []));
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test({
    name:
      `Signals: ${signal} to the process group of deno task serve stops gracefully: CLOSE to every client, exit 0`,
    ignore: noSetsid !== null,
    fn: () => gracefulThroughTask("process group", signal),
  });
}

Deno.test({
  name:
    "Signals: Ctrl-C on the terminal of deno task serve stops gracefully: CLOSE to every client, exit 0",
  ignore: noScript !== null,
  fn: () => gracefulThroughTask("terminal", "SIGINT"),
});
