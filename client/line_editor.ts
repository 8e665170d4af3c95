/**
 * The terminal client's input line, for a terminal in raw mode: the line
 * being typed stays on the bottom row under a prompt, and whatever arrives
 * meanwhile is printed above it, never into it.
 *
 * @module
 */

import { isInert } from "./terminal_text.ts";

/** What a key (or a pasted run of keys) means for the program. */
export type EditorEvent =
  /** Enter: the line typed. */
  | { kind: "line"; text: string }
  /** Ctrl-D on an empty line. */
  | { kind: "end" }
  /** Ctrl-C. */
  | { kind: "interrupt" };

/** Settings of {@linkcode LineEditor}. */
export interface LineEditorOptions {
  /** Writes to the terminal (raw mode: `\r\n` ends a line). */
  write: (text: string) => void;
  /** The terminal's width in columns, asked at every redraw. Default 80. */
  columns?: () => number;
  /** Shown before the typed text. Default `"> "`. */
  prompt?: string;
}

/** Erase the cursor's row and go to its first column. */
const CLEAR_ROW = "\r\x1b[2K";

/**
 * A minimal line editor: printable characters insert at the cursor;
 * Backspace, Delete, Left, Right, Home/End (and Ctrl-A/E), Ctrl-U (erase to
 * the start), Ctrl-K (to the end) and Ctrl-W (the word before) edit; Enter
 * hands the line over and erases it (it comes back as the server's echo);
 * Ctrl-C interrupts; Ctrl-D on an empty line ends the input. Control and
 * bidi characters (pasted, say) are not inserted. A line wider than the
 * terminal scrolls sideways, so it always fits on one row.
 *
 * It does no I/O of its own: keys come in through {@linkcode feed}, and
 * every byte for the terminal goes out through the `write` option, so it is
 * tested against a fake terminal.
 *
 * @example Usage
 * ```ts
 * import { LineEditor } from "./line_editor.ts";
 * let screen = "";
 * const editor = new LineEditor({ write: (t) => screen += t });
 * editor.show();
 * editor.feed("hi");
 * editor.printAbove("zed >>> hello"); // the prompt and "hi" are redrawn below
 * console.log(editor.feed("\r")); // [{ kind: "line", text: "hi" }]
 * ```
 */
export class LineEditor {
  #write: (text: string) => void;
  #columns: () => number;
  #prompt: string;
  /** The typed text, one code point per element. */
  #text: string[] = [];
  #cursor = 0;
  /** The first character shown, when the line is wider than the row. */
  #scroll = 0;
  /** An escape sequence cut by the end of a chunk. */
  #pending = "";
  #afterCarriageReturn = false;
  #shown = false;

  /** @param options Where to write, the width, the prompt. */
  constructor(options: LineEditorOptions) {
    this.#write = options.write;
    this.#columns = options.columns ?? (() => 80);
    this.#prompt = options.prompt ?? "> ";
  }

  /** The text typed so far. */
  get text(): string {
    return this.#text.join("");
  }

  /** The cursor's position in the text, in code points. */
  get cursor(): number {
    return this.#cursor;
  }

  /**
   * Change the prompt (for example, to show the room).
   *
   * @param prompt Inert text to show before the typed text.
   */
  setPrompt(prompt: string): void {
    this.#prompt = prompt;
    if (this.#shown) this.show();
  }

  /**
   * Put text back on the input line, the cursor at its end (a line that
   * could not be sent, to edit and send again).
   *
   * @param text The text; control and bidi characters are left out.
   */
  setText(text: string): void {
    this.#text = [...text].filter((character) => isInert(character));
    this.#cursor = this.#text.length;
    this.#scroll = 0;
    if (this.#shown) this.show();
  }

  /**
   * Print a whole line above the input line, then redraw the input line.
   *
   * @param line Text without control characters (make it inert first).
   */
  printAbove(line: string): void {
    const wasShown = this.#shown;
    this.hide();
    this.#write(line.replaceAll("\n", "\r\n") + "\r\n");
    if (wasShown) this.show();
  }

  /** Erase the input line from the screen (before others write there). */
  hide(): void {
    if (!this.#shown) return;
    this.#write(CLEAR_ROW);
    this.#shown = false;
  }

  /** Draw the prompt and the input line, with the cursor in place. */
  show(): void {
    const promptWidth = displayWidth(this.#prompt);
    const room = Math.max(8, this.#columns() - promptWidth - 1);
    if (this.#cursor < this.#scroll) this.#scroll = this.#cursor;
    while (width(this.#text, this.#scroll, this.#cursor) > room) {
      this.#scroll++;
    }
    let end = this.#scroll;
    let used = 0;
    while (end < this.#text.length) {
      const next = displayWidth(this.#text[end]);
      if (used + next > room) break;
      used += next;
      end++;
    }
    const column = promptWidth + width(this.#text, this.#scroll, this.#cursor);
    this.#write(
      CLEAR_ROW + this.#prompt + this.#text.slice(this.#scroll, end).join("") +
        "\r" + (column > 0 ? `\x1b[${column}C` : ""),
    );
    this.#shown = true;
  }

  /**
   * Handle keys from the terminal.
   *
   * @param keys Decoded text from standard input in raw mode.
   * @returns What the keys ask for, in order (usually nothing).
   */
  feed(keys: string): EditorEvent[] {
    const events: EditorEvent[] = [];
    const input = this.#pending + keys;
    this.#pending = "";
    const characters = [...input];
    let changed = false;
    for (let i = 0; i < characters.length; i++) {
      const key = characters[i];
      const afterCarriageReturn = this.#afterCarriageReturn;
      this.#afterCarriageReturn = key === "\r";
      if (key === "\x1b") {
        const length = escapeLength(characters, i);
        if (length === 0) {
          // Cut by the end of the chunk: wait for the rest.
          this.#pending = characters.slice(i).join("");
          break;
        }
        changed = this.#escape(characters.slice(i, i + length).join("")) ||
          changed;
        i += length - 1;
        continue;
      }
      switch (key) {
        case "\r":
        case "\n": {
          if (key === "\n" && afterCarriageReturn) break;
          const text = this.text;
          this.#text = [];
          this.#cursor = 0;
          this.#scroll = 0;
          this.hide();
          events.push({ kind: "line", text });
          changed = true;
          break;
        }
        case "\x03":
          events.push({ kind: "interrupt" });
          break;
        case "\x04":
          if (this.#text.length === 0) events.push({ kind: "end" });
          else changed = this.#deleteAt(this.#cursor) || changed;
          break;
        case "\x7f":
        case "\x08":
          if (this.#cursor > 0) {
            this.#cursor--;
            changed = this.#deleteAt(this.#cursor) || changed;
          }
          break;
        case "\x01":
          changed = this.#moveTo(0) || changed;
          break;
        case "\x05":
          changed = this.#moveTo(this.#text.length) || changed;
          break;
        case "\x15":
          this.#text.splice(0, this.#cursor);
          changed = this.#moveTo(0) || true;
          break;
        case "\x0b":
          this.#text.splice(this.#cursor);
          changed = true;
          break;
        case "\x17": {
          let start = this.#cursor;
          while (start > 0 && this.#text[start - 1] === " ") start--;
          while (start > 0 && this.#text[start - 1] !== " ") start--;
          this.#text.splice(start, this.#cursor - start);
          changed = this.#moveTo(start) || true;
          break;
        }
        default:
          if (isInert(key)) {
            this.#text.splice(this.#cursor, 0, key);
            this.#cursor++;
            changed = true;
          }
      }
    }
    if (changed) this.show();
    return events;
  }

  #moveTo(position: number): boolean {
    const changed = position !== this.#cursor;
    this.#cursor = position;
    return changed;
  }

  #deleteAt(position: number): boolean {
    if (position >= this.#text.length) return false;
    this.#text.splice(position, 1);
    return true;
  }

  /** Arrows, Home, End, Delete; every other sequence is swallowed. */
  #escape(sequence: string): boolean {
    switch (sequence) {
      case "\x1b[D":
      case "\x1bOD":
        return this.#moveTo(Math.max(0, this.#cursor - 1));
      case "\x1b[C":
      case "\x1bOC":
        return this.#moveTo(Math.min(this.#text.length, this.#cursor + 1));
      case "\x1b[H":
      case "\x1bOH":
      case "\x1b[1~":
      case "\x1b[7~":
        return this.#moveTo(0);
      case "\x1b[F":
      case "\x1bOF":
      case "\x1b[4~":
      case "\x1b[8~":
        return this.#moveTo(this.#text.length);
      case "\x1b[3~":
        return this.#deleteAt(this.#cursor);
      default:
        return false;
    }
  }
}

/**
 * The length, in code points, of the escape sequence at `start` (ESC [
 * parameters final, ESC O key, or ESC and one character), or 0 when the
 * input ends inside it.
 */
function escapeLength(characters: string[], start: number): number {
  const next = characters[start + 1];
  if (next === undefined) return 0;
  if (next === "O") return characters[start + 2] === undefined ? 0 : 3;
  if (next !== "[") return 2;
  for (let i = start + 2; i < characters.length; i++) {
    const code = characters[i].codePointAt(0)!;
    if (code >= 0x40 && code <= 0x7e) return i - start + 1;
  }
  return 0;
}

function width(text: string[], from: number, to: number): number {
  let total = 0;
  for (let i = from; i < to; i++) total += displayWidth(text[i]);
  return total;
}

/**
 * Columns a terminal gives to a string: 2 for wide East Asian characters
 * and most emoji, 0 for combining marks and joiners, else 1 per code point.
 * An approximation of wcwidth, enough to keep the cursor in place.
 */
export function displayWidth(text: string): number {
  let total = 0;
  for (const character of text) {
    const code = character.codePointAt(0)!;
    if (
      (code >= 0x300 && code <= 0x36f) || code === 0x200b ||
      code === 0x200c || code === 0x200d || (code >= 0xfe00 && code <= 0xfe0f)
    ) {
      continue;
    }
    const wide = (code >= 0x1100 && code <= 0x115f) ||
      (code >= 0x2e80 && code <= 0xa4cf) ||
      (code >= 0xac00 && code <= 0xd7a3) ||
      (code >= 0xf900 && code <= 0xfaff) ||
      (code >= 0xfe30 && code <= 0xfe4f) ||
      (code >= 0xff00 && code <= 0xff60) ||
      (code >= 0xffe0 && code <= 0xffe6) ||
      (code >= 0x1f300 && code <= 0x1faff) ||
      (code >= 0x20000 && code <= 0x3fffd);
    total += wide ? 2 : 1;
  }
  return total;
}
