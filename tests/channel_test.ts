import assert from "node:assert/strict";
import { Channel } from "../server/mod.ts";
import { Tag } from "../protocol/mod.ts";
import { RawClient, text } from "./_raw_client.ts";
import { withServer } from "./_server.ts";

Deno.test("Channel: hands over everything queued as one batch, in push order", async () => {
  const channel = new Channel<number>(100);
  channel.push(1);
  channel.push(2);
  channel.push(3);
  assert.deepEqual([...(await channel.receive())!], [1, 2, 3]);
  const waiting = channel.receive();
  channel.push(4);
  channel.push(5);
  assert.deepEqual([...(await waiting)!], [4, 5]);
});

Deno.test("Channel: is full at the high-water weight and releases producers on receive", async () => {
  const channel = new Channel<string>(10);
  channel.push("a", 6);
  assert.equal(channel.full, false);
  channel.push("b", 4);
  assert.equal(channel.full, true);
  assert.equal(channel.weight, 10);
  let released = false;
  const producer = channel.whenNotFull().then(() => released = true);
  await Promise.resolve();
  assert.equal(released, false);
  await channel.receive();
  await producer;
  assert.equal(released, true);
  assert.equal(channel.weight, 0);
});

Deno.test("Channel: close delivers what is queued, then null, and drops later pushes", async () => {
  const channel = new Channel<number>(10);
  channel.push(1);
  channel.close();
  channel.push(2);
  assert.deepEqual([...(await channel.receive())!], [1]);
  assert.equal(await channel.receive(), null);
});

Deno.test("Channel: a waiting consumer wakes with null on close", async () => {
  const channel = new Channel<number>(10);
  const waiting = channel.receive();
  channel.close();
  assert.equal(await waiting, null);
});

Deno.test("Channel: refuses a second concurrent consumer", async () => {
  const channel = new Channel<number>(10);
  const first = channel.receive();
  await assert.rejects(() => channel.receive(), /single consumer/);
  channel.close();
  await first;
});

Deno.test("Server: a tiny input high-water mark neither stalls nor reorders delivery", async () => {
  await withServer(
    { inputHighWater: 1, maxMessagesPerSecond: 0 },
    async (server) => {
      const port = server.address.port;
      const senders = await Promise.all(
        [0, 1, 2].map(() => RawClient.connect(port)),
      );
      const receiver = await RawClient.connect(port);
      const perSender = 300;
      await Promise.all(senders.map(async (sender, s) => {
        for (let i = 0; i < perSender; i++) {
          await sender.send(Tag.CHAT, `${s}:${i}`);
        }
      }));
      const frames = await receiver.chats(senders.length * perSender, 20_000);
      const next = senders.map(() => 0);
      for (const frame of frames) {
        const [s, i] = text(frame).split(":").map(Number);
        assert.equal(frame.senderId, senders[s].id);
        assert.equal(i, next[s]++, "each sender's order is kept");
      }
      await Promise.all([...senders, receiver].map((client) => client.close()));
    },
  );
});
