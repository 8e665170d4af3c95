/**
 * A test client that reads exactly like the original Rust chat client: one
 * `read()` of at most 512 bytes, appended to a 512-byte buffer, then only the
 * FIRST whole frame in the buffer is handled; whatever else arrived waits for
 * the next `read()`. (The original panics when more than 512 unhandled bytes
 * pile up; so does this one, as a recorded error.) A server that sends it two
 * frames in one write leaves it one frame behind from then on.
 *
 * It sends only what the original sends: CHAT and CLOSE, each in one write,
 * with sender id 0. Headers are parsed with `DataView`, independently of the
 * protocol module under test.
 */

import { deadline } from "./_deadline.ts";
import type { Frame } from "../protocol/mod.ts";

/** The original client's receive buffer, and the most it reads at once. */
const BUFFER_SIZE = 512;
const HEADER_SIZE = 24;
const encoder = new TextEncoder();

/** A client that handles one frame per `read()`, like the original. */
export class OriginalClient {
  readonly conn: Deno.Conn;
  /** Frames handled (in order) and not yet taken by `next`. */
  readonly handled: Frame[] = [];
  /** Set when the connection has ended (or broke). */
  ended = false;
  /** Set when more than 512 unhandled bytes piled up (the original panics). */
  overflow: Error | null = null;
  /** Number of `read()` calls that returned bytes. */
  reads = 0;
  #wake: (() => void) | null = null;
  #reading: Promise<void>;

  private constructor(conn: Deno.Conn) {
    this.conn = conn;
    this.#reading = this.#readLoop();
  }

  /** Connect to 127.0.0.1:`port`; frames are read from then on. */
  static async connect(port: number): Promise<OriginalClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    return new OriginalClient(conn);
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(BUFFER_SIZE);
    const view = new DataView(buffer.buffer);
    const chunk = new Uint8Array(BUFFER_SIZE);
    let used = 0;
    try {
      for (;;) {
        const count = await this.conn.read(chunk);
        if (count === null) break;
        this.reads++;
        if (used + count > BUFFER_SIZE) {
          this.overflow = new Error(
            `${
              used + count
            } unhandled bytes overflow the original client's ${BUFFER_SIZE}-byte buffer`,
          );
          break;
        }
        buffer.set(chunk.subarray(0, count), used);
        used += count;
        // Only the first whole frame; the rest waits for the next read().
        if (used < HEADER_SIZE) continue;
        const length = Number(view.getBigUint64(0));
        if (HEADER_SIZE + length > BUFFER_SIZE) {
          this.overflow = new Error(`a frame of ${HEADER_SIZE + length} bytes`);
          break;
        }
        const end = HEADER_SIZE + length;
        if (used < end) continue;
        this.handled.push({
          tag: Number(view.getBigUint64(8)),
          senderId: Number(view.getBigUint64(16)),
          body: buffer.slice(HEADER_SIZE, end),
        });
        buffer.copyWithin(0, end, used);
        used -= end;
        this.#notify();
      }
    } catch {
      // A reset ends the client like an end of stream.
    }
    this.ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /**
   * The next handled frame, whatever its tag.
   *
   * @throws {Error} When the connection ends or the buffer overflows first,
   * or after `timeoutMs`.
   */
  async next(timeoutMs = 5000): Promise<Frame> {
    const wait = async () => {
      for (;;) {
        const frame = this.handled.shift();
        if (frame !== undefined) return frame;
        if (this.overflow !== null) throw this.overflow;
        if (this.ended) {
          throw new Error("Connection ended before another frame was handled");
        }
        await new Promise<void>((resolve) => this.#wake = resolve);
      }
    };
    return await deadline(wait(), timeoutMs, "a frame the original handles");
  }

  /** Send a frame in one write, sender id 0, as the original does. */
  async send(tag: number, body = ""): Promise<void> {
    const bytes = encoder.encode(body);
    const frame = new Uint8Array(HEADER_SIZE + bytes.length);
    const view = new DataView(frame.buffer);
    view.setBigUint64(0, BigInt(bytes.length));
    view.setBigUint64(8, BigInt(tag));
    view.setBigUint64(16, 0n);
    frame.set(bytes, HEADER_SIZE);
    let offset = 0;
    while (offset < frame.length) {
      offset += await this.conn.write(frame.subarray(offset));
    }
  }

  /** Wait until the server has closed the connection. */
  async waitForEnd(timeoutMs = 5000): Promise<void> {
    await deadline(
      (async () => {
        while (!this.ended) {
          await new Promise<void>((resolve) => this.#wake = resolve);
        }
      })(),
      timeoutMs,
      "the original client's connection to end",
    );
  }

  /** Close the socket and wait for the read loop to finish. */
  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    await this.#reading;
  }
}
