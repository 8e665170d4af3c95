/**
 * The frame deadline (`frameTimeoutMs`, `--frame-timeout`): a frame once
 * begun must be complete within it, whatever the idle timeout, so a
 * slowloris that sends a header byte now and then is dropped with ERROR
 * "frame timeout". A client quiet between whole frames is not, and the
 * deadline runs per frame, so a client whose every write ends inside a
 * frame is not either.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import {
  barrier,
  closeAll,
  concat,
  nextError,
  RawClient,
  text,
  waitForLog,
} from "./_kit.ts";
import { spawnServer, withServer } from "./_server.ts";

Deno.test("Frame deadline: a frame left incomplete is dropped with ERROR 'frame timeout', with no idle timeout", async () => {
  await withServer(
    { frameTimeoutMs: 200, idleTimeoutMs: 0 },
    async (server, logs) => {
      const port = server.address.port;
      const slow = await RawClient.connect(port);
      // Ten bytes of a 24-byte header, and nothing more.
      await slow.write(encodeFrame(Tag.CHAT, 0, "never finished").slice(0, 10));
      const error = await nextError(slow, 10_000);
      assert.equal(error.reason, "frame timeout");
      await slow.waitForEnd(10_000);
      const line = await waitForLog(logs, /reason=frame_timeout/);
      assert.match(line, /Client disconnected id=1\b/);
      assert.match(line, /detail="frame incomplete for \d+ ms"/);
      assert.equal(server.hub.metrics.disconnects.get("frame_timeout"), 1);
      await slow.close();
    },
  );
});

Deno.test("Frame deadline: a client quiet between whole frames is not dropped", async () => {
  await withServer({ frameTimeoutMs: 200 }, async (server) => {
    const port = server.address.port;
    const quiet = await RawClient.connect(port);
    await quiet.send(Tag.CHAT, "one whole frame");
    assert.equal(text(await quiet.next(Tag.CHAT)), "one whole frame");
    // A slowloris that starts after the quiet client's last frame: once it
    // is dropped, the quiet client has been quiet past the deadline too.
    const slow = await RawClient.connect(port);
    await slow.write(encodeFrame(Tag.CHAT, 0, "x").slice(0, 5));
    assert.equal((await nextError(slow, 10_000)).reason, "frame timeout");
    const before = await barrier(quiet);
    assert.deepEqual(before.filter((frame) => frame.tag === Tag.ERROR), []);
    assert.ok(!quiet.ended);
    assert.equal(server.hub.metrics.disconnects.get("frame_timeout"), 1);
    await closeAll(quiet, slow);
  });
});

Deno.test("Frame deadline: it runs per frame, so writes that each end inside a frame keep a client alive", async () => {
  await withServer(
    { frameTimeoutMs: 1000, maxMessagesPerSecond: 0 },
    async (server) => {
      const port = server.address.port;
      const client = await RawClient.connect(port);
      // 120 frames of 100 bytes sent as 101-byte writes 20 ms apart (about
      // 2.4 s): every write but the 100th ends inside a frame, so for 2 s,
      // twice the deadline, the stream is never at a frame boundary between
      // writes, yet no frame takes more than two writes.
      const frames = Array.from(
        { length: 120 },
        (_, i) => encodeFrame(Tag.CHAT, 0, `frame ${String(i).padStart(70)}`),
      );
      const stream = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
      let offset = 0;
      for (const frame of frames) {
        stream.set(frame, offset);
        offset += frame.length;
      }
      for (let at = 0; at < stream.length; at += 101) {
        await client.write(stream.subarray(at, at + 101));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const chats = await client.chats(120, 10_000);
      assert.equal(text(chats[119]), `frame ${String(119).padStart(70)}`);
      assert.equal(
        server.hub.metrics.disconnects.get("frame_timeout"),
        undefined,
      );
      await client.close();
    },
  );
});

Deno.test("Frame deadline: a server pause is not counted against a frame that was arriving", async () => {
  const server = await spawnServer(["--frame-timeout", "1"]);
  let client: RawClient | null = null;
  try {
    client = await RawClient.connect(server.port);
    const frame = encodeFrame(Tag.CHAT, 0, "across a pause");
    // A PING and the start of the frame in one write: once the PONG is
    // back, the server has read the start too.
    await client.write(
      concat(encodeFrame(Tag.PING, 0, "p"), frame.slice(0, 10)),
    );
    await client.next(Tag.PONG);
    // Stopped for 2.5 s, more than twice the deadline; the rest of the
    // frame comes as soon as the server runs again.
    server.process.kill("SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, 2500));
    server.process.kill("SIGCONT");
    await client.write(frame.slice(10));
    const frames = await client.framesUntil(Tag.CHAT, 10_000);
    assert.deepEqual(frames.filter((f) => f.tag === Tag.ERROR).map(text), []);
    assert.equal(text(frames.at(-1)!), "across a pause");
  } finally {
    await client?.close();
    await server.stop();
  }
});
