/**
 * Unit tests of `inertText` (client/terminal_text.ts): untrusted text is
 * shown, never obeyed, by a terminal or a browser.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { inertText, isInert } from "../client/terminal_text.ts";

Deno.test("inertText: escape sequences show their ESC as ␛ and their rest as text", () => {
  assert.equal(inertText("\x1b[2A"), "␛[2A");
  assert.equal(inertText("\x1b[31mred\x1b[0m"), "␛[31mred␛[0m");
  // OSC 52 clipboard write and OSC 0 window title, BEL- and ST-terminated.
  assert.equal(inertText("\x1b]52;c;aGk=\x07"), "␛]52;c;aGk=␇");
  assert.equal(inertText("\x1b]0;pwned\x1b\\"), "␛]0;pwned␛\\");
});

Deno.test("inertText: CR and LF cannot forge a line; the result is one line", () => {
  const forged = inertText("ok\r\nzed >>> I agree\rx\ny");
  assert.equal(forged, "ok␍␊zed >>> I agree␍x␊y");
  assert.doesNotMatch(forged, /[\r\n]/);
});

Deno.test("inertText: every C0 control becomes its Control Picture, DEL becomes ␡", () => {
  for (let code = 0; code < 0x20; code++) {
    assert.equal(
      inertText(String.fromCharCode(code)),
      String.fromCharCode(0x2400 + code),
    );
  }
  assert.equal(inertText("\t"), "␉");
  assert.equal(inertText("\x00"), "␀");
  assert.equal(inertText("\x7f"), "␡");
});

Deno.test("inertText: C1 controls (one-byte CSI, OSC, NEL) show as <U+XXXX>", () => {
  assert.equal(inertText("\x9b2A"), "<U+009B>2A");
  assert.equal(inertText("\x9d52;c;x\x9c"), "<U+009D>52;c;x<U+009C>");
  assert.equal(inertText("a\x85b"), "a<U+0085>b");
  for (let code = 0x80; code <= 0x9f; code++) {
    assert.match(inertText(String.fromCharCode(code)), /^<U\+00[89A-F]/);
  }
});

Deno.test("inertText: bidi controls and line separators show as <U+XXXX>", () => {
  const bidi = [
    0x061c,
    0x200e,
    0x200f,
    0x202a,
    0x202b,
    0x202c,
    0x202d,
    0x202e,
    0x2066,
    0x2067,
    0x2068,
    0x2069,
    0x2028,
    0x2029,
  ];
  for (const code of bidi) {
    assert.equal(
      inertText(`a${String.fromCharCode(code)}b`),
      `a<U+${code.toString(16).toUpperCase().padStart(4, "0")}>b`,
    );
  }
  assert.equal(inertText("evil\u202Etxt.exe"), "evil<U+202E>txt.exe");
});

Deno.test("inertText: lone surrogates are shown, pairs kept", () => {
  assert.equal(inertText("a\ud800b"), "a<U+D800>b");
  assert.equal(inertText("a\udc00"), "a<U+DC00>");
  assert.equal(inertText("🎉"), "🎉");
});

Deno.test("inertText: ordinary text, accents, emoji and CJK are unchanged", () => {
  for (
    const s of ["hello", "héllo ✓ 🎉", "日本語", "e\u0301", "zed >>> hi", ""]
  ) {
    assert.equal(inertText(s), s);
    assert.equal(isInert(s), true);
  }
  assert.equal(isInert("a\x1b"), false);
  assert.equal(isInert("a\u202e"), false);
});

Deno.test("inertText: for any string, the result has no control or bidi character and is stable", () => {
  const active =
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
  fc.assert(
    fc.property(fc.fullUnicodeString(), fc.string(), (a, b) => {
      const shown = inertText(a + b);
      assert.doesNotMatch(shown, active);
      assert.equal(inertText(shown), shown);
      assert.equal(isInert(shown), true);
    }),
  );
});
