/**
 * The history bodies of protocol/history.ts: the server's request parser
 * (every refusal reason, and that no byte sequence makes it throw), and
 * encode/decode round trips of requests, entries and end markers, by
 * example and as fast-check properties.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeHistoryEnd,
  decodeHistoryEntry,
  encodeHistoryEnd,
  encodeHistoryEntry,
  encodeHistoryRequest,
  type HistoryEnd,
  type HistoryEntry,
  type HistoryRequest,
  MAX_BODY_SIZE,
  MAX_NICKNAME_BYTES,
  MAX_ROOM_NAME_BYTES,
  nicknameProblem,
  parseHistoryRequest,
  roomNameProblem,
  Tag,
  tagName,
} from "../protocol/mod.ts";

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

function problemOf(text: string): string {
  const parsed = parseHistoryRequest(bytes(text));
  assert.ok("problem" in parsed, `${text} should be refused`);
  return parsed.problem;
}

Deno.test("Protocol: history tags are 12, 13 and 14", () => {
  assert.equal(Tag.HISTORY, 12);
  assert.equal(Tag.HISTORY_TEXT, 13);
  assert.equal(Tag.HISTORY_END, 14);
  assert.equal(tagName(13), "HISTORY_TEXT");
});

Deno.test("Protocol: a history request of last or after, with or without until, parses", () => {
  assert.deepEqual(parseHistoryRequest(bytes('{"last":20}')), {
    request: { last: 20 },
  });
  assert.deepEqual(parseHistoryRequest(bytes('{"last":20,"until":7}')), {
    request: { last: 20, until: 7 },
  });
  assert.deepEqual(parseHistoryRequest(bytes('{"after":0,"until":0}')), {
    request: { after: 0, until: 0 },
  });
  assert.deepEqual(
    parseHistoryRequest(bytes('{"after":40,"future":"ignored"}')),
    { request: { after: 40 } },
  );
});

Deno.test("Protocol: a history request is refused with a reason for each fault", () => {
  assert.match(problemOf(""), /not a JSON object/);
  assert.match(problemOf("{"), /not a JSON object/);
  assert.match(problemOf("[1]"), /not a JSON object/);
  assert.match(problemOf("null"), /not a JSON object/);
  assert.match(problemOf("20"), /not a JSON object/);
  assert.match(problemOf("{}"), /exactly one of/);
  assert.match(problemOf('{"last":1,"after":2}'), /exactly one of/);
  assert.match(problemOf('{"until":2}'), /exactly one of/);
  assert.match(problemOf('{"last":1.5}'), /"last" is not an integer/);
  assert.match(problemOf('{"last":"20"}'), /"last" is not an integer/);
  assert.match(problemOf('{"last":null}'), /"last" is not an integer/);
  assert.match(problemOf('{"after":-1}'), /"after" is negative/);
  assert.match(problemOf('{"after":1e300}'), /"after" is too large/);
  assert.match(
    problemOf('{"after":9007199254740992}'),
    /"after" is too large/,
  );
  assert.match(problemOf('{"last":3,"until":-2}'), /"until" is negative/);
  assert.match(problemOf('{"last":3,"until":true}'), /"until" is not/);
  // Not UTF-8: refused as not JSON, not decoded with replacement characters.
  const invalid = new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]);
  assert.ok("problem" in parseHistoryRequest(invalid));
});

Deno.test("Protocol: the history request parser never throws on arbitrary bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: MAX_BODY_SIZE }), (body) => {
      const parsed = parseHistoryRequest(body);
      assert.ok("request" in parsed || "problem" in parsed);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.json(), (text) => {
      const parsed = parseHistoryRequest(bytes(text));
      assert.ok("request" in parsed || typeof parsed.problem === "string");
    }),
    { numRuns: 2000 },
  );
});

const count = fc.maxSafeNat();

const request: fc.Arbitrary<HistoryRequest> = fc.oneof(
  fc.record({ last: count, until: count }, { requiredKeys: ["last"] }),
  fc.record({ after: count, until: count }, { requiredKeys: ["after"] }),
);

Deno.test("Protocol: encoded history requests parse back to themselves", () => {
  fc.assert(
    fc.property(request, (value) => {
      assert.deepEqual(parseHistoryRequest(encodeHistoryRequest(value)), {
        request: value,
      });
    }),
    { numRuns: 1000 },
  );
});

// Names as the server accepts them (no controls, which JSON would escape
// to six bytes each); quotes and backslashes, escaped to two, are in.
function names(maxBytes: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ minLength: 1, maxLength: maxBytes }),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: maxBytes }),
    fc.constantFrom('"', "\\").chain((c) =>
      fc.integer({ min: 1, max: maxBytes }).map((n) => c.repeat(n))
    ),
  );
}
const roomName = names(MAX_ROOM_NAME_BYTES)
  .filter((room) => roomNameProblem(room) === null);
const nickname = names(MAX_NICKNAME_BYTES)
  .filter((nick) => nicknameProblem(nick) === null);

const entry: fc.Arbitrary<HistoryEntry> = fc.record({
  room: roomName,
  id: count,
  sender: count,
  nick: fc.option(nickname, { nil: null }),
  time: count,
});

const end: fc.Arbitrary<HistoryEnd> = fc.record({
  room: roomName,
  count: count,
  first: fc.option(count, { nil: null }),
  last: fc.option(count, { nil: null }),
  complete: fc.boolean(),
  missing: count,
  more: fc.boolean(),
});

Deno.test("Protocol: history entries round-trip and fit in one frame", () => {
  fc.assert(
    fc.property(entry, (value) => {
      const body = encodeHistoryEntry(value);
      assert.ok(body.length <= MAX_BODY_SIZE);
      assert.deepEqual(decodeHistoryEntry(body), value);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("Protocol: history end markers round-trip and fit in one frame", () => {
  fc.assert(
    fc.property(end, (value) => {
      const body = encodeHistoryEnd(value);
      assert.ok(body.length <= MAX_BODY_SIZE);
      assert.deepEqual(decodeHistoryEnd(body), value);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("Protocol: malformed history entries and end markers decode to null, never throw", () => {
  assert.equal(decodeHistoryEntry(bytes('{"room":"a","id":1}')), null);
  assert.equal(
    decodeHistoryEntry(
      bytes('{"room":"a","id":1,"sender":2,"nick":5,"time":3}'),
    ),
    null,
  );
  assert.equal(
    decodeHistoryEnd(bytes('{"room":"a","count":0,"first":null}')),
    null,
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: MAX_BODY_SIZE }), (body) => {
      decodeHistoryEntry(body);
      decodeHistoryEnd(body);
    }),
    { numRuns: 1000 },
  );
});
