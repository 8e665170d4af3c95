/**
 * Unit tests of `LineEditor` (client/line_editor.ts) against a fake
 * terminal that obeys the few sequences the editor writes (CR, LF, erase
 * row, cursor forward), so the tests see the screen a person would.
 */

import assert from "node:assert/strict";
import { displayWidth, LineEditor } from "../client/line_editor.ts";
import { FakeTerminal } from "./_fake_terminal.ts";

function editor(columns = 80) {
  const terminal = new FakeTerminal();
  const lines = new LineEditor({
    write: terminal.write,
    columns: () => columns,
  });
  lines.show();
  return { terminal, lines };
}

Deno.test("LineEditor: what arrives is printed above the line being typed, which is redrawn intact", () => {
  const { terminal, lines } = editor();
  assert.deepEqual(lines.feed("hel"), []);
  lines.printAbove("zed >>> hello there");
  lines.feed("lo");
  lines.printAbove("amy >>> hi");
  assert.deepEqual(terminal.screen, [
    "zed >>> hello there",
    "amy >>> hi",
    "> hello",
  ]);
  assert.equal(terminal.column, 7, "cursor after the typed text");
});

Deno.test("LineEditor: Enter hands over the line and erases it, so it shows once (as the echo)", () => {
  const { terminal, lines } = editor();
  lines.feed("my line");
  assert.deepEqual(lines.feed("\r"), [{ kind: "line", text: "my line" }]);
  assert.deepEqual(terminal.screen, [">"]);
  lines.printAbove("me >>> my line");
  assert.deepEqual(terminal.screen, ["me >>> my line", ">"]);
  assert.equal(terminal.written.split("my line").length - 1, 2);
});

Deno.test("LineEditor: CR LF, LF and pasted lines each give one line", () => {
  const { lines } = editor();
  assert.deepEqual(lines.feed("one\r\ntwo\nthree\r"), [
    { kind: "line", text: "one" },
    { kind: "line", text: "two" },
    { kind: "line", text: "three" },
  ]);
  assert.deepEqual(lines.feed("\r"), [{ kind: "line", text: "" }]);
});

Deno.test("LineEditor: Backspace, Left/Right, Home/End, Delete and Ctrl-U/K/W edit", () => {
  const { terminal, lines } = editor();
  lines.feed("helo");
  lines.feed("\x1b[D"); // left
  lines.feed("l");
  assert.equal(lines.text, "hello");
  lines.feed("\x1b[F!"); // end
  lines.feed("\x7f"); // backspace
  lines.feed("\x1b[H\x1b[3~"); // home, delete
  assert.equal(lines.text, "ello");
  lines.feed("\x01J\x05"); // Ctrl-A, J, Ctrl-E
  assert.deepEqual([lines.text, lines.cursor], ["Jello", 5]);
  lines.feed(" world  wide");
  lines.feed("\x17"); // Ctrl-W: the word before
  assert.equal(lines.text, "Jello world  ");
  lines.feed("\x1b[D\x1b[D\x0b"); // two left, Ctrl-K
  assert.equal(lines.text, "Jello world");
  lines.feed("\x15"); // Ctrl-U
  assert.deepEqual([lines.text, lines.cursor], ["", 0]);
  lines.feed("ok\x1bOD\x1bOC"); // SS3 arrows
  assert.equal(lines.cursor, 2);
  assert.deepEqual(terminal.screen, ["> ok"]);
});

Deno.test("LineEditor: an escape sequence cut between reads is put together", () => {
  const { lines } = editor();
  lines.feed("ab\x1b");
  lines.feed("[");
  lines.feed("D");
  lines.feed("X");
  assert.equal(lines.text, "aXb");
  // Unknown sequences (F-keys, mouse) are swallowed whole.
  lines.feed("\x1b[15~\x1b[1;5A");
  assert.equal(lines.text, "aXb");
});

Deno.test("LineEditor: Ctrl-C interrupts; Ctrl-D ends only an empty line, else deletes", () => {
  const { lines } = editor();
  assert.deepEqual(lines.feed("\x03"), [{ kind: "interrupt" }]);
  lines.feed("ab\x1b[D");
  assert.deepEqual(lines.feed("\x04"), []);
  assert.equal(lines.text, "a");
  lines.feed("\x7f");
  assert.deepEqual(lines.feed("\x04"), [{ kind: "end" }]);
});

Deno.test("LineEditor: control and bidi characters are not inserted", () => {
  const { terminal, lines } = editor();
  lines.feed("a\x07b\u202ec\x00d\x9be");
  assert.equal(lines.text, "abcde");
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(terminal.written, /[\x07\u202e\x00\x9b]/);
});

Deno.test("LineEditor: a line wider than the terminal scrolls sideways and stays on one row", () => {
  const { terminal, lines } = editor(20);
  lines.feed("abcdefghijklmnopqrstuvwxyz");
  assert.equal(terminal.rows.length, 1);
  const row = terminal.screen[0];
  assert.ok(row.length <= 19, row);
  assert.ok(row.startsWith("> ") && row.endsWith("xyz"), row);
  assert.equal(terminal.column, row.length);
  lines.feed("\x01");
  assert.ok(terminal.screen[0].startsWith("> abc"), terminal.screen[0]);
  assert.equal(terminal.column, 2);
  lines.printAbove("news");
  assert.deepEqual(terminal.screen.length, 2);
});

Deno.test("LineEditor: the prompt can change (the room), and wide characters count two columns", () => {
  const { terminal, lines } = editor();
  lines.setPrompt("den> ");
  lines.feed("日本");
  assert.deepEqual(terminal.screen, ["den> 日本"]);
  assert.equal(displayWidth("日本"), 4);
  assert.equal(displayWidth("e\u0301"), 1);
  assert.equal(displayWidth("🎉a"), 3);
  // The fake terminal counts code points; the editor moves by columns.
  lines.feed("\x1b[D");
  assert.equal(lines.cursor, 1);
});

Deno.test("LineEditor: hidden, it writes nothing on printAbove but the line", () => {
  const { terminal, lines } = editor();
  lines.feed("x");
  lines.hide();
  const before = terminal.written.length;
  lines.printAbove("plain");
  assert.equal(terminal.written.slice(before), "plain\r\n");
});

Deno.test("LineEditor: setText gives back a refused line to edit, the cursor at its end", () => {
  const { terminal, lines } = editor();
  lines.feed("too long\r");
  lines.setText("too long\x1b");
  assert.deepEqual([lines.text, lines.cursor], ["too long", 8]);
  assert.deepEqual(terminal.screen, ["> too long"]);
  lines.feed("!");
  assert.equal(lines.text, "too long!");
});
