/**
 * Property tests (fast-check) of both frame cutters against an independent
 * one-shot parser: any byte sequence, valid frames mixed with garbage,
 * oversized and overflowing lengths, cut at any points, yields exactly the
 * frames of parsing it whole, the same error at the same place, and never
 * more than one frame's bytes held back. The client side is `FrameReader`
 * (protocol/frame_reader.ts); the server side is the connection reader
 * (server/transport/tcp/reader.ts `readConnection`), driven through a fake connection
 * whose reads return the chunks, with a real `Channel`, no socket.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  FrameReader,
  FrameTooLargeError,
  HEADER_SIZE,
  MAX_BODY_SIZE,
  MAX_FRAME_SIZE,
} from "../protocol/mod.ts";
import { Channel } from "../server/channel.ts";
import { Connection, ConnectionState } from "../server/connection.ts";
import type { HubEvent } from "../server/events.ts";
import { readConnection } from "../server/transport/tcp/reader.ts";
import { concat } from "./_kit.ts";

/** What parsing a whole byte sequence at once gives. */
interface OneShot {
  /** Offsets where frames end, in order. */
  frameEnds: number[];
  /** The error message of an oversized header, or `null`. */
  error: string | null;
  /** Bytes after the last frame (a partial frame) when there is no error. */
  rest: number;
}

/**
 * The reference parser, written from the protocol's words with BigInt
 * (sharing no code with the cutters under test): a header is three
 * big-endian u64; a body over 488 bytes is an error; bytes that do not make
 * a whole frame are left over.
 */
function parseWhole(bytes: Uint8Array): OneShot {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frameEnds: number[] = [];
  let offset = 0;
  while (bytes.length - offset >= HEADER_SIZE) {
    const bodyLength = view.getBigUint64(offset);
    if (bodyLength > BigInt(MAX_BODY_SIZE)) {
      const size = bodyLength + BigInt(HEADER_SIZE);
      return {
        frameEnds,
        error:
          `Frame of ${size} bytes exceeds the ${MAX_FRAME_SIZE}-byte limit`,
        rest: bytes.length - offset,
      };
    }
    const end = offset + HEADER_SIZE + Number(bodyLength);
    if (end > bytes.length) break;
    frameEnds.push(end);
    offset = end;
  }
  return { frameEnds, error: null, rest: bytes.length - offset };
}

function header(bodyLength: bigint, tag: bigint, sender: bigint): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, bodyLength);
  view.setBigUint64(8, tag);
  view.setBigUint64(16, sender);
  return bytes;
}

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });

/** A well-formed frame: any tag and sender id, a body of 0 to 488 bytes. */
const validFrame = fc.record({
  tag: fc.oneof(fc.bigInt({ min: 0n, max: 11n }), u64),
  sender: u64,
  body: fc.oneof(
    fc.uint8Array({ maxLength: 16 }),
    fc.uint8Array({ maxLength: MAX_BODY_SIZE }),
    fc.uint8Array({ minLength: MAX_BODY_SIZE, maxLength: MAX_BODY_SIZE }),
  ),
}).map(({ tag, sender, body }) =>
  concat(header(BigInt(body.length), tag, sender), body)
);

/** A header whose length is just over the limit, past 2^32, 2^53 or 2^64 - 1. */
const oversizedHeader = fc.oneof(
  fc.bigInt({ min: BigInt(MAX_BODY_SIZE + 1), max: 600n }),
  fc.bigInt({ min: 2n ** 32n, max: 2n ** 32n + 100n }),
  fc.bigInt({ min: 2n ** 53n - 2n, max: 2n ** 53n + 2n }),
  fc.constant(2n ** 64n - 1n),
  u64,
).chain((length) =>
  fc.tuple(u64, u64).map(([tag, sender]) => header(length, tag, sender))
);

/**
 * Any byte sequence, weighted so that most runs get past a few frames
 * before a bad header or the end: valid frames, a header whose announced
 * body is cut short, raw random bytes, oversized headers.
 */
const stream = fc.array(
  fc.oneof(
    { weight: 8, arbitrary: validFrame },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) },
    {
      weight: 1,
      arbitrary: validFrame.chain((frame) =>
        fc.integer({ min: 0, max: frame.length }).map((n) =>
          frame.subarray(0, n)
        )
      ),
    },
    { weight: 1, arbitrary: oversizedHeader },
  ),
  { maxLength: 24 },
).map((parts) => concat(...parts));

/** A stream and the points to cut it at (sorted, repeats allowed). */
const cutStream = stream.chain((bytes) =>
  fc.record({
    bytes: fc.constant(bytes),
    cuts: fc.array(fc.integer({ min: 0, max: bytes.length }), {
      maxLength: 40,
    }).map((cuts) => cuts.sort((a, b) => a - b)),
  })
);

function chunksOf(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const cut of cuts) {
    chunks.push(bytes.subarray(start, cut));
    start = cut;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

function framesOf(bytes: Uint8Array, ends: number[]): number[][] {
  let start = 0;
  return ends.map((end) => {
    const frame = Array.from(bytes.subarray(start, end));
    start = end;
    return frame;
  });
}

Deno.test("FrameReader property: any bytes cut anywhere give the frames and the error of a one-shot parse, holding less than one frame", () => {
  fc.assert(
    fc.property(cutStream, ({ bytes, cuts }) => {
      const whole = parseWhole(bytes);
      const reader = new FrameReader();
      const got: number[][] = [];
      let error: string | null = null;
      let consumed = 0;
      try {
        for (const chunk of chunksOf(bytes, cuts)) {
          reader.push(chunk);
          for (let f = reader.next(); f !== null; f = reader.next()) {
            // Rebuild the frame's wire bytes from its fields.
            const wire = concat(
              header(BigInt(f.body.length), BigInt(f.tag), BigInt(f.senderId)),
              f.body,
            );
            got.push(Array.from(wire));
            consumed += wire.length;
          }
          // What it holds back is the start of the next frame only.
          assert.ok(reader.bufferedBytes < MAX_FRAME_SIZE);
          assert.ok(reader.bufferedBytes <= bytes.length - consumed);
        }
      } catch (thrown) {
        assert.ok(thrown instanceof FrameTooLargeError, String(thrown));
        error = thrown.message;
      }
      assert.equal(error, whole.error);
      assert.equal(got.length, whole.frameEnds.length);
      // Tag and sender id above 2^53 are not exact as numbers: compare the
      // length and body bytes always, the whole header when it is exact.
      const expected = framesOf(bytes, whole.frameEnds);
      for (let i = 0; i < got.length; i++) {
        assert.deepEqual(got[i].slice(24), expected[i].slice(24));
        assert.deepEqual(got[i].slice(0, 8), expected[i].slice(0, 8));
        const view = new DataView(new Uint8Array(expected[i]).buffer);
        if (
          view.getBigUint64(8) <= BigInt(Number.MAX_SAFE_INTEGER) &&
          view.getBigUint64(16) <= BigInt(Number.MAX_SAFE_INTEGER)
        ) {
          assert.deepEqual(got[i], expected[i]);
        }
      }
      if (error === null) assert.equal(reader.bufferedBytes, whole.rest);
    }),
    { numRuns: 400 },
  );
});

/**
 * A stand-in for `Deno.Conn` whose reads return the given chunks in order,
 * each cut to the space the reader offers (like a kernel buffer), then end of
 * stream. It records how many bytes the reader had carried over at each read
 * (the reader reads into the part of its buffer after them).
 */
function fakeConnection(chunks: Uint8Array[]) {
  const queue = chunks.filter((chunk) => chunk.length > 0);
  const carried: number[] = [];
  const conn = {
    read(buffer: Uint8Array): Promise<number | null> {
      carried.push(buffer.byteOffset);
      const chunk = queue.shift();
      if (chunk === undefined) return Promise.resolve(null);
      const count = Math.min(chunk.length, buffer.length);
      buffer.set(chunk.subarray(0, count));
      if (count < chunk.length) queue.unshift(chunk.subarray(count));
      return Promise.resolve(count);
    },
    close() {},
  };
  return { conn: conn as unknown as Deno.Conn, carried };
}

Deno.test("Server reader property: any bytes cut anywhere are posted as whole frames equal to a one-shot parse, then the same violation, carrying less than one frame", async () => {
  await fc.assert(
    fc.asyncProperty(cutStream, async ({ bytes, cuts }) => {
      const whole = parseWhole(bytes);
      const { conn, carried } = fakeConnection(chunksOf(bytes, cuts));
      // A real client, so every field the reader uses is there (buffer
      // trading, the frame-deadline clock); its transport is never written.
      const client = new Connection(
        {} as unknown as ConstructorParameters<typeof Connection>[0],
        1 << 20,
        () => {},
      );
      client.state = ConnectionState.Open;
      const channel = new Channel<HubEvent>(Number.MAX_SAFE_INTEGER);
      await readConnection(conn, client, channel);
      channel.close();
      const events = (await channel.receive()) ?? [];
      const posted: Uint8Array[] = [];
      let last: HubEvent | undefined;
      for (const event of events) {
        if (event.kind === "frames") {
          const chunk = event.bytes.subarray(0, event.end);
          // Each chunk is whole frames: it parses with nothing left over.
          const parsed = parseWhole(chunk);
          assert.equal(parsed.error, null);
          assert.equal(parsed.rest, 0);
          posted.push(chunk.slice());
        } else {
          assert.equal(last, undefined, "one final event");
          last = event;
        }
      }
      const framesEnd = whole.frameEnds.at(-1) ?? 0;
      assert.deepEqual(concat(...posted), bytes.subarray(0, framesEnd));
      if (whole.error !== null) {
        assert.deepEqual(last, {
          kind: "violation",
          client,
          reason: whole.error,
        });
      } else {
        assert.equal(last?.kind, "gone");
      }
      // Never more than the start of one frame carried into the next read.
      for (const count of carried) {
        assert.ok(count < MAX_FRAME_SIZE, `${count}`);
      }
    }),
    { numRuns: 300 },
  );
});
