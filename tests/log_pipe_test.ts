/**
 * Logging never blocks the hub: a server subprocess whose standard error is
 * a pipe nobody reads (a stopped log shipper) keeps chatting while clients
 * make it log, drops and counts the lines that do not fit, and still stops
 * gracefully.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import {
  barrier,
  concat,
  httpGet,
  parseMetrics,
  RawClient,
  rawHeader,
} from "./_kit.ts";
import { deadline } from "./_deadline.ts";
import { SERVER_MAIN } from "./_process.ts";

/** Most rounds of log-causing traffic the test sends. */
const MAX_ROUNDS = 400;
/**
 * Misbehaving connections a round (open at once): more warnings at once than
 * one address may log in a second, so some are always suppressed.
 */
const BATCH = 15;
/**
 * JOIN frames a round (a debug line each). Few enough that one round's
 * lines fit the server's log queue: lines are dropped only once the pipe
 * itself is full, not because a burst outran one write.
 */
const JOINS = 40;

/**
 * Connect, send a header announcing a body over the frame limit (the server
 * logs a warning and closes), and wait for the close. `false` when the server
 * did not close the connection in time (it is stuck).
 */
async function misbehave(port: number): Promise<boolean> {
  const client = await RawClient.connect(port, { handshake: false });
  try {
    await client.write(rawHeader(4096n, BigInt(Tag.CHAT)));
    await client.waitForEnd(10_000);
    return true;
  } catch {
    return false;
  } finally {
    await client.close();
  }
}

/** Read `reader` until a whole line matching `pattern` has arrived. */
async function readUntilLine(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  pattern: RegExp,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const line = text.split("\n").slice(0, -1).find((l) => pattern.test(l));
    if (line !== undefined) return line;
    const { value, done } = await reader.read();
    if (done) throw new Error(`stderr ended before ${pattern}:\n${text}`);
    text += decoder.decode(value, { stream: true });
  }
}

Deno.test("Logger: a server whose stderr nobody reads keeps chatting, counts dropped lines and stops gracefully", async () => {
  const env = Deno.env.toObject();
  delete env.RUST_BACKTRACE;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      SERVER_MAIN,
      "--port",
      "0",
      "--http-port",
      "0",
      "--log-buffer-bytes",
      "16384",
      // A line per JOIN, for volume; warnings are rate-limited per address.
      "--log-level",
      "debug",
      "--max-msgs-per-sec",
      "0",
      // Run with --allow-read and --allow-net only, as before history.
      "--no-history",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    clearEnv: true,
    env: { ...env, NO_COLOR: "1" },
  }).spawn();
  const stderr = child.stderr.getReader();
  let status: Deno.CommandStatus | null = null;
  let chatter: RawClient | null = null;
  let flooder: RawClient | null = null;
  try {
    const listening = await deadline(
      readUntilLine(stderr, /Listening/),
      15_000,
      "the Listening line",
    );
    const port = Number(/address=[^\s]+:(\d+)/.exec(listening)![1]);
    const httpPort = Number(/http=[^\s]+:(\d+)/.exec(listening)![1]);
    // From here on nobody reads the server's stderr: the pipe fills up.
    chatter = await RawClient.connect(port);
    const dropped = async () => {
      const reply = await httpGet(httpPort, "/metrics", "GET", 10_000);
      return parseMetrics(reply.body);
    };
    flooder = await RawClient.connect(port);
    const hops = concat(
      ...Array.from(
        { length: JOINS },
        (_, i) => encodeFrame(Tag.JOIN, 0, i % 2 ? "a" : "b"),
      ),
    );
    let rounds = 0;
    let stuck = false;
    while (rounds < MAX_ROUNDS && !stuck) {
      rounds++;
      await flooder.write(hops);
      const closed = await Promise.all([
        barrier(flooder, 10_000).then(() => true, () => false),
        ...Array.from({ length: BATCH }, () => misbehave(port)),
      ]);
      stuck = closed.includes(false);
      if (
        !stuck && rounds % 10 === 0 &&
        ((await dropped()).get("hubbub_log_lines_dropped_total") ?? 0) > 0
      ) break;
    }
    const made = rounds * BATCH;
    assert.ok(!stuck, `the server stopped closing bad clients after ${made}`);
    // Another client still chats: it gets its echo.
    await chatter.send(Tag.CHAT, "still here");
    const echo = await chatter.next(Tag.CHAT, 10_000);
    assert.equal(new TextDecoder().decode(echo.body), "still here");
    const m = await dropped();
    assert.ok(
      m.get("hubbub_log_lines_dropped_total")! > 0,
      `no line dropped after ${made} bad clients`,
    );
    // Every bad client came from 127.0.0.1: most warnings were suppressed.
    assert.ok(m.get("hubbub_log_lines_suppressed_total")! > 0);
    // A graceful stop gives up on the stalled pipe after a bounded wait.
    await chatter.close();
    chatter = null;
    await flooder.close();
    flooder = null;
    child.kill("SIGTERM");
    status = await deadline(child.status, 20_000, "the server to exit");
    assert.equal(status.code, 0);
  } finally {
    await chatter?.close();
    await flooder?.close();
    if (status === null) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
    }
    await stderr.cancel();
  }
});
