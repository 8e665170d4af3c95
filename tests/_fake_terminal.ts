/**
 * A fake terminal for tests: a screen of rows and a cursor that obeys the
 * few sequences the terminal client's line editor writes (CR, LF, erase
 * row, cursor forward) and fails on any other, so a test sees the screen a
 * person would.
 */

/** A screen of rows and a cursor, fed what the editor writes. */
export class FakeTerminal {
  /** The rows, one character per cell. */
  rows: string[][] = [[]];
  /** The cursor's row. */
  row = 0;
  /** The cursor's column. */
  column = 0;
  /** Every write, to check nothing else is sent. */
  written = "";

  /** Apply `text` to the screen. */
  write = (text: string): void => {
    this.written += text;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === "\r") this.column = 0;
      else if (c === "\n") {
        this.row++;
        this.rows[this.row] ??= [];
      } else if (c === "\x1b") {
        // deno-lint-ignore no-control-regex
        const match = /^\x1b\[(\d*)([A-Za-z])/.exec(text.slice(i));
        if (match === null) throw new Error(`unexpected escape at ${i}`);
        const [whole, count, final] = match;
        if (final === "K" && count === "2") this.rows[this.row] = [];
        else if (final === "C") this.column += Number(count || 1);
        else throw new Error(`unexpected sequence ${JSON.stringify(whole)}`);
        i += whole.length - 1;
      } else {
        const row = this.rows[this.row];
        while (row.length < this.column) row.push(" ");
        row[this.column] = c;
        this.column++;
      }
    }
  };

  /** The rows as text, trailing spaces trimmed. */
  get screen(): string[] {
    return this.rows.map((r) => r.join("").trimEnd());
  }
}
