/** Where a {@linkcode BoundedLogWriter} writes: `Deno.stderr` by default. */
export interface LogSink {
  /**
   * Write some bytes; resolve with how many were written (maybe fewer).
   *
   * @param bytes What to write.
   * @returns The number of bytes written.
   */
  write(bytes: Uint8Array): Promise<number>;
}

/**
 * Default bound of the queue of a {@linkcode BoundedLogWriter}, in bytes:
 * room for a line per client of a large server written in one go (at
 * shutdown every client's disconnect is logged in the same tick, before the
 * first write can finish).
 */
export const DEFAULT_LOG_BUFFER_BYTES = 4 * 1024 * 1024;

const encoder = new TextEncoder();

/**
 * Log lines on their way to a sink, written asynchronously with one write in
 * flight, so that a reader that stops reading (a full pipe) never blocks the
 * event loop. Lines queue up to a bound in bytes (the write in flight
 * included); past it they are dropped and counted. A sink that fails (its
 * reader is gone) drops every later line too.
 *
 * @example Usage
 * ```ts
 * import { BoundedLogWriter } from "./log_writer.ts";
 * const written: string[] = [];
 * const writer = new BoundedLogWriter({
 *   write: (bytes) => {
 *     written.push(new TextDecoder().decode(bytes));
 *     return Promise.resolve(bytes.length);
 *   },
 * }, 64);
 * writer.write("hello");
 * await writer.flush(1000);
 * console.log(written.join(""), writer.dropped); // "hello\n" 0
 * ```
 */
export class BoundedLogWriter {
  #sink: LogSink;
  #maxQueuedBytes: number;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing = false;
  #broken = false;
  #dropped = 0;
  #idle: PromiseWithResolvers<void> | null = null;

  /**
   * @param sink Where the bytes go.
   * @param maxQueuedBytes Most bytes waiting or being written at once.
   */
  constructor(sink: LogSink, maxQueuedBytes = DEFAULT_LOG_BUFFER_BYTES) {
    this.#sink = sink;
    this.#maxQueuedBytes = maxQueuedBytes;
  }

  /** Lines dropped so far because the queue was full or the sink failed. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Bytes queued or being written now. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Queue one line (a newline is added). Never blocks.
   *
   * @param line The line, without its newline.
   * @returns `false` when the line was dropped.
   */
  write(line: string): boolean {
    if (this.#broken) {
      this.#dropped++;
      return false;
    }
    const bytes = encoder.encode(line + "\n");
    if (this.#queuedBytes + bytes.length > this.#maxQueuedBytes) {
      this.#dropped++;
      return false;
    }
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    if (!this.#writing) this.#pump();
    return true;
  }

  /**
   * Wait until every queued line is written, or `timeoutMs` passes (a sink
   * nobody reads never drains).
   *
   * @param timeoutMs Longest wait.
   * @returns `true` when everything was written.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    if (!this.#writing) return true;
    this.#idle ??= Promise.withResolvers<void>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([
        this.#idle.promise.then(() => true),
        timedOut,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #pump(): Promise<void> {
    this.#writing = true;
    while (this.#queue.length > 0 && !this.#broken) {
      // Everything queued leaves in one write: fewer writes, same bound.
      const parts = this.#queue;
      this.#queue = [];
      const chunk = parts.length === 1 ? parts[0] : join(parts);
      try {
        let offset = 0;
        while (offset < chunk.length) {
          offset += await this.#sink.write(chunk.subarray(offset));
        }
      } catch {
        // The reader is gone: nothing will be read again.
        this.#broken = true;
        this.#dropped += parts.length + this.#queue.length;
        this.#queue = [];
        this.#queuedBytes = 0;
        break;
      }
      this.#queuedBytes -= chunk.length;
    }
    this.#writing = false;
    const idle = this.#idle;
    this.#idle = null;
    idle?.resolve();
  }
}

function join(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
