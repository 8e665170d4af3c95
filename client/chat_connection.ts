import { encodeFrame, type Frame, FrameReader } from "../protocol/mod.ts";

/**
 * The byte stream a {@linkcode ChatConnection} runs over. A Deno TCP or TLS
 * connection is one as it is (`tcp_connect.ts`); a browser wraps a
 * WebSocket in one. Nothing here needs Deno.
 */
export interface ByteStream {
  /**
   * Read some bytes into `buffer`.
   *
   * @param buffer Where the bytes go.
   * @returns How many were read, or `null` at the end of the stream.
   */
  read(buffer: Uint8Array): Promise<number | null>;
  /**
   * Write some of `bytes`.
   *
   * @param bytes The bytes to send.
   * @returns How many were written, which may be fewer than given.
   */
  write(bytes: Uint8Array): Promise<number>;
  /** Close the stream. */
  close(): void;
}

/**
 * A client connection speaking the hubbub wire format over any
 * {@linkcode ByteStream}: send frames, iterate over received frames. Used by
 * the terminal client and the tests; `connectTcp` (`tcp_connect.ts`) opens one over
 * TCP or TLS.
 *
 * @example Usage
 * ```ts no-eval
 * import { connectTcp } from "./tcp_connect.ts";
 * import { Tag } from "../protocol/mod.ts";
 *
 * const connection = await connectTcp({ hostname: "127.0.0.1", port: 9000 });
 * await connection.send(Tag.CHAT, "hello");
 * for await (const frame of connection.frames()) console.log(frame.tag);
 * ```
 */
export class ChatConnection {
  #conn: ByteStream;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  #firstByte: number | null = null;

  /** @param conn An open byte stream to the server. */
  constructor(conn: ByteStream) {
    this.#conn = conn;
  }

  /** The first byte the server sent, `null` before any (a TLS record starts 0x15 or 0x16). */
  get firstByte(): number | null {
    return this.#firstByte;
  }

  /**
   * Send one frame. Frames are written whole and in call order.
   *
   * @param tag The frame's tag.
   * @param body The body, bytes or text.
   * @param senderId The sender id field (the server overwrites it on CHAT).
   * @returns A promise that settles once the frame is written.
   * @throws {FrameTooLargeError} When the body is over the limit.
   */
  send(
    tag: number,
    body: Uint8Array | string = "",
    senderId = 0,
  ): Promise<void> {
    return this.sendRaw(encodeFrame(tag, senderId, body));
  }

  /**
   * Write bytes as they are (whole frames, parts of frames, anything).
   *
   * @param bytes The bytes.
   * @returns A promise that settles once they are written.
   */
  sendRaw(bytes: Uint8Array): Promise<void> {
    const conn = this.#conn;
    const write = this.#writing.then(async () => {
      let offset = 0;
      while (offset < bytes.length) {
        offset += await conn.write(bytes.subarray(offset));
      }
    });
    this.#writing = write.catch(() => {});
    return write;
  }

  /**
   * The frames the server sends, until it closes the connection.
   *
   * @returns An async iterator of frames; each frame's body is its own copy.
   * @throws {FrameTooLargeError} When the server sends an oversized frame.
   * @throws {Error} When the connection breaks (not when it is closed
   * locally with {@linkcode close}).
   */
  async *frames(): AsyncGenerator<Frame> {
    const reader = new FrameReader();
    for (;;) {
      const buffer = new Uint8Array(16 * 1024);
      let count: number | null;
      try {
        count = await this.#conn.read(buffer);
      } catch (error) {
        if (this.#closed) return;
        throw error;
      }
      if (count === null) return;
      if (this.#firstByte === null && count > 0) this.#firstByte = buffer[0];
      reader.push(buffer.subarray(0, count));
      for (let frame = reader.next(); frame !== null; frame = reader.next()) {
        yield frame;
      }
    }
  }

  /** Close the connection. Safe to call more than once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}
