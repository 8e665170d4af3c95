/**
 * Test side of a connection: a real TCP (or TLS) socket that records every
 * frame the server sends, so tests can await the next frame of a tag (with a deadline)
 * instead of sleeping.
 */

import { deadline } from "./_deadline.ts";
import { encodeFrame, type Frame, FrameReader, Tag } from "../protocol/mod.ts";

const decoder = new TextDecoder();

/** How long a test waits for an expected frame by default, in ms. */
export const FRAME_TIMEOUT_MS = 5000;

/** A test client over a real socket. */
export class RawClient {
  readonly conn: Deno.Conn;
  /** Frames received and not yet taken by `next`. */
  readonly inbox: Frame[] = [];
  /** Set once the server has closed the connection (or it broke). */
  ended = false;
  /** The id from ISSUE_ID, once received by `connect`. */
  id = 0;
  #wake: (() => void) | null = null;
  #reading: Promise<void>;
  #readError: unknown = null;

  #skipTags: ReadonlySet<number>;
  /** Ids that PRESENCE frames received were about (skipped ones included). */
  #presenceAbout = new Set<number>();

  private constructor(
    conn: Deno.Conn,
    read: boolean,
    skipTags: readonly number[] = [],
  ) {
    this.conn = conn;
    this.#skipTags = new Set(skipTags);
    this.#reading = read ? this.#readLoop() : Promise.resolve();
  }

  /**
   * Connect, and by default wait for ISSUE_ID.
   *
   * @param port Server port on 127.0.0.1.
   * @param options `read: false` leaves the socket unread (a client that
   * never reads); `handshake: false` skips waiting for ISSUE_ID;
   * `skipTags` lists tags whose frames are dropped on arrival, never put in
   * the inbox (for tests of the core protocol that ignore extensions such as
   * PRESENCE). Unless `original: true`, a client that waits for ISSUE_ID
   * first declares itself a hubbub client (an empty PONG, which the server
   * answers with nothing) and waits for its join confirmation, so it gets
   * every frame from then on; `original: true` leaves it an original client
   * (ISSUE_ID, CHAT and CLOSE only).
   */
  static async connect(
    port: number,
    options: {
      read?: boolean;
      handshake?: boolean;
      hostname?: string;
      skipTags?: readonly number[];
      original?: boolean;
    } = {},
  ): Promise<RawClient> {
    const conn = await Deno.connect({
      hostname: options.hostname ?? "127.0.0.1",
      port,
    });
    // Small frames leave at once instead of waiting on Nagle's algorithm.
    conn.setNoDelay(true);
    const client = new RawClient(conn, options.read ?? true, options.skipTags);
    if ((options.read ?? true) && (options.handshake ?? true)) {
      if (!options.original) await client.send(Tag.PONG);
      const issued = await client.next(Tag.ISSUE_ID);
      client.id = issued.senderId;
      if (!options.original) await client.#confirmed();
    }
    return client;
  }

  /** Connect with TLS trusting `caCert`, and wait for ISSUE_ID. */
  static async connectTls(port: number, caCert: string): Promise<RawClient> {
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port,
      caCerts: [caCert],
    });
    const client = new RawClient(conn, true);
    await client.send(Tag.PONG);
    client.id = (await client.next(Tag.ISSUE_ID)).senderId;
    await client.#confirmed();
    return client;
  }

  async #readLoop(): Promise<void> {
    const reader = new FrameReader();
    try {
      for (;;) {
        const buffer = new Uint8Array(64 * 1024);
        const count = await this.conn.read(buffer);
        if (count === null) break;
        reader.push(buffer.subarray(0, count));
        for (let frame = reader.next(); frame; frame = reader.next()) {
          if (frame.tag === Tag.PRESENCE) {
            this.#presenceAbout.add(frame.senderId);
          }
          if (!this.#skipTags.has(frame.tag)) this.inbox.push(frame);
        }
        this.#notify();
      }
    } catch (error) {
      this.#readError = error;
    }
    this.ended = true;
    this.#notify();
  }

  /**
   * Wait for the join confirmation a declared hubbub client gets (a
   * PRESENCE about itself), left in the inbox: from then on the server sends
   * it everything.
   */
  async #confirmed(): Promise<void> {
    await deadline(
      (async () => {
        while (!this.#presenceAbout.has(this.id)) {
          if (this.ended) throw new Error("Connection ended before the join");
          await this.#changed();
        }
      })(),
      FRAME_TIMEOUT_MS,
      "the join confirmation",
    );
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #changed(): Promise<void> {
    return new Promise((resolve) => this.#wake = resolve);
  }

  /**
   * Wait for the next frame, skipping frames of other tags when `tag` is
   * given.
   *
   * @throws {Error} When the connection ends first or the deadline passes.
   */
  async next(tag?: number, timeoutMs = FRAME_TIMEOUT_MS): Promise<Frame> {
    const wait = async () => {
      for (;;) {
        while (this.inbox.length > 0) {
          const frame = this.inbox.shift()!;
          if (tag === undefined || frame.tag === tag) return frame;
        }
        if (this.ended) {
          throw new Error(
            `Connection ended before a frame${
              tag === undefined ? "" : ` of tag ${tag}`
            } arrived`,
          );
        }
        await this.#changed();
      }
    };
    return await deadline(wait(), timeoutMs, `frame of tag ${tag ?? "any"}`);
  }

  /**
   * Take every frame up to and including the first one of `tag`, so a test
   * can see what else arrived before it (nothing is skipped silently).
   *
   * @throws {Error} When the connection ends first or the deadline passes.
   */
  async framesUntil(
    tag: number,
    timeoutMs = FRAME_TIMEOUT_MS,
  ): Promise<Frame[]> {
    const frames: Frame[] = [];
    const started = Date.now();
    for (;;) {
      const frame = await this.next(
        undefined,
        timeoutMs - (Date.now() - started),
      );
      frames.push(frame);
      if (frame.tag === tag) return frames;
    }
  }

  /**
   * Wait for `count` CHAT frames and return them (frames of other tags are
   * skipped). One deadline covers the whole wait, so this stays cheap for
   * thousands of frames.
   */
  async chats(count: number, timeoutMs = FRAME_TIMEOUT_MS): Promise<Frame[]> {
    const frames: Frame[] = [];
    const take = async () => {
      for (;;) {
        let index = 0;
        const inbox = this.inbox;
        while (index < inbox.length && frames.length < count) {
          const frame = inbox[index++];
          if (frame.tag === Tag.CHAT) frames.push(frame);
        }
        inbox.splice(0, index);
        if (frames.length >= count) return frames;
        if (this.ended) {
          throw new Error(
            `Connection ended after ${frames.length} of ${count} CHAT frames`,
          );
        }
        await this.#changed();
      }
    };
    try {
      return await deadline(take(), timeoutMs, `${count} CHAT frames`);
    } catch (error) {
      throw new Error(
        `${(error as Error).message} (got ${frames.length} of ${count})`,
      );
    }
  }

  /** Wait until the server has closed the connection. */
  async waitForEnd(timeoutMs = FRAME_TIMEOUT_MS): Promise<void> {
    await deadline(
      (async () => {
        while (!this.ended) await this.#changed();
      })(),
      timeoutMs,
      "connection end",
    );
  }

  /** Send a frame. */
  async send(
    tag: number,
    body: string | Uint8Array = "",
    senderId = 0,
  ): Promise<void> {
    await this.write(encodeFrame(tag, senderId, body));
  }

  /** Write raw bytes. */
  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.conn.write(bytes.subarray(offset));
    }
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

  /** The read error, if the connection broke rather than ended. */
  get readError(): unknown {
    return this.#readError;
  }
}

/** Decode a frame body as UTF-8 text. */
export function text(frame: Frame): string {
  return decoder.decode(frame.body);
}
