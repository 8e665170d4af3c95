import assert from "node:assert/strict";
import { encodeFrame, Tag } from "../protocol/mod.ts";
import { Room } from "../server/room.ts";
import { type BusDelivery, LocalBus } from "../server/room_bus.ts";
import { RawClient, text } from "./_raw_client.ts";
import { withServer } from "./_server.ts";

interface Delivered {
  room: string;
  frames: Uint8Array;
  count: number;
  firstId: number;
}

function recordingBus(): { bus: LocalBus; delivered: Delivered[] } {
  const delivered: Delivered[] = [];
  const deliver: BusDelivery = (room, frames, count, firstId) =>
    delivered.push({ room: room.name, frames, count, firstId });
  return { bus: new LocalBus(deliver), delivered };
}

Deno.test("LocalBus: a run of N frames takes ids first..first+N-1 in one delivery, and ids rise by one per message", () => {
  const { bus, delivered } = recordingBus();
  const room = new Room("lobby");
  assert.equal(bus.lastId(room), 0);
  bus.publish(room, new Uint8Array(0), 3);
  bus.publish(room, new Uint8Array(0), 1);
  bus.publish(room, new Uint8Array(0), 5);
  assert.deepEqual(
    delivered.map(({ count, firstId }) => [firstId, count]),
    [[1, 3], [4, 1], [5, 5]],
  );
  assert.equal(bus.lastId(room), 9);
});

Deno.test("LocalBus: each room counts its own messages", () => {
  const { bus, delivered } = recordingBus();
  const a = new Room("a");
  const b = new Room("b");
  bus.publish(a, new Uint8Array(0), 2);
  bus.publish(b, new Uint8Array(0), 1);
  bus.publish(a, new Uint8Array(0), 1);
  assert.deepEqual(
    delivered.map(({ room, firstId }) => [room, firstId]),
    [["a", 1], ["b", 1], ["a", 3]],
  );
  assert.equal(bus.lastId(a), 3);
  assert.equal(bus.lastId(b), 1);
});

Deno.test("LocalBus: the frames delivered are the very bytes published, not a copy, delivered before publish returns", () => {
  const { bus, delivered } = recordingBus();
  const room = new Room("lobby");
  const buffer = new Uint8Array(1024);
  const frame = encodeFrame(Tag.CHAT, 3, "hello");
  buffer.set(frame, 100);
  const run = buffer.subarray(100, 100 + frame.length);
  bus.publish(room, run, 1);
  assert.equal(delivered.length, 1);
  assert.equal(delivered[0].frames, run);
  assert.equal(delivered[0].frames.buffer, buffer.buffer);
});

Deno.test("LocalBus: a publish made from within a delivery takes the next id: ids keep the order of publishing", () => {
  const order: number[] = [];
  const room = new Room("lobby");
  let nested = true;
  const bus: LocalBus = new LocalBus((_room, _frames, count, firstId) => {
    order.push(firstId);
    if (nested) {
      nested = false;
      bus.publish(room, new Uint8Array(0), 1);
    }
    order.push(firstId + count - 1);
  });
  bus.publish(room, new Uint8Array(0), 2);
  assert.deepEqual(order, [1, 3, 3, 2]);
  assert.equal(bus.lastId(room), 3);
});

Deno.test("Room bus: every member, senders included, sees a room's messages in one order, each sender's own echo in its place", async () => {
  await withServer({}, async (server) => {
    const port = server.address.port;
    const clients = [
      await RawClient.connect(port),
      await RawClient.connect(port),
      await RawClient.connect(port),
    ];
    try {
      const perSender = 30;
      const batch = (name: string) => {
        const frames = Array.from(
          { length: perSender },
          (_, i) =>
            encodeFrame(Tag.CHAT, 0, `${name}${String(i).padStart(2, "0")}`),
        );
        const bytes = new Uint8Array(frames.length * frames[0].length);
        frames.forEach((frame, i) => bytes.set(frame, i * frame.length));
        return bytes;
      };
      // Two senders at once, each several frames per write: runs interleave.
      await Promise.all([
        clients[0].write(batch("a")),
        clients[1].write(batch("b")),
      ]);
      const seen = await Promise.all(
        clients.map(async (client) =>
          (await client.chats(2 * perSender)).map((frame) => text(frame))
        ),
      );
      assert.deepEqual(seen[0], seen[2], "sender a sees the listener's order");
      assert.deepEqual(seen[1], seen[2], "sender b sees the listener's order");
      for (const name of ["a", "b"]) {
        assert.deepEqual(
          seen[2].filter((body) => body.startsWith(name)),
          Array.from(
            { length: perSender },
            (_, i) => `${name}${String(i).padStart(2, "0")}`,
          ),
        );
      }
    } finally {
      for (const client of clients) await client.close();
    }
  });
});

Deno.test("LocalBus: a room it has not counted yet starts from its seed (history's last id), even when created again", () => {
  const delivered: number[] = [];
  const seeds = new Map([["lobby", 41]]);
  const bus = new LocalBus(
    (_room, _frames, _count, firstId) => delivered.push(firstId),
    { lastId: (room) => seeds.get(room) ?? 0, record: () => {} },
  );
  const lobby = new Room("lobby");
  assert.equal(bus.lastId(lobby), 41);
  bus.publish(lobby, new Uint8Array(0), 2);
  bus.publish(new Room("dev"), new Uint8Array(0), 1);
  assert.deepEqual(delivered, [42, 1]);
  // The room emptied and was made again: history kept its last id.
  seeds.set("lobby", bus.lastId(lobby));
  const again = new Room("lobby");
  bus.publish(again, new Uint8Array(0), 1);
  assert.deepEqual(delivered, [42, 1, 44]);
});
