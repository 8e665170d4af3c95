/**
 * The frame deadline (`frameTimeoutMs`, `--frame-timeout`): a frame once
 * begun must be complete within it, whatever the idle timeout, so a
 * slowloris that sends a header byte now and then is dropped with ERROR
 * "frame timeout". A client quiet between whole frames is not, and the
 * deadline runs per frame, so a client whose every write ends inside a
 * frame is not either. The deadline runs on a fake clock the tests advance;
 * the first test and the server pause run on the real one, for the wiring.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import {
  barrier,
  concat,
  framesHandled,
  nextError,
  RawClient,
  text,
  waitForLog,
  withClockedClients,
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

Deno.test("Frame deadline: nothing happens to a begun frame until exactly frameTimeoutMs, then ERROR 'frame timeout' and the end", async () => {
  await withClockedClients(
    { frameTimeoutMs: 1000 },
    2,
    async ([slow, other], clock, server, logs) => {
      // A PING and ten bytes of a header in one write: once the PONG is
      // back, the server has read the start of the frame too, at time 0.
      await slow.write(concat(
        encodeFrame(Tag.PING, 0, "p"),
        encodeFrame(Tag.CHAT, 0, "never finished").slice(0, 10),
      ));
      await slow.next(Tag.PONG);
      clock.advance(999);
      assert.deepEqual(await barrier(other), []);
      assert.equal(server.hub.gauges.clientCount, 2);
      assert.equal(slow.inbox.length, 0);
      clock.advance(1);
      await slow.waitForEnd();
      assert.deepEqual(slow.inbox.map((f) => [f.tag, text(f)]), [
        [Tag.ERROR, "frame timeout"],
      ]);
      const line = await waitForLog(logs, /reason=frame_timeout/);
      assert.match(line, new RegExp(`Client disconnected id=${slow.id}\\b`));
      assert.match(line, /detail="frame incomplete for 1000 ms"/);
      assert.equal(server.hub.metrics.disconnects.get("frame_timeout"), 1);
      // The other client hears only that it left.
      assert.deepEqual(
        (await barrier(other)).map((f) => [f.tag, JSON.parse(text(f)).event]),
        [[Tag.PRESENCE, "leave"]],
      );
    },
  );
});

Deno.test("Frame deadline: a client quiet between whole frames is not dropped", async () => {
  await withClockedClients(
    { frameTimeoutMs: 200 },
    1,
    async ([quiet], clock, server) => {
      await quiet.send(Tag.CHAT, "one whole frame");
      assert.equal(text(await quiet.next(Tag.CHAT)), "one whole frame");
      clock.advance(10 * 200);
      assert.deepEqual(await barrier(quiet), []);
      assert.equal(server.hub.gauges.clientCount, 1);
      assert.equal(
        server.hub.metrics.disconnects.get("frame_timeout"),
        undefined,
      );
    },
  );
});

Deno.test("Frame deadline: it runs per frame, so writes that each end inside a frame keep a client alive", async () => {
  await withClockedClients(
    { frameTimeoutMs: 1000, maxMessagesPerSecond: 0 },
    1,
    async ([client], clock, server) => {
      // 120 frames of 100 bytes sent as 101-byte writes 600 ms apart: every
      // write but the 100th ends inside a frame, so for 70 s, seventy times
      // the deadline, the stream is never at a frame boundary between
      // writes, yet no frame takes more than two writes (600 ms).
      const frames = Array.from(
        { length: 120 },
        (_, i) => encodeFrame(Tag.CHAT, 0, `frame ${String(i).padStart(70)}`),
      );
      const stream = concat(...frames);
      const handledBefore = server.hub.metrics.framesIn;
      for (let at = 0; at < stream.length; at += 101) {
        await client.write(stream.subarray(at, at + 101));
        const whole = Math.floor(Math.min(at + 101, stream.length) / 100);
        await framesHandled(server, handledBefore + whole);
        clock.advance(600);
      }
      const chats = await client.chats(120, 10_000);
      assert.equal(text(chats[119]), `frame ${String(119).padStart(70)}`);
      assert.equal(
        server.hub.metrics.disconnects.get("frame_timeout"),
        undefined,
      );
      assert.equal(server.hub.gauges.clientCount, 1);
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
