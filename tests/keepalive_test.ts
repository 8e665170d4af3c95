/**
 * Keepalive over real sockets, with small configured intervals: PING to a
 * silent client, the idle drop, any inbound frame counting as alive, PONG
 * answers, and both rules off by default.
 */

import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import { DEFAULT_HUB_OPTIONS } from "../server/mod.ts";
import {
  barrier,
  join,
  nextError,
  nick,
  ofTag,
  RawClient,
  takeUntil,
  text,
  waitForLog,
  withClients,
} from "./_kit.ts";

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("Keepalive: PING and the idle drop are off by default", async () => {
  assert.equal(DEFAULT_HUB_OPTIONS.pingIntervalMs, 0);
  assert.equal(DEFAULT_HUB_OPTIONS.idleTimeoutMs, 0);
  // A short frame deadline makes the hub tick every 10 ms. A witness that
  // leaves a frame unfinished is dropped once 150 ms have passed: by then
  // the silent client, connected before it, would have been pinged or
  // dropped many times over.
  await withClients({ frameTimeoutMs: 150 }, 2, async ([a, witness]) => {
    await witness.write(encodeFrame(Tag.CHAT, 0, "unfinished").slice(0, 5));
    assert.equal((await nextError(witness, 10_000)).reason, "frame timeout");
    const frames = await barrier(a);
    assert.deepEqual(ofTag(frames, Tag.PING), []);
    assert.deepEqual(ofTag(frames, Tag.ERROR), []);
    assert.ok(!a.ended);
  });
});

Deno.test("Keepalive: a silent client gets PING each interval, then ERROR 'idle timeout' and the end", async () => {
  await withClients(
    { pingIntervalMs: 50, idleTimeoutMs: 250 },
    1,
    async ([a], server, logs) => {
      const started = performance.now();
      const frames = await takeUntil(a, (f) => f.tag === Tag.ERROR, 3000);
      const droppedAfter = performance.now() - started;
      const pings = ofTag(frames, Tag.PING);
      assert.ok(pings.length >= 2, `only ${pings.length} PINGs`);
      assert.ok(pings.length <= 6, `${pings.length} PINGs in 250 ms`);
      assert.equal(text(frames[frames.length - 1]), "idle timeout");
      assert.ok(droppedAfter >= 200, `dropped after ${droppedAfter} ms`);
      assert.ok(droppedAfter < 2000, `dropped after ${droppedAfter} ms`);
      await a.waitForEnd();
      const line = await waitForLog(
        logs,
        new RegExp(`Client disconnected id=${a.id}\\b.*reason=idle_timeout`),
      );
      assert.match(line, /silent for \d+ ms/);
      assert.equal(server.hub.clientCount, 0);
      assert.equal(server.hub.metrics.disconnects.get("idle_timeout"), 1);
    },
  );
});

Deno.test("Keepalive: the first PING waits for pingIntervalMs of silence", async () => {
  await withClients({ pingIntervalMs: 100 }, 1, async ([a]) => {
    const started = performance.now();
    await a.next(Tag.PING, 3000);
    const after = performance.now() - started;
    assert.ok(after >= 80, `PING after ${after} ms`);
  });
});

Deno.test("Keepalive: a client that answers every PING with PONG stays connected", async () => {
  await withClients(
    { pingIntervalMs: 30, idleTimeoutMs: 200 },
    2,
    async ([a, b]) => {
      let pings = 0;
      const until = performance.now() + 600;
      // b answers too, so that only a's behaviour is under test.
      const answer = async (client: RawClient, count: boolean) => {
        while (performance.now() < until) {
          const ping = await client.next(Tag.PING, 1000);
          if (count) pings++;
          await client.send(Tag.PONG, ping.body);
        }
      };
      await Promise.all([answer(a, true), answer(b, false)]);
      assert.ok(pings >= 5, `only ${pings} PINGs in 600 ms`);
      assert.ok(!a.ended);
      await b.send(Tag.CHAT, "still with us?");
      assert.equal(text(await a.next(Tag.CHAT)), "still with us?");
    },
  );
});

Deno.test("Keepalive: a client that never answers PING but keeps talking stays connected", async () => {
  await withClients(
    { pingIntervalMs: 30, idleTimeoutMs: 200 },
    1,
    async ([a], server) => {
      const until = performance.now() + 600;
      let sent = 0;
      while (performance.now() < until) {
        await a.send(Tag.CHAT, `tick ${sent++}`);
        await pause(25);
      }
      const frames = await barrier(a);
      assert.deepEqual(ofTag(frames, Tag.ERROR), []);
      assert.ok(!a.ended);
      assert.equal(server.hub.clientCount, 1);
    },
  );
});

Deno.test("Keepalive: receiving does not count as alive: a listen-only client is dropped", async () => {
  await withClients(
    { idleTimeoutMs: 100 },
    2,
    async ([talker, listener], _server, logs) => {
      const talking = (async () => {
        for (let i = 0; i < 40 && !listener.ended; i++) {
          await talker.send(Tag.CHAT, `chat ${i}`);
          await pause(10);
        }
      })();
      await listener.waitForEnd(3000);
      await talking;
      await waitForLog(
        logs,
        new RegExp(`id=${listener.id}\\b.*reason=idle_timeout`),
      );
      assert.ok(!talker.ended);
    },
  );
});

Deno.test("Keepalive: the server answers a client's PING with PONG carrying the same body", async () => {
  await withClients({}, 1, async ([a]) => {
    for (const body of ["", "abc", "\u00e9\u{1f600}"]) {
      await a.send(Tag.PING, body);
      const pong = await a.next(Tag.PONG);
      assert.equal(text(pong), body);
    }
    const bytes = new Uint8Array([0, 255, 1, 254]);
    await a.send(Tag.PING, bytes);
    assert.deepEqual((await a.next(Tag.PONG)).body, bytes);
  });
});

Deno.test("Keepalive: an idle drop announces the leave to the room and frees the nickname", async () => {
  await withClients(
    { pingIntervalMs: 30, idleTimeoutMs: 200 },
    2,
    async ([sleeper, awake]) => {
      await join(sleeper, "dorm");
      await nick(sleeper, "snorlax");
      await join(awake, "dorm");
      // awake answers PINGs until sleeper's leave arrives.
      const seen = await takeUntil(awake, (frame) => {
        if (frame.tag === Tag.PING) {
          void awake.send(Tag.PONG, frame.body);
          return false;
        }
        return frame.tag === Tag.PRESENCE &&
          JSON.parse(text(frame)).event === "leave";
      }, 3000);
      assert.deepEqual(JSON.parse(text(seen[seen.length - 1])), {
        event: "leave",
        room: "dorm",
        id: sleeper.id,
        nick: "snorlax",
      });
      await nick(awake, "snorlax");
    },
  );
});
