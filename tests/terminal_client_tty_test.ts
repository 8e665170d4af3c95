/**
 * The terminal client on a real pseudo-terminal (util-linux `script`), so it
 * runs its raw-mode line editor: a message that arrives while a line is
 * being typed is printed above it and the typed text is redrawn intact; the
 * line sent shows once, as the server's echo. The screen is rebuilt from
 * the bytes the client wrote with a fake terminal.
 */

import assert from "node:assert/strict";
import { encodeFrame, FrameReader, Tag } from "../protocol/mod.ts";
import { deadline } from "./_deadline.ts";
import { FakeTerminal } from "./_fake_terminal.ts";
import { RawClient } from "./_raw_client.ts";
import { withServer } from "./_server.ts";

const CLIENT_MAIN = new URL("../client/main.ts", import.meta.url).pathname;
const encoder = new TextEncoder();

function hasScript(): boolean {
  try {
    return new Deno.Command("script", { args: ["--version"] }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** The client under `script`, its terminal output kept as one string. */
class PtyClient {
  readonly child: Deno.ChildProcess;
  output = "";
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #wake: (() => void) | null = null;
  #pump: Promise<void>;

  constructor(port: number) {
    // A fixed size, since a fresh pseudo-terminal reports 0 columns.
    const shell = `stty cols 100 rows 30 && exec '${Deno.execPath()}' run ` +
      `--allow-net --allow-read '${CLIENT_MAIN}' --port ${port}`;
    const child = new Deno.Command("script", {
      args: ["-qfec", shell, "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", TERM: "xterm" },
    }).spawn();
    this.child = child;
    this.#stdin = child.stdin.getWriter();
    this.#pump = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        this.output += decoder.decode(chunk, { stream: true });
        this.#wake?.();
      }
      this.#wake?.();
    })();
    void child.stderr.cancel();
  }

  /** Wait until the output contains `text` after `marker` (if given). */
  async waitFor(text: string, marker = "", timeoutMs = 15_000): Promise<void> {
    const found = () => {
      const start = this.output.indexOf(marker);
      return start >= 0 && this.output.indexOf(text, start) >= 0;
    };
    try {
      await deadline(
        (async () => {
          while (!found()) {
            await new Promise<void>((resolve) => this.#wake = resolve);
          }
        })(),
        timeoutMs,
        `terminal output containing ${JSON.stringify(text)}`,
      );
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\n${JSON.stringify(this.output)}`,
      );
    }
  }

  /** Press keys. */
  async keys(text: string): Promise<void> {
    await this.#stdin.write(encoder.encode(text));
  }

  /** The screen a person would see now. */
  screen(): string[] {
    const terminal = new FakeTerminal();
    // From the editor's first prompt: before it, Deno may have cleared its
    // own progress line.
    terminal.write(this.output.slice(this.output.indexOf("\r\x1b[2K> ")));
    return terminal.screen.filter((row) => row !== "");
  }

  /** Wait for the exit status. */
  async finish(): Promise<Deno.CommandStatus> {
    try {
      return await deadline(this.child.status, 15_000, "the client to exit");
    } catch (error) {
      this.child.kill("SIGKILL");
      throw error;
    } finally {
      await this.child.status;
      await this.#stdin.close().catch(() => {});
      await this.#pump;
    }
  }
}

Deno.test({
  name:
    "Terminal client on a terminal: a message arriving mid-line prints above it, the typed line stays intact and is shown once",
  ignore: !hasScript(),
  fn: async () => {
    await withServer({}, async (server) => {
      const peer = await RawClient.connect(server.address.port);
      const client = new PtyClient(server.address.port);
      try {
        await client.waitFor("lobby> ", "", 30_000);
        await peer.send(Tag.NICK, "zed");
        await client.waitFor("is now known as zed");
        await client.keys("hal");
        await client.waitFor("lobby> hal");
        await peer.send(Tag.CHAT, "over\x1b[2Jthere");
        await client.waitFor("zed >>> over␛[2Jthere");
        // Then the input line, redrawn under it (CLEAR_ROW, prompt, text).
        await client.waitFor("\r\x1b[2Klobby> hal", "zed >>> over");
        assert.deepEqual(client.screen().slice(-2), [
          "zed >>> over␛[2Jthere",
          "lobby> hal",
        ]);
        await client.keys("lo\r");
        await client.waitFor(">>> hallo");
        await client.waitFor("\r\x1b[2Klobby> ", ">>> hallo");
        const screen = client.screen();
        assert.deepEqual(
          screen.filter((row) => row.includes("hallo")),
          ["2 >>> hallo"],
          screen.join("\n"),
        );
        assert.equal(screen.at(-1), "lobby>");
        assert.ok(!client.output.includes("\x1b[2J"), "the peer's escape");
        await client.keys("\x04"); // Ctrl-D on an empty line: leave
        assert.equal((await client.finish()).code, 0);
      } finally {
        try {
          client.child.kill("SIGKILL");
        } catch {
          // Exited.
        }
        await client.finish().catch(() => {});
        await peer.close();
      }
    });
  },
});

Deno.test({
  name:
    "Terminal client on a terminal: Ctrl-C sends CLOSE and waits for the answer; a second Ctrl-C exits at once (130)",
  ignore: !hasScript(),
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const client = new PtyClient(port);
    let conn: Deno.Conn | null = null;
    try {
      conn = await deadline(listener.accept(), 30_000, "the client");
      await conn.write(encodeFrame(Tag.ISSUE_ID, 5));
      await client.waitFor("as client 5", "", 30_000);
      await client.keys("\x03");
      // The peer sees CLOSE (after the JOIN of the lobby), and does not answer.
      const reader = new FrameReader();
      const buffer = new Uint8Array(1024);
      const tags: number[] = [];
      await deadline(
        (async () => {
          while (!tags.includes(Tag.CLOSE)) {
            const n = await conn!.read(buffer);
            if (n === null) throw new Error("connection ended");
            reader.push(buffer.subarray(0, n));
            for (let f = reader.next(); f !== null; f = reader.next()) {
              tags.push(f.tag);
            }
          }
        })(),
        10_000,
        "CLOSE from the client",
      );
      assert.deepEqual(tags, [Tag.JOIN, Tag.CLOSE]);
      await client.keys("\x03");
      assert.equal((await client.finish()).code, 130);
    } finally {
      try {
        client.child.kill("SIGKILL");
      } catch {
        // Exited.
      }
      await client.finish().catch(() => {});
      conn?.close();
      listener.close();
    }
  },
});
