import assert from "node:assert/strict";
import { HEADER_SIZE, MAX_BODY_SIZE, Tag } from "../protocol/mod.ts";
import { RawClient, text } from "./_raw_client.ts";
import { withServer } from "./_server.ts";

Deno.test("Server: issues increasing ids starting at 1", async () => {
  await withServer({}, async (server) => {
    const a = await RawClient.connect(server.address.port);
    const b = await RawClient.connect(server.address.port);
    assert.deepEqual([a.id, b.id], [1, 2]);
    await a.close();
    await b.close();
  });
});

Deno.test("Server: broadcasts CHAT to every client, sender included, stamped with the sender id", async () => {
  await withServer({}, async (server) => {
    const a = await RawClient.connect(server.address.port);
    const b = await RawClient.connect(server.address.port);
    await a.send(Tag.CHAT, "hello", 999);
    for (const client of [a, b]) {
      const frame = await client.next(Tag.CHAT);
      assert.deepEqual(frame.senderId, a.id);
      assert.deepEqual(text(frame), "hello");
    }
    await a.close();
    await b.close();
  });
});

Deno.test("Server: relays a 488-byte body whole and rejects a 489-byte one", async () => {
  await withServer({}, async (server) => {
    const a = await RawClient.connect(server.address.port);
    const b = await RawClient.connect(server.address.port);
    const body = new Uint8Array(MAX_BODY_SIZE).map((_, i) => i % 251);
    await a.send(Tag.CHAT, body);
    assert.deepEqual((await b.next(Tag.CHAT)).body, body);
    const header = new Uint8Array(HEADER_SIZE);
    new DataView(header.buffer).setBigUint64(0, BigInt(MAX_BODY_SIZE + 1));
    new DataView(header.buffer).setBigUint64(8, BigInt(Tag.CHAT));
    await a.write(header);
    const error = await a.next(Tag.ERROR);
    assert.deepEqual(text(error).includes("513"), true);
    await a.waitForEnd();
    await b.send(Tag.CHAT, "still here");
    assert.deepEqual(text(await b.next(Tag.CHAT)), "still here");
    await a.close();
    await b.close();
  });
});
