/**
 * Keepalive: PING to a silent client, the idle drop, any inbound frame
 * counting as alive, PONG answers, and both rules off by default. The rules
 * run on a fake clock the tests advance (`withClockedClients`): after an
 * advance to just before a deadline, a barrier shows that exactly nothing
 * happened; one more millisecond, exactly what did. One test per rule runs
 * on the real clock, for the wiring.
 */

import assert from "node:assert/strict";
import { Tag } from "../protocol/mod.ts";
import { DEFAULT_HUB_OPTIONS } from "../server/mod.ts";
import {
  barrier,
  framesHandled,
  join,
  nick,
  ofTag,
  presenceOf,
  takeUntil,
  text,
  waitForLog,
  withClients,
  withClockedClients,
} from "./_kit.ts";

Deno.test("Keepalive: PING and the idle drop are off by default", async () => {
  assert.equal(DEFAULT_HUB_OPTIONS.pingIntervalMs, 0);
  assert.equal(DEFAULT_HUB_OPTIONS.idleTimeoutMs, 0);
  await withClockedClients({}, 1, async ([a], clock, server) => {
    clock.advance(10 * 60_000); // ten minutes of silence
    const frames = await barrier(a);
    assert.deepEqual(frames, []);
    assert.ok(!a.ended);
    assert.equal(server.hub.gauges.clientCount, 1);
  });
});

Deno.test("Keepalive: a silent client gets PING, then ERROR 'idle timeout' and the end (real clock)", async () => {
  await withClients(
    // Twenty intervals to the drop: a PING comes first even on a loaded
    // machine whose ticks run late.
    { pingIntervalMs: 50, idleTimeoutMs: 1000 },
    1,
    async ([a], server, logs) => {
      const frames = await takeUntil(a, (f) => f.tag === Tag.ERROR, 10_000);
      assert.ok(ofTag(frames, Tag.PING).length >= 1, "no PING before the drop");
      assert.equal(text(frames[frames.length - 1]), "idle timeout");
      await a.waitForEnd();
      const line = await waitForLog(
        logs,
        new RegExp(`Client disconnected id=${a.id}\\b.*reason=idle_timeout`),
      );
      assert.match(line, /silent for \d+ ms/);
      assert.equal(server.hub.gauges.clientCount, 0);
      assert.equal(server.hub.metrics.disconnects.get("idle_timeout"), 1);
    },
  );
});

Deno.test("Keepalive: PING after exactly pingIntervalMs of silence and each interval after, ERROR 'idle timeout' after exactly idleTimeoutMs", async () => {
  await withClockedClients(
    { pingIntervalMs: 100, idleTimeoutMs: 350 },
    2,
    async ([a, witness], clock, server, logs) => {
      const metrics = server.hub.metrics;
      // Silent for 99 ms: nothing is queued for anyone but the witness's
      // PONG (the witness's barrier leaves a's silence alone).
      const queued = metrics.framesOut;
      clock.advance(99);
      assert.deepEqual(await barrier(witness), []);
      assert.equal(metrics.framesOut, queued + 1, "only the witness's PONG");
      // At 100 ms a PING, empty; then one each interval of silence.
      for (const at of [100, 200, 300]) {
        clock.advance(at === 100 ? 1 : 100);
        const frames = await takeUntil(a, (f) => f.tag === Tag.PING);
        assert.deepEqual(frames.map((f) => [f.tag, f.body.length]), [
          [Tag.PING, 0],
        ], `at ${at} ms`);
      }
      // Silent for 349 ms: still here.
      clock.advance(49);
      await barrier(witness);
      assert.equal(server.hub.gauges.clientCount, 2);
      assert.equal(metrics.disconnects.get("idle_timeout"), undefined);
      // At 350 ms: ERROR, nothing else, and the end.
      clock.advance(1);
      const last = await takeUntil(a, () => true);
      assert.deepEqual(last.map((f) => [f.tag, text(f)]), [
        [Tag.ERROR, "idle timeout"],
      ]);
      await a.waitForEnd();
      const line = await waitForLog(
        logs,
        new RegExp(`Client disconnected id=${a.id}\\b.*reason=idle_timeout`),
      );
      assert.match(line, /silent for 350 ms/);
      assert.equal(metrics.disconnects.get("idle_timeout"), 1);
      assert.equal(server.hub.gauges.clientCount, 1);
      assert.ok(!witness.ended);
    },
  );
});

Deno.test("Keepalive: a client that answers every PING with PONG stays connected", async () => {
  await withClockedClients(
    { pingIntervalMs: 100, idleTimeoutMs: 350 },
    1,
    async ([a], clock, server) => {
      // Ten intervals, almost three idle timeouts; a sends only PONGs.
      for (let i = 0; i < 10; i++) {
        clock.advance(100);
        const ping = await a.next(Tag.PING);
        const handled = server.hub.metrics.framesIn;
        await a.send(Tag.PONG, ping.body);
        await framesHandled(server, handled + 1);
      }
      assert.equal(server.hub.gauges.clientCount, 1);
      assert.equal(
        server.hub.metrics.disconnects.get("idle_timeout"),
        undefined,
      );
      assert.deepEqual(ofTag(await barrier(a), Tag.ERROR), []);
      assert.ok(!a.ended);
    },
  );
});

Deno.test("Keepalive: a client that never answers PING but keeps talking stays connected", async () => {
  await withClockedClients(
    { pingIntervalMs: 100, idleTimeoutMs: 350 },
    1,
    async ([a], clock, server) => {
      let pings = 0;
      // Ten rounds of 150 ms of silence (a PING each), then a CHAT.
      for (let i = 0; i < 10; i++) {
        clock.advance(150);
        await a.send(Tag.CHAT, `tick ${i}`);
        const frames = await takeUntil(
          a,
          (f) => f.tag === Tag.CHAT && text(f) === `tick ${i}`,
        );
        assert.deepEqual(ofTag(frames, Tag.ERROR), []);
        pings += ofTag(frames, Tag.PING).length;
      }
      assert.equal(pings, 10);
      assert.equal(server.hub.gauges.clientCount, 1);
      assert.ok(!a.ended);
    },
  );
});

Deno.test("Keepalive: receiving does not count as alive: a listen-only client is dropped", async () => {
  await withClockedClients(
    { idleTimeoutMs: 400 },
    2,
    async ([talker, listener], clock, server, logs) => {
      for (let i = 1; i <= 3; i++) {
        clock.advance(100);
        await talker.send(Tag.CHAT, `chat ${i}`);
        assert.equal(text(await listener.next(Tag.CHAT)), `chat ${i}`);
      }
      clock.advance(99); // the listener silent for 399 ms
      await barrier(talker);
      assert.equal(server.hub.gauges.clientCount, 2);
      clock.advance(1);
      assert.equal(text(await listener.next(Tag.ERROR)), "idle timeout");
      await listener.waitForEnd();
      await waitForLog(
        logs,
        new RegExp(`id=${listener.id}\\b.*reason=idle_timeout`),
      );
      assert.deepEqual(ofTag(await barrier(talker), Tag.ERROR), []);
      assert.equal(server.hub.gauges.clientCount, 1);
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
  await withClockedClients(
    { pingIntervalMs: 100, idleTimeoutMs: 350 },
    2,
    async ([sleeper, awake], clock, server) => {
      await join(sleeper, "dorm");
      await nick(sleeper, "snorlax");
      await join(awake, "dorm");
      clock.advance(349);
      await barrier(awake);
      assert.equal(server.hub.gauges.clientCount, 2);
      clock.advance(1);
      const seen = await takeUntil(
        awake,
        (frame) => frame.tag === Tag.PRESENCE,
      );
      assert.deepEqual(presenceOf(seen[seen.length - 1]), {
        event: "leave",
        room: "dorm",
        id: sleeper.id,
        nick: "snorlax",
      });
      await nick(awake, "snorlax");
    },
  );
});
