/**
 * Unit tests of the wire format helpers: header fields, `encodeFrame`,
 * `completeFramesEnd`, `checkFrameSize` and the incremental `FrameReader`,
 * including a fast-check property over random frame sequences cut at random
 * points.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  checkFrameSize,
  completeFramesEnd,
  encodeFrame,
  type Frame,
  FrameReader,
  FrameTooLargeError,
  HEADER_SIZE,
  MAX_BODY_SIZE,
  MAX_FRAME_SIZE,
  readBodyLength,
  readSenderId,
  readTag,
  Tag,
  tagName,
  writeHeader,
  writeSenderId,
} from "../protocol/mod.ts";
import { concat, rawHeader } from "./_kit.ts";

/** A frame as plain data, for deep comparisons. */
interface Plain {
  tag: number;
  senderId: number;
  body: number[];
}

function plain(frame: Frame): Plain {
  return {
    tag: frame.tag,
    senderId: frame.senderId,
    body: Array.from(frame.body),
  };
}

/**
 * Feed `chunks` to a fresh reader, checking after every `next()` that at most
 * one partial frame is buffered, and return the decoded frames (bodies copied
 * at once, so a chunk may be reused by the caller).
 */
function decodeChunks(chunks: Iterable<Uint8Array>): Plain[] {
  const reader = new FrameReader();
  const frames: Plain[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let frame = reader.next(); frame !== null; frame = reader.next()) {
      frames.push(plain(frame));
      assert.ok(reader.bufferedBytes < MAX_FRAME_SIZE);
    }
    assert.ok(
      reader.bufferedBytes < MAX_FRAME_SIZE,
      `bufferedBytes ${reader.bufferedBytes}`,
    );
  }
  assert.equal(reader.bufferedBytes, 0, "a partial frame was left over");
  return frames;
}

const LARGE_VALUES = [
  0,
  1,
  255,
  256,
  0xffff_ffff,
  0x1_0000_0000,
  0x1_0000_0001,
  2 ** 40 + 12345,
  2 ** 52,
  Number.MAX_SAFE_INTEGER,
];

// --- Header helpers ------------------------------------------------------

Deno.test("header: writeHeader/read* round-trip every field, large u64 values included, big-endian", () => {
  for (const length of [0, 1, MAX_BODY_SIZE, 0xffff_ffff, 2 ** 52]) {
    for (const tag of LARGE_VALUES) {
      for (const sender of LARGE_VALUES) {
        const bytes = new Uint8Array(HEADER_SIZE + 8).fill(0xaa);
        writeHeader(bytes, 4, length, tag, sender);
        assert.equal(readBodyLength(bytes, 4), length);
        assert.equal(readTag(bytes, 4), tag);
        assert.equal(readSenderId(bytes, 4), sender);
        // Exactly the bytes an independent big-endian encoder writes.
        assert.deepEqual(
          bytes.subarray(4, 4 + HEADER_SIZE),
          rawHeader(BigInt(length), BigInt(tag), BigInt(sender)),
        );
        // Nothing written outside the header.
        assert.deepEqual(Array.from(bytes.subarray(0, 4)), [
          0xaa,
          0xaa,
          0xaa,
          0xaa,
        ]);
        assert.deepEqual(Array.from(bytes.subarray(4 + HEADER_SIZE)), [
          0xaa,
          0xaa,
          0xaa,
          0xaa,
        ]);
      }
    }
  }
});

Deno.test("header: read* decode headers built independently (high 32 bits included)", () => {
  const header = rawHeader(
    0x0102_0304_0506n,
    0x00ff_00ff_00ffn,
    2n ** 53n - 1n,
  );
  assert.equal(readBodyLength(header, 0), 0x0102_0304_0506);
  assert.equal(readTag(header, 0), 0x00ff_00ff_00ff);
  assert.equal(readSenderId(header, 0), Number.MAX_SAFE_INTEGER);
  // The top byte of each field is the most significant one.
  const top = rawHeader(1n << 48n, 1n << 40n, 1n << 32n);
  assert.equal(readBodyLength(top, 0), 2 ** 48);
  assert.equal(readTag(top, 0), 2 ** 40);
  assert.equal(readSenderId(top, 0), 2 ** 32);
});

Deno.test("header: writeSenderId overwrites only the sender id field", () => {
  for (const sender of LARGE_VALUES) {
    const frame = encodeFrame(Tag.CHAT, 0xdead_beef_cafe, "hello");
    const before = frame.slice();
    writeSenderId(frame, 0, sender);
    assert.equal(readSenderId(frame, 0), sender);
    assert.equal(readTag(frame, 0), Tag.CHAT);
    assert.equal(readBodyLength(frame, 0), 5);
    assert.deepEqual(frame.subarray(0, 16), before.subarray(0, 16));
    assert.deepEqual(frame.subarray(HEADER_SIZE), before.subarray(HEADER_SIZE));
  }
  // At an offset inside a larger buffer.
  const two = concat(encodeFrame(1, 1, "a"), encodeFrame(1, 2, "b"));
  writeSenderId(two, HEADER_SIZE + 1, 77);
  assert.equal(readSenderId(two, 0), 1);
  assert.equal(readSenderId(two, HEADER_SIZE + 1), 77);
});

Deno.test("constants and tagName", () => {
  assert.equal(HEADER_SIZE, 24);
  assert.equal(MAX_FRAME_SIZE, 512);
  assert.equal(MAX_BODY_SIZE, 488);
  assert.deepEqual(
    [Tag.ISSUE_ID, Tag.CHAT, Tag.CLOSE, Tag.ERROR],
    [0, 1, 2, 3],
  );
  assert.equal(tagName(0), "ISSUE_ID");
  assert.equal(tagName(1), "CHAT");
  assert.equal(tagName(2), "CLOSE");
  assert.equal(tagName(3), "ERROR");
  assert.equal(tagName(77), undefined);
});

// --- encodeFrame ----------------------------------------------------------

Deno.test("encodeFrame: round-trips through FrameReader with every field", () => {
  for (const tag of LARGE_VALUES) {
    for (const sender of LARGE_VALUES) {
      const body = new Uint8Array(tag % 489).map((_, i) => (i * 7 + 3) & 0xff);
      const bytes = encodeFrame(tag, sender, body);
      assert.equal(bytes.length, HEADER_SIZE + body.length);
      assert.deepEqual(
        bytes.subarray(0, HEADER_SIZE),
        rawHeader(BigInt(body.length), BigInt(tag), BigInt(sender)),
      );
      assert.deepEqual(decodeChunks([bytes]), [{
        tag,
        senderId: sender,
        body: Array.from(body),
      }]);
    }
  }
});

Deno.test("encodeFrame: string bodies are UTF-8, default body is empty", () => {
  const frame = encodeFrame(Tag.CHAT, 5, "héllo ✓ 🎉");
  const expected = new TextEncoder().encode("héllo ✓ 🎉");
  assert.equal(readBodyLength(frame, 0), expected.length);
  assert.deepEqual(frame.subarray(HEADER_SIZE), expected);
  const empty = encodeFrame(Tag.CLOSE, 3);
  assert.equal(empty.length, HEADER_SIZE);
  assert.equal(readBodyLength(empty, 0), 0);
  assert.equal(readTag(empty, 0), Tag.CLOSE);
  assert.equal(readSenderId(empty, 0), 3);
});

Deno.test("encodeFrame: a 488-byte body is accepted, 489 bytes throw FrameTooLargeError", () => {
  const ok = encodeFrame(Tag.CHAT, 1, new Uint8Array(MAX_BODY_SIZE).fill(9));
  assert.equal(ok.length, MAX_FRAME_SIZE);
  assert.equal(readBodyLength(ok, 0), MAX_BODY_SIZE);

  assert.throws(
    () => encodeFrame(Tag.CHAT, 1, new Uint8Array(MAX_BODY_SIZE + 1)),
    (error: unknown) => {
      assert.ok(error instanceof FrameTooLargeError);
      assert.ok(error instanceof RangeError);
      assert.equal(error.name, "FrameTooLargeError");
      assert.equal(error.frameSize, MAX_FRAME_SIZE + 1);
      assert.match(error.message, /513/);
      assert.match(error.message, /512/);
      return true;
    },
  );
  // Counted in bytes, not characters: 163 three-byte characters = 489 bytes.
  assert.equal(
    encodeFrame(Tag.CHAT, 1, "✓".repeat(162) + "ab").length,
    MAX_FRAME_SIZE,
  );
  assert.throws(
    () => encodeFrame(Tag.CHAT, 1, "✓".repeat(163)),
    FrameTooLargeError,
  );
});

// --- completeFramesEnd / checkFrameSize -------------------------------------

Deno.test("completeFramesEnd: edge cases", () => {
  const a = encodeFrame(Tag.CHAT, 1, "abc"); // 27 bytes
  const b = encodeFrame(Tag.CLOSE, 2); // 24 bytes
  const full = encodeFrame(Tag.CHAT, 3, new Uint8Array(MAX_BODY_SIZE)); // 512
  const bytes = concat(a, b, full);
  const total = bytes.length;

  assert.equal(completeFramesEnd(new Uint8Array(0), 0, 0), 0);
  assert.equal(completeFramesEnd(bytes, 0, 0), 0);
  assert.equal(completeFramesEnd(bytes, 0, HEADER_SIZE - 1), 0);
  assert.equal(completeFramesEnd(bytes, 0, HEADER_SIZE), 0); // header, no body
  assert.equal(completeFramesEnd(bytes, 0, a.length - 1), 0);
  assert.equal(completeFramesEnd(bytes, 0, a.length), a.length);
  // An empty-bodied frame is complete as soon as its header is.
  assert.equal(completeFramesEnd(bytes, 0, a.length + b.length), 27 + 24);
  assert.equal(completeFramesEnd(bytes, 0, total - 1), 27 + 24);
  assert.equal(completeFramesEnd(bytes, 0, total), total);
  // A non-zero start.
  assert.equal(completeFramesEnd(bytes, a.length, total), total);
  assert.equal(completeFramesEnd(bytes, a.length, a.length + 10), a.length);
  // Bytes past `end` are not looked at.
  const longer = concat(bytes, encodeFrame(1, 1, "zz"));
  assert.equal(completeFramesEnd(longer, 0, total), total);
  assert.equal(completeFramesEnd(longer, 0, longer.length), longer.length);
  // An empty-bodied frame alone.
  assert.equal(completeFramesEnd(new Uint8Array(HEADER_SIZE), 0, 24), 24);
  assert.equal(completeFramesEnd(new Uint8Array(30), 0, 30), 24);
});

Deno.test("completeFramesEnd: stops at an oversized header, which checkFrameSize then rejects", () => {
  const good = encodeFrame(Tag.CHAT, 1, "hi");
  const bad = rawHeader(BigInt(MAX_BODY_SIZE + 1), 1n, 0n);
  // Enough bytes after the bad header that it would look "complete".
  const bytes = concat(good, bad, new Uint8Array(600));
  const end = completeFramesEnd(bytes, 0, bytes.length);
  assert.equal(end, good.length);
  assert.throws(() => checkFrameSize(bytes, end, bytes.length), (error) => {
    assert.ok(error instanceof FrameTooLargeError);
    assert.equal(error.frameSize, MAX_FRAME_SIZE + 1);
    return true;
  });
  // A huge announced length (beyond 32 bits) is rejected too, not wrapped.
  const huge = concat(rawHeader(2n ** 40n, 1n, 0n), new Uint8Array(100));
  assert.equal(completeFramesEnd(huge, 0, huge.length), 0);
  assert.throws(() => checkFrameSize(huge, 0, huge.length), (error) => {
    assert.ok(error instanceof FrameTooLargeError);
    assert.equal(error.frameSize, 2 ** 40 + HEADER_SIZE);
    return true;
  });
  // 2^32 + 1 would read as 1 if only the low half were looked at.
  const wraps = concat(rawHeader(2n ** 32n + 1n, 1n, 0n), new Uint8Array(1));
  assert.equal(completeFramesEnd(wraps, 0, wraps.length), 0);
  assert.throws(
    () => checkFrameSize(wraps, 0, wraps.length),
    FrameTooLargeError,
  );
});

Deno.test("checkFrameSize: edge cases", () => {
  const ones = new Uint8Array(HEADER_SIZE).fill(0xff);
  // An incomplete header passes whatever its bytes so far.
  for (let end = 0; end < HEADER_SIZE; end++) {
    checkFrameSize(ones, 0, end);
  }
  assert.throws(() => checkFrameSize(ones, 0, HEADER_SIZE), FrameTooLargeError);
  // Exactly 512 bytes passes; 513 does not.
  checkFrameSize(rawHeader(BigInt(MAX_BODY_SIZE), 1n, 0n), 0, HEADER_SIZE);
  checkFrameSize(rawHeader(0n, 1n, 0n), 0, HEADER_SIZE);
  assert.throws(
    () => checkFrameSize(rawHeader(BigInt(MAX_BODY_SIZE + 1), 1n, 0n), 0, 24),
    FrameTooLargeError,
  );
  // Only the length field matters: huge tag and sender id are fine.
  checkFrameSize(rawHeader(0n, 2n ** 63n, 2n ** 64n - 1n), 0, HEADER_SIZE);
  // At an offset, with the incomplete-header rule relative to it.
  const bytes = concat(
    new Uint8Array(10),
    rawHeader(BigInt(MAX_BODY_SIZE + 1), 1n, 0n),
  );
  checkFrameSize(bytes, 10, 10 + HEADER_SIZE - 1);
  assert.throws(
    () => checkFrameSize(bytes, 10, 10 + HEADER_SIZE),
    FrameTooLargeError,
  );
});

Deno.test("FrameTooLargeError: the message gives the exact announced size, even past 2^53", () => {
  const cases: [bigint, string][] = [
    [BigInt(MAX_BODY_SIZE + 1), "513"],
    [2n ** 53n + 1n, "9007199254741017"], // 2^53 + 1 + 24
    [2n ** 64n - 1n, "18446744073709551639"], // 2^64 - 1 + 24
  ];
  for (const [bodyLength, size] of cases) {
    const expected = `Frame of ${size} bytes exceeds the 512-byte limit`;
    const header = rawHeader(bodyLength, 1n, 0n);
    assert.throws(() => checkFrameSize(header, 0, HEADER_SIZE), (error) => {
      assert.ok(error instanceof FrameTooLargeError);
      assert.equal(error.message, expected);
      return true;
    });
    // The client-side reader reports the same, the header whole or split.
    for (const cut of [HEADER_SIZE, 5]) {
      const reader = new FrameReader();
      reader.push(header.subarray(0, cut));
      assert.throws(() => {
        reader.next();
        reader.push(header.subarray(cut));
        reader.next();
      }, { message: expected });
    }
  }
});

// --- FrameReader -------------------------------------------------------------

function sampleFrames(): Uint8Array[] {
  return [
    encodeFrame(Tag.ISSUE_ID, 1),
    encodeFrame(Tag.CHAT, 2, "hello"),
    encodeFrame(Tag.CHAT, Number.MAX_SAFE_INTEGER, new Uint8Array(0)),
    encodeFrame(77, 2 ** 40, new Uint8Array(MAX_BODY_SIZE).map((_, i) => i)),
    encodeFrame(Tag.CLOSE, 3, "bye"),
  ];
}

function expected(frames: Uint8Array[]): Plain[] {
  return frames.map((bytes) => ({
    tag: readTag(bytes, 0),
    senderId: readSenderId(bytes, 0),
    body: Array.from(bytes.subarray(HEADER_SIZE)),
  }));
}

Deno.test("FrameReader: a lone frame is returned, then null", () => {
  const reader = new FrameReader();
  assert.equal(reader.next(), null); // nothing pushed yet
  reader.push(encodeFrame(Tag.CHAT, 7, "hi"));
  assert.deepEqual(plain(reader.next()!), {
    tag: Tag.CHAT,
    senderId: 7,
    body: [0x68, 0x69],
  });
  assert.equal(reader.next(), null);
  assert.equal(reader.bufferedBytes, 0);
  reader.push(new Uint8Array(0)); // an empty chunk is harmless
  assert.equal(reader.next(), null);
  assert.equal(reader.bufferedBytes, 0);
});

Deno.test("FrameReader: every frame split at every byte position", () => {
  for (const bytes of sampleFrames()) {
    for (let cut = 0; cut <= bytes.length; cut++) {
      const frames = decodeChunks([
        bytes.subarray(0, cut),
        bytes.subarray(cut),
      ]);
      assert.deepEqual(frames, expected([bytes]), `cut at ${cut}`);
    }
  }
});

Deno.test("FrameReader: two frames, each cut point of the pair, both orders of sizes", () => {
  const pair = sampleFrames().slice(2, 4); // empty body, then 488 bytes
  for (const frames of [pair, [...pair].reverse()]) {
    const bytes = concat(...frames);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const reader = new FrameReader();
      const out: Plain[] = [];
      const drain = () => {
        for (let f = reader.next(); f !== null; f = reader.next()) {
          out.push(plain(f));
        }
      };
      reader.push(bytes.subarray(0, cut));
      drain();
      // Only the start of the frame the cut falls in is held back.
      const firstEnd = frames[0].length;
      const held = cut < firstEnd
        ? cut
        : cut === bytes.length
        ? 0
        : cut - firstEnd;
      assert.equal(reader.bufferedBytes, held, `cut at ${cut}`);
      reader.push(bytes.subarray(cut));
      drain();
      assert.deepEqual(out, expected(frames), `cut at ${cut}`);
      assert.equal(reader.bufferedBytes, 0);
    }
  }
});

Deno.test("FrameReader: byte-by-byte feeding", () => {
  const frames = sampleFrames();
  const bytes = concat(...frames);
  const reader = new FrameReader();
  const out: Plain[] = [];
  const boundaries = new Set<number>();
  let end = 0;
  for (const frame of frames) boundaries.add(end += frame.length);
  for (let i = 0; i < bytes.length; i++) {
    reader.push(bytes.subarray(i, i + 1));
    const frame = reader.next();
    if (boundaries.has(i + 1)) {
      assert.notEqual(frame, null, `frame should complete at byte ${i + 1}`);
      out.push(plain(frame!));
      assert.equal(reader.bufferedBytes, 0);
    } else {
      assert.equal(frame, null, `no frame should complete at byte ${i + 1}`);
      assert.ok(reader.bufferedBytes > 0);
      assert.ok(reader.bufferedBytes < MAX_FRAME_SIZE);
    }
    assert.equal(reader.next(), null);
  }
  assert.deepEqual(out, expected(frames));
});

Deno.test("FrameReader: several frames in one chunk, and a chunk ending mid-frame", () => {
  const frames = sampleFrames();
  const bytes = concat(...frames);
  assert.deepEqual(decodeChunks([bytes]), expected(frames));

  const reader = new FrameReader();
  const cut = bytes.length - 10;
  reader.push(bytes.subarray(0, cut));
  const out: Plain[] = [];
  for (let f = reader.next(); f !== null; f = reader.next()) out.push(plain(f));
  assert.deepEqual(out, expected(frames.slice(0, 4)));
  assert.equal(reader.bufferedBytes, frames[4].length - 10);
  reader.push(bytes.subarray(cut));
  out.push(plain(reader.next()!));
  assert.equal(reader.next(), null);
  assert.deepEqual(out, expected(frames));
});

Deno.test("FrameReader: frames inside a chunk are views, reassembled frames are copies", () => {
  const bytes = concat(encodeFrame(1, 1, "abc"), encodeFrame(1, 2, "xyz"));
  const reader = new FrameReader();
  reader.push(bytes.subarray(0, 30));
  const whole = reader.next()!;
  assert.equal(whole.body.buffer, bytes.buffer); // no copy
  assert.equal(reader.next(), null);
  reader.push(bytes.subarray(30));
  const split = reader.next()!;
  assert.notEqual(split.body.buffer, bytes.buffer);
  bytes.fill(0); // the caller reuses its memory: the copy is unaffected
  assert.equal(new TextDecoder().decode(split.body), "xyz");
});

Deno.test("FrameReader: push before the previous chunk is read to the end throws", () => {
  const reader = new FrameReader();
  reader.push(concat(encodeFrame(1, 1, "a"), encodeFrame(1, 1, "b")));
  assert.notEqual(reader.next(), null);
  assert.throws(() => reader.push(encodeFrame(1, 1, "c")), /not read/);
});

Deno.test("FrameReader: an oversized header throws FrameTooLargeError, whole or split", () => {
  const cases: [string, Uint8Array][] = [
    ["513-byte frame", rawHeader(BigInt(MAX_BODY_SIZE + 1), 1n, 0n)],
    ["2^32+1 body", rawHeader(2n ** 32n + 1n, 1n, 0n)],
    ["all ones", new Uint8Array(HEADER_SIZE).fill(0xff)],
  ];
  for (const [name, header] of cases) {
    const stream = concat(encodeFrame(1, 1, "ok"), header, new Uint8Array(8));
    const start = HEADER_SIZE + 2;
    for (let cut = 0; cut <= stream.length; cut++) {
      const reader = new FrameReader();
      const got: Plain[] = [];
      let thrown: unknown = null;
      try {
        for (const chunk of [stream.subarray(0, cut), stream.subarray(cut)]) {
          reader.push(chunk);
          for (let f = reader.next(); f !== null; f = reader.next()) {
            got.push(plain(f));
          }
          // Never holds more than the start of one frame.
          assert.ok(reader.bufferedBytes < MAX_FRAME_SIZE);
        }
      } catch (error) {
        thrown = error;
      }
      assert.ok(
        thrown instanceof FrameTooLargeError,
        `${name}, cut at ${cut}: ${thrown}`,
      );
      assert.deepEqual(got.length, 1, `${name}, cut at ${cut}`);
      // It throws as soon as the bad header is whole, not later.
      if (cut >= start + HEADER_SIZE) {
        assert.ok(reader.bufferedBytes < HEADER_SIZE + 1);
      }
    }
  }
});

Deno.test("FrameReader: a 512-byte frame passes; a header announcing 513 throws before its body", () => {
  const max = encodeFrame(1, 1, new Uint8Array(MAX_BODY_SIZE).fill(1));
  assert.equal(decodeChunks([max])[0].body.length, MAX_BODY_SIZE);
  const reader = new FrameReader();
  reader.push(rawHeader(BigInt(MAX_BODY_SIZE + 1), 1n, 0n));
  assert.throws(() => reader.next(), (error) => {
    assert.ok(error instanceof FrameTooLargeError);
    assert.equal(error.frameSize, 513);
    return true;
  });
});

// --- Property tests ----------------------------------------------------------

const frameArbitrary = fc.record({
  tag: fc.oneof(
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  ),
  senderId: fc.oneof(
    fc.integer({ min: 0, max: 100 }),
    fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  ),
  body: fc.oneof(
    fc.uint8Array({ maxLength: 16 }),
    fc.uint8Array({ minLength: MAX_BODY_SIZE - 8, maxLength: MAX_BODY_SIZE }),
    fc.uint8Array({ maxLength: MAX_BODY_SIZE }),
  ),
});

const streamArbitrary = fc.array(frameArbitrary, { maxLength: 30 }).chain((
  frames,
) => {
  const bytes = concat(
    ...frames.map((f) => encodeFrame(f.tag, f.senderId, f.body)),
  );
  return fc.record({
    frames: fc.constant(frames),
    bytes: fc.constant(bytes),
    cuts: fc.uniqueArray(fc.integer({ min: 0, max: bytes.length }), {
      maxLength: 60,
    }),
  });
});

function cutAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...cuts].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

Deno.test("FrameReader property: random frame sequences cut at random points decode to the same frames", () => {
  fc.assert(
    fc.property(streamArbitrary, ({ frames, bytes, cuts }) => {
      const decoded = decodeChunks(cutAt(bytes, cuts));
      assert.deepEqual(
        decoded,
        frames.map((f) => ({
          tag: f.tag,
          senderId: f.senderId,
          body: Array.from(f.body),
        })),
      );
    }),
    { numRuns: 300 },
  );
});

Deno.test("FrameReader property: chunks copied into one reused buffer (like a socket read loop) still decode", () => {
  fc.assert(
    fc.property(streamArbitrary, ({ frames, bytes, cuts }) => {
      const scratch = new Uint8Array(bytes.length + 1);
      const reused = function* () {
        for (const chunk of cutAt(bytes, cuts)) {
          scratch.fill(0xee);
          scratch.set(chunk);
          yield scratch.subarray(0, chunk.length);
        }
      };
      assert.deepEqual(
        decodeChunks(reused()),
        frames.map((f) => ({
          tag: f.tag,
          senderId: f.senderId,
          body: Array.from(f.body),
        })),
      );
    }),
    { numRuns: 200 },
  );
});

Deno.test("completeFramesEnd property: agrees with FrameReader on every prefix", () => {
  fc.assert(
    fc.property(streamArbitrary, ({ frames, bytes, cuts }) => {
      const ends: number[] = [0];
      for (const f of frames) {
        ends.push(ends[ends.length - 1] + HEADER_SIZE + f.body.length);
      }
      for (const cut of [...cuts, bytes.length]) {
        const expectedEnd = ends.filter((e) => e <= cut).pop()!;
        assert.equal(completeFramesEnd(bytes, 0, cut), expectedEnd);
        // Whatever is left is under one frame and never throws.
        assert.ok(cut - expectedEnd < MAX_FRAME_SIZE);
        checkFrameSize(bytes, expectedEnd, cut);
      }
    }),
    { numRuns: 200 },
  );
});
