/**
 * Unit tests of the name rules in protocol/names.ts and the nickname
 * uniqueness key in protocol/name_key.ts: invisible, bidi-control and format
 * characters are refused, names are compared in NFC, and lookalikes
 * (Cyrillic or Greek letters, full-width forms, letter case) share one key.
 */

import assert from "node:assert/strict";
import {
  nicknameKey,
  nicknameProblem,
  normalizeName,
  roomNameProblem,
} from "../protocol/mod.ts";

/** Invisible or direction-changing characters, each inside a plain name. */
const INVISIBLE_CASES: [string, string][] = [
  ["zero width space", "alice\u200b"],
  ["soft hyphen", "ali\u00adce"],
  ["right-to-left override", "\u202eecila"],
  ["word joiner", "bob\u2060"],
  ["zero width joiner", "bo\u200db"],
  ["zero width non-joiner", "bo\u200cb"],
  ["left-to-right mark", "bob\u200e"],
  ["right-to-left isolate", "\u2067bob"],
  ["byte order mark", "\ufeffbob"],
  ["combining grapheme joiner", "bo\u034fb"],
  ["Hangul filler", "\u3164"],
  ["Braille blank", "bob\u2800"],
  ["tag character", "bob\u{e0041}"],
  ["variation selector on a letter", "bob\ufe0f"],
  ["private use", "bob\ue000"],
  ["unassigned", "bob\u{2fffe}"],
  ["interlinear annotation", "bob\ufff9"],
];

Deno.test("nicknameProblem: invisible, bidi-control and format characters are refused", () => {
  for (const [what, name] of INVISIBLE_CASES) {
    assert.match(
      nicknameProblem(name) ?? "accepted",
      /invisible|control|whitespace/,
      what,
    );
  }
});

Deno.test("nicknameProblem: an id lookalike is all digits once folded (3\\u200b, full-width and other scripts' digits)", () => {
  assert.notEqual(nicknameProblem("3\u200b"), null);
  for (
    const digits of [
      "\uff13",
      "\uff11\uff12\uff13",
      "\u0663",
      "\u00b3",
      "\u2083",
    ]
  ) {
    assert.match(nicknameProblem(digits) ?? "accepted", /digits/, digits);
  }
  // Digits beside a letter are still a name.
  assert.equal(nicknameProblem("r2d2"), null);
  assert.equal(nicknameProblem("\uff52\uff12"), null); // full-width r2
});

Deno.test("nicknameProblem: ordinary names in any script, and emoji with a presentation selector, pass", () => {
  for (
    const name of [
      "alice",
      "Zoë",
      "José",
      "\u0430\u043b\u0438\u0441\u0430",
      "\u03b1\u03bb\u03af\u03ba\u03b7",
      "李小龍",
      "\u2615\ufe0f",
      "\u{1f600}bob",
      "\u0627\u0644\u064a\u0633",
    ]
  ) {
    assert.equal(nicknameProblem(name), null, name);
  }
});

Deno.test("nicknameProblem: the length is measured on the NFC form the server stores", () => {
  // 16 decomposed é are 48 bytes, 32 once composed: accepted.
  assert.equal(nicknameProblem("e\u0301".repeat(16)), null);
});

Deno.test("roomNameProblem: U+2028, U+2029 and invisible characters are refused; spaces pass", () => {
  for (
    const name of [
      "a\u2028b",
      "a\u2029b",
      "lobby\u200b",
      "\u202elobby",
      "lob\u00adby",
      "lobby\u2060",
    ]
  ) {
    assert.match(
      roomNameProblem(name) ?? "accepted",
      /invisible|control/,
      JSON.stringify(name),
    );
  }
  for (const name of ["Room With Spaces", "caf\u00e9", "\u2615\ufe0f corner"]) {
    assert.equal(roomNameProblem(name), null, name);
  }
});

Deno.test("normalizeName: composes to NFC, so decomposed and composed José are one name", () => {
  assert.equal(normalizeName("Jose\u0301"), "Jos\u00e9");
  assert.equal(normalizeName("Jos\u00e9"), "Jos\u00e9");
  assert.equal(normalizeName("alice"), "alice");
});

Deno.test("nicknameKey: lookalikes share the key of the name they imitate", () => {
  const alice = nicknameKey("alice");
  for (
    const lookalike of [
      "ALICE", // letter case
      "\u0430lice", // Cyrillic а
      "\u0430l\u0456\u0441\u0435", // Cyrillic а, і, с, е
      "\u03b1lice", // Greek alpha
      "\uff41\uff4c\uff49\uff43\uff45", // full-width
      "\uff21\uff2c\uff29\uff23\uff25", // full-width capitals
      "a\u217cice", // small roman numeral fifty
      "\u{1d41a}lice", // mathematical bold a
    ]
  ) {
    assert.equal(nicknameKey(lookalike), alice, JSON.stringify(lookalike));
  }
  assert.equal(nicknameKey("Jose\u0301"), nicknameKey("Jos\u00e9"));
  assert.equal(
    nicknameKey("\u0440\u0430\u0443\u0440\u0430\u0441"),
    nicknameKey("paypac"),
  );
  assert.equal(nicknameKey("STRASSE"), nicknameKey("stra\u00dfe"));
  assert.equal(nicknameKey("\u2615\ufe0f"), nicknameKey("\u2615"));
  // Different names keep different keys.
  for (const other of ["alicia", "bob", "allce", "Jose", "caro1"]) {
    assert.notEqual(nicknameKey(other), alice, other);
  }
  assert.notEqual(nicknameKey("Jose"), nicknameKey("Jos\u00e9"));
});
