/**
 * The live progress line on standard error: rewritten in place on a
 * terminal, one plain line per second otherwise.
 *
 * @module
 */

import { formatCompact, formatCount, formatMilliseconds } from "./format.ts";
import type { LoadTestProgress } from "./run.ts";

const encoder = new TextEncoder();

/**
 * The text of one progress line.
 *
 * @param progress The figures of the last second.
 * @returns For example `12s measure connections=100 sent/s=2000 delivered/s=200k p99=1.23ms`.
 */
export function formatProgress(progress: LoadTestProgress): string {
  return `${progress.elapsedSeconds}s ${progress.phase} connections=${
    formatCount(progress.connections)
  } sent/s=${formatCompact(progress.sentPerSecond)} delivered/s=${
    formatCompact(progress.deliveredPerSecond)
  } p99=${formatMilliseconds(progress.p99SoFarMs)}ms`;
}

/** Writes progress lines to standard error. */
export class ProgressLine {
  #terminal: boolean;
  #dirty = false;

  /** @param terminal Rewrite in place; default: whether stderr is a terminal. */
  constructor(terminal: boolean = Deno.stderr.isTerminal()) {
    this.#terminal = terminal;
  }

  /**
   * Show the figures of the last second.
   *
   * @param progress The figures.
   */
  update(progress: LoadTestProgress): void {
    this.#write(formatProgress(progress));
  }

  /**
   * Show a one-off message (it stays on screen).
   *
   * @param text The message.
   */
  note(text: string): void {
    this.clear();
    Deno.stderr.writeSync(encoder.encode(text + "\n"));
  }

  /** Remove the line on a terminal (call before printing the summary). */
  clear(): void {
    if (this.#terminal && this.#dirty) {
      Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
      this.#dirty = false;
    }
  }

  #write(line: string): void {
    if (this.#terminal) {
      Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
      this.#dirty = true;
    } else {
      Deno.stderr.writeSync(encoder.encode(line + "\n"));
    }
  }
}
