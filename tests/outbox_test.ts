import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import { Connection } from "../server/connection.ts";
import {
  COALESCE_DELAY_MS,
  MAX_COALESCED_ROUND_WRITES,
} from "../server/flush_policy.ts";
import { DisconnectReason } from "../server/events.ts";
import { Outbox } from "../server/outbox.ts";
import type { StreamTransport } from "../server/transport/transport.ts";
import { FakeClock } from "./_fake_clock.ts";
import { concat } from "./_kit.ts";

/** A stream transport that records each write; `hold` keeps writes in flight. */
class FakeStream implements StreamTransport {
  readonly remoteAddress = "127.0.0.1:1";
  /** A copy of the bytes of each write call, in order. */
  readonly writes: Uint8Array[] = [];
  closed = false;
  hold = false;

  write(bytes: Uint8Array): Promise<number> {
    this.writes.push(bytes.slice());
    if (this.hold) return new Promise(() => {});
    return Promise.resolve(bytes.length);
  }

  close(): void {
    this.closed = true;
  }
}

const BOUND = 64 * 1024;

interface Setup {
  clock: FakeClock;
  outbox: Outbox;
  totals: { framesOut: number };
  slow: Connection[];
  clients: Connection[];
  streams: FakeStream[];
}

function setup(
  members: number,
  options: {
    bound?: number;
    coalesceWriteRate?: number;
    onSlowConsumer?: (client: Connection) => void;
  } = {},
): Setup {
  const clock = new FakeClock(1000);
  const totals = { framesOut: 0 };
  const slow: Connection[] = [];
  const bound = options.bound ?? BOUND;
  const outbox = new Outbox({
    maxPendingBytes: bound,
    coalesceWriteRate: options.coalesceWriteRate ?? 0,
    clock,
    totals,
    onSlowConsumer: (client) => {
      slow.push(client);
      options.onSlowConsumer?.(client);
    },
  });
  const streams: FakeStream[] = [];
  const clients: Connection[] = [];
  for (let i = 0; i < members; i++) {
    const stream = new FakeStream();
    const client = new Connection(stream, bound, () => {}, undefined, clock);
    client.declareHubbub();
    streams.push(stream);
    clients.push(client);
  }
  return { clock, outbox, totals, slow, clients, streams };
}

function chats(count: number, body = "hi"): Uint8Array {
  const frames = Array.from(
    { length: count },
    (_, i) => encodeFrame(Tag.CHAT, 7, `${body}${i}`),
  );
  return concat(...frames);
}

/** Let the fake writes' promises settle, so writers are idle again. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("Outbox: a run of frames is copied once to every member and written when the batch ends", () => {
  const { outbox, totals, clients, streams, clock } = setup(3);
  const run = chats(3);
  outbox.deliver(clients, run, 3);
  for (const stream of streams) assert.equal(stream.writes.length, 0);
  assert.equal(outbox.waiting, 3);
  run.fill(0); // the outbox copied it: the reader may reuse its buffer
  outbox.endBatch(clock.now());
  for (const stream of streams) {
    assert.equal(stream.writes.length, 1);
    assert.deepEqual(stream.writes[0], chats(3));
  }
  assert.equal(totals.framesOut, 9);
  for (const client of clients) assert.equal(client.framesOut, 3);
  assert.equal(outbox.waiting, 0);
});

Deno.test("Outbox: everything one batch queues for a client leaves in one write", () => {
  const { outbox, clients, streams, clock } = setup(2);
  outbox.deliver(clients, chats(1, "a"), 1);
  outbox.send(clients[0], encodeFrame(Tag.PONG, 0));
  outbox.deliver(clients, chats(1, "b"), 1);
  outbox.endBatch(clock.now());
  assert.equal(streams[0].writes.length, 1);
  assert.equal(
    streams[0].writes[0].length,
    chats(1, "a").length + encodeFrame(Tag.PONG, 0).length +
      chats(1, "b").length,
  );
  assert.equal(streams[1].writes.length, 1);
  assert.equal(clients[0].framesOut, 3);
  assert.equal(clients[1].framesOut, 2);
});

Deno.test("Outbox: a full queue makes its client a slow consumer once the fan-out is over; the other members get every frame", async () => {
  const bound = 1024;
  const readerFramesAtCallback: number[] = [];
  const s = setup(2, {
    bound,
    onSlowConsumer: () => readerFramesAtCallback.push(reader.framesOut),
  });
  const [stuck, reader] = s.clients;
  s.streams[0].hold = true;
  const frame = chats(1, "x".repeat(380));
  for (let i = 0; i < 3; i++) {
    s.outbox.deliver(s.clients, frame, 1);
    s.outbox.endBatch(s.clock.now());
    await settle();
  }
  assert.deepEqual(s.slow, [stuck]);
  assert.deepEqual(
    readerFramesAtCallback,
    [3],
    "the member after it got the frame first",
  );
  assert.equal(reader.framesOut, 3);
  assert.equal(s.streams[1].writes.length, 3);
  assert.ok(stuck.writer.pendingBytes <= bound);
});

Deno.test("Outbox: a full queue found by send is a slow consumer at once", () => {
  const { outbox, clients, streams, slow } = setup(1, { bound: 1024 });
  streams[0].hold = true;
  const frame = encodeFrame(Tag.ERROR, 0, "y".repeat(400));
  outbox.send(clients[0], frame);
  outbox.send(clients[0], frame);
  assert.deepEqual(slow, []);
  outbox.send(clients[0], frame);
  assert.deepEqual(slow, [clients[0]]);
});

Deno.test("Outbox: a farewell passes the queue bound and is counted", () => {
  const { outbox, clients, streams, slow, totals } = setup(1, { bound: 1024 });
  streams[0].hold = true;
  const frame = encodeFrame(Tag.CHAT, 0, "z".repeat(480));
  outbox.send(clients[0], frame);
  outbox.send(clients[0], frame);
  outbox.send(clients[0], frame);
  assert.deepEqual(slow, [clients[0]]);
  const before = totals.framesOut;
  outbox.sendLast(clients[0], encodeFrame(Tag.ERROR, 0, "slow consumer"));
  assert.equal(totals.framesOut, before + 1);
  assert.equal(clients[0].framesOut, 3);
  assert.ok(clients[0].writer.pendingBytes > 1024);
});

Deno.test("Outbox: an original client is sent CHAT, ISSUE_ID and CLOSE, no PRESENCE or other newer tag", () => {
  const { outbox, clock } = setup(0);
  const stream = new FakeStream();
  const original = new Connection(stream, BOUND, () => {}, undefined, clock);
  const hubbubStream = new FakeStream();
  const hubbub = new Connection(
    hubbubStream,
    BOUND,
    () => {},
    undefined,
    clock,
  );
  hubbub.declareHubbub();
  const presence = encodeFrame(Tag.PRESENCE, 1, "{}");
  outbox.send(original, encodeFrame(Tag.ISSUE_ID, 1));
  outbox.send(original, encodeFrame(Tag.PONG, 0));
  outbox.send(original, encodeFrame(Tag.ERROR, 0, "no"));
  outbox.announce([original, hubbub], presence);
  outbox.deliver([original, hubbub], chats(1), 1);
  assert.equal(original.framesOut, 2, "ISSUE_ID and CHAT");
  assert.equal(hubbub.framesOut, 2, "PRESENCE and CHAT");
  outbox.endBatch(clock.now());
  assert.deepEqual(
    stream.writes[0],
    encodeFrame(Tag.ISSUE_ID, 1),
    "one frame per write for the original client",
  );
});

/**
 * Run small batches (one message to every member) on the fake clock until
 * the policy coalesces: each batch is flushed at once until then.
 */
async function untilCoalescing(s: Setup): Promise<number> {
  for (let batch = 1; batch <= 1000; batch++) {
    s.outbox.deliver(s.clients, chats(1), 1);
    s.outbox.endBatch(s.clock.now());
    s.clock.advance(0.5);
    await settle();
    if (s.outbox.coalescing) return batch;
  }
  throw new Error("never coalesced");
}

Deno.test("Outbox: while coalescing, a batch's output waits for the hold on the clock, then leaves in one round", async () => {
  const s = setup(10, { coalesceWriteRate: 1000 });
  await untilCoalescing(s);
  const before = s.streams.map((stream) => stream.writes.length);
  s.outbox.deliver(s.clients, chats(1), 1);
  s.outbox.endBatch(s.clock.now());
  s.outbox.deliver(s.clients, chats(1), 1);
  s.outbox.endBatch(s.clock.now());
  assert.deepEqual(
    s.streams.map((stream) => stream.writes.length),
    before,
    "held: nothing written yet",
  );
  s.clock.advance(COALESCE_DELAY_MS);
  assert.deepEqual(
    s.streams.map((stream) => stream.writes.length),
    before.map((n) => n + 1),
    "both batches in one write per client",
  );
  assert.equal(s.outbox.waiting, 0);
  s.outbox.close();
});

Deno.test("Outbox: while output is held, a client whose queue passes a quarter of its bound is written at once", async () => {
  const bound = 16 * 1024;
  const s = setup(10, { coalesceWriteRate: 1000, bound });
  await untilCoalescing(s);
  const before = s.streams[0].writes.length;
  const big = encodeFrame(Tag.ERROR, 0, "b".repeat(480));
  let sent = 0;
  while (sent + big.length < bound / 4) {
    s.outbox.send(s.clients[0], big);
    sent += big.length;
  }
  assert.equal(s.streams[0].writes.length, before, "under a quarter: held");
  s.outbox.send(s.clients[0], big);
  assert.equal(s.streams[0].writes.length, before + 1, "written at once");
  s.outbox.close();
});

Deno.test("Outbox: a quiet spell ends coalescing at the next tick, and output leaves at once again", async () => {
  const s = setup(10, { coalesceWriteRate: 1000 });
  await untilCoalescing(s);
  s.clock.advance(500);
  s.outbox.tick(s.clock.now());
  assert.equal(s.outbox.coalescing, false);
  const before = s.streams[0].writes.length;
  s.outbox.deliver(s.clients, chats(1), 1);
  s.outbox.endBatch(s.clock.now());
  assert.equal(s.streams[0].writes.length, before + 1);
  s.outbox.close();
});

Deno.test("Outbox: busy big rooms get their flush rounds spaced on the clock", async () => {
  const members = MAX_COALESCED_ROUND_WRITES + 44;
  const s = setup(members, { coalesceWriteRate: 1000 });
  for (let batch = 0; batch < 400 && s.outbox.roundInterval === 0; batch++) {
    s.outbox.deliver(s.clients, chats(20), 20);
    s.outbox.endBatch(s.clock.now());
    s.clock.advance(s.outbox.roundInterval > 0 ? 0 : 1);
    await settle();
  }
  const interval = s.outbox.roundInterval;
  assert.ok(interval > 0, "rounds are spaced");
  assert.equal(s.outbox.coalescing, false, "big rounds are not coalesced");
  // Let the round in progress end: the next one starts a full interval later.
  s.clock.advance(interval);
  await settle();
  s.outbox.deliver(s.clients, chats(1), 1);
  s.outbox.endBatch(s.clock.now());
  await settle();
  const first = s.streams[0].writes.length;
  s.outbox.deliver(s.clients, chats(1), 1);
  s.outbox.endBatch(s.clock.now());
  assert.equal(s.streams[0].writes.length, first, "held for the interval");
  s.clock.advance(interval);
  assert.equal(s.streams[0].writes.length, first + 1);
  s.outbox.close();
});

Deno.test("Outbox: a farewell to a peer that is gone closes at once; any other discards if told, queues ERROR then CLOSE, and closes once they are written", async () => {
  const { outbox, clients, streams } = setup(3);
  const [gone, slow, held] = clients;
  gone.id = 1;
  outbox.send(gone, encodeFrame(Tag.CHAT, 9, "never sent"));
  assert.equal(
    outbox.farewell(gone, { reason: DisconnectReason.Gone }, 5000),
    false,
  );
  assert.equal(gone.writer.closed, true);
  assert.equal(streams[0].writes.length, 0);

  slow.id = 2;
  outbox.send(slow, encodeFrame(Tag.CHAT, 9, "discarded"));
  const lingering = outbox.farewell(slow, {
    reason: DisconnectReason.SlowConsumer,
    error: "slow consumer",
    close: "bye",
    discardQueued: true,
  }, 5000);
  assert.equal(lingering, true, "its last frames are leaving");
  const expected = [
    ...encodeFrame(Tag.ERROR, 0, "slow consumer"),
    ...encodeFrame(Tag.CLOSE, 2, "bye"),
  ];
  assert.deepEqual([...streams[1].writes.flatMap((w) => [...w])], expected);
  await slow.writer.whenClosed();
  assert.equal(streams[1].closed, true);

  streams[2].hold = true;
  held.id = 3;
  assert.equal(
    outbox.farewell(
      held,
      { reason: DisconnectReason.Shutdown, close: "" },
      60_000,
    ),
    true,
  );
  assert.equal(held.writer.closed, false, "waits for its write");
});
