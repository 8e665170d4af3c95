import { encodeFrame, type Frame, FrameReader } from "../protocol/mod.ts";

/** Where and how to connect. */
export interface ConnectOptions {
  /** Server host name or address. */
  hostname: string;
  /** Server port. */
  port: number;
  /** Connect with TLS. */
  tls?: boolean;
  /** PEM certificates to trust for TLS besides the system's. */
  caCerts?: string[];
}

/**
 * A client connection speaking the hubbub wire format: send frames, iterate
 * over received frames. Used by the terminal client and the tests.
 *
 * @example Usage
 * ```ts no-eval
 * import { ChatConnection } from "./chat_connection.ts";
 * import { Tag } from "../protocol/mod.ts";
 *
 * const connection = await ChatConnection.connect({ hostname: "127.0.0.1", port: 9000 });
 * await connection.send(Tag.CHAT, "hello");
 * for await (const frame of connection.frames()) console.log(frame.tag);
 * ```
 */
export class ChatConnection {
  #conn: Deno.Conn;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  #firstByte: number | null = null;

  /** @param conn An open connection; see {@linkcode ChatConnection.connect}. */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The first byte the server sent, `null` before any (a TLS record starts 0x15 or 0x16). */
  get firstByte(): number | null {
    return this.#firstByte;
  }

  /**
   * Open a connection; with TLS, finish the handshake first, so that a
   * certificate problem or a server without TLS shows here.
   *
   * @param options Address and TLS settings.
   * @returns The connection.
   * @throws {Deno.errors.ConnectionRefused} When nothing listens there.
   * @throws {Deno.errors.InvalidData} When the TLS handshake fails.
   */
  static async connect(options: ConnectOptions): Promise<ChatConnection> {
    if (!options.tls) {
      const conn = await Deno.connect({
        hostname: options.hostname,
        port: options.port,
      });
      conn.setNoDelay(true);
      return new ChatConnection(conn);
    }
    const conn = await Deno.connectTls({
      hostname: options.hostname,
      port: options.port,
      caCerts: options.caCerts,
    });
    try {
      await conn.handshake();
    } catch (error) {
      conn.close();
      throw error;
    }
    return new ChatConnection(conn);
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
