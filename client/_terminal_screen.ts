/**
 * Where the terminal client prints and reads: on a terminal, a raw-mode
 * screen whose input line is redrawn under whatever arrives; otherwise
 * (pipes, files, tests) plain lines in, plain lines out.
 */

import { type EditorEvent, LineEditor } from "./line_editor.ts";
import { readLines } from "./_lines.ts";

/** The terminal client's output and input. */
export interface Screen {
  /** Print a line for standard output. */
  print(line: string): void;
  /** Print a line for standard error. */
  warn(line: string): void;
  /** Show the room in the prompt, where there is one. */
  setPrompt(prompt: string): void;
  /** Give back a line that was not sent, to edit (where there is a line editor). */
  restoreInput(text: string): void;
  /** What the user types, until the input ends. */
  input(): AsyncIterable<EditorEvent>;
  /** Give the terminal back as it was. */
  close(): void;
}

const encoder = new TextEncoder();

function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string) {
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) {
    offset += stream.writeSync(bytes.subarray(offset));
  }
}

/**
 * Lines in, lines out; the terminal (if any) echoes what is typed. SIGINT
 * (Ctrl-C when standard input is still a terminal) is an interrupt, as in
 * the editor: leave politely, a second one exits at once.
 */
class LineScreen implements Screen {
  print(line: string): void {
    console.log(line);
  }

  warn(line: string): void {
    console.error(line);
  }

  setPrompt(): void {}

  restoreInput(): void {}

  async *input(): AsyncIterable<EditorEvent> {
    const queue: EditorEvent[] = [];
    let wake: (() => void) | null = null;
    const push = (event: EditorEvent) => {
      queue.push(event);
      wake?.();
      wake = null;
    };
    const interrupt = () => push({ kind: "interrupt" });
    Deno.addSignalListener("SIGINT", interrupt);
    (async () => {
      try {
        for await (const text of readLines(Deno.stdin.readable)) {
          push({ kind: "line", text });
        }
      } finally {
        push({ kind: "end" });
      }
    })().catch(() => {});
    try {
      for (;;) {
        for (let event = queue.shift(); event; event = queue.shift()) {
          yield event;
          if (event.kind === "end") return;
        }
        await new Promise<void>((resolve) => wake = resolve);
      }
    } finally {
      Deno.removeSignalListener("SIGINT", interrupt);
    }
  }

  close(): void {}
}

/** Raw mode with a {@linkcode LineEditor} on the bottom row. */
class EditorScreen implements Screen {
  #editor = new LineEditor({
    write: (text) => writeAll(Deno.stdout, text),
    columns: () => {
      try {
        return Deno.consoleSize().columns;
      } catch {
        return 80;
      }
    },
  });
  #closed = false;

  constructor() {
    Deno.stdin.setRaw(true);
    // Killed politely, give the terminal back first (raw mode outlives us).
    Deno.addSignalListener("SIGTERM", () => {
      this.close();
      Deno.exit(143);
    });
    this.#editor.show();
  }

  print(line: string): void {
    if (this.#closed) console.log(line);
    else this.#editor.printAbove(line);
  }

  warn(line: string): void {
    if (this.#closed) {
      console.error(line);
      return;
    }
    this.#editor.hide();
    writeAll(Deno.stderr, line.replaceAll("\n", "\r\n") + "\r\n");
    this.#editor.show();
  }

  setPrompt(prompt: string): void {
    this.#editor.setPrompt(prompt);
  }

  restoreInput(text: string): void {
    this.#editor.setText(text);
  }

  async *input(): AsyncIterable<EditorEvent> {
    for await (
      const keys of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
    ) {
      for (const event of this.#editor.feed(keys)) yield event;
    }
    yield { kind: "end" };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#editor.hide();
    try {
      Deno.stdin.setRaw(false);
    } catch {
      // Not a terminal any more.
    }
  }
}

/**
 * The screen for this process: line editing when both standard input and
 * output are terminals, plain lines otherwise.
 *
 * @returns The screen; call `close` before exiting.
 */
export function openScreen(): Screen {
  return Deno.stdin.isTerminal() && Deno.stdout.isTerminal()
    ? new EditorScreen()
    : new LineScreen();
}
