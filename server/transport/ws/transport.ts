/**
 * The outbound side of a WebSocket connection as a stream transport: each
 * hubbub frame the writer hands over leaves as one binary WebSocket message,
 * written to the TCP socket under it, so backpressure is the socket's, as
 * on TCP (a write in flight counts against the pending bound; a peer that
 * stops reading stalls it).
 *
 * @module
 */

import { HEADER_SIZE } from "../../../protocol/mod.ts";
import type { StreamTransport } from "../transport.ts";
import { closeFrame, Opcode, writeServerHeader } from "./wire.ts";

/** The socket under a WebSocket (a `Deno.Conn` after the upgrade). */
export type WebSocketConnection = Pick<
  Deno.Conn,
  "read" | "write" | "close" | "remoteAddr"
>;

/** Longest wait for the close frame to leave before the socket is closed. */
const CLOSE_LINGER_MS = 1000;
/** Most header bytes a hubbub frame's message needs (its payload < 64 KiB). */
const MESSAGE_HEADER = 4;
const NORMAL_CLOSE = closeFrame(1000);
/** First byte of a whole binary message (FIN, opcode 2). */
const BINARY_FINAL = 0x80 | Opcode.Binary;

async function writeAll(
  conn: WebSocketConnection,
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

/**
 * A {@linkcode StreamTransport} over an upgraded WebSocket connection. A
 * `write` of whole hubbub frames frames each as a binary message (a 2- or
 * 4-byte header: frames are at most 512 bytes) into a buffer it reuses, and
 * settles once the socket took all of it. Control frames (pong, close) wait
 * for a data write in flight, so messages never interleave.
 */
export class WebSocketTransport implements StreamTransport {
  readonly remoteAddress: string;
  #conn: WebSocketConnection;
  #framed = new Uint8Array(0);
  /** A data write on the socket not settled yet (one at a time). */
  #writing = false;
  /** A control write on the socket not settled yet. */
  #busy: Promise<void> | null = null;
  /** A pong to send once the socket is free (the latest ping's). */
  #pendingPong: Uint8Array | null = null;
  #closing = false;
  #closed = false;
  /** Called once when the socket is closed. */
  #onClosed: () => void;

  /**
   * @param conn The upgraded connection.
   * @param onClosed Called once, when the socket is closed.
   */
  constructor(conn: WebSocketConnection, onClosed: () => void = () => {}) {
    this.#conn = conn;
    this.#onClosed = onClosed;
    const address = conn.remoteAddr as Deno.NetAddr;
    this.remoteAddress = `${address.hostname}:${address.port}`;
  }

  async write(bytes: Uint8Array): Promise<number> {
    if (this.#closing) throw new Deno.errors.BadResource("WebSocket closed");
    while (this.#busy !== null) await this.#busy;
    const length = this.#frame(bytes);
    const framed = this.#framed;
    const conn = this.#conn;
    // The socket writes straight from here (no promise of a helper's own
    // per write): a write costs what a TCP one does, plus the framing.
    this.#writing = true;
    try {
      let offset = await conn.write(framed.subarray(0, length));
      while (offset < length) {
        offset += await conn.write(framed.subarray(offset, length));
      }
    } finally {
      this.#writing = false;
      this.#afterWrite();
    }
    return bytes.length;
  }

  /**
   * Answer a ping: the pong leaves after the write in flight, if any; a
   * later ping's pong replaces one still waiting.
   *
   * @param frame The pong frame.
   */
  sendPong(frame: Uint8Array): void {
    if (this.#closing) return;
    this.#pendingPong = frame;
    if (!this.#writing && this.#busy === null) this.#afterWrite();
  }

  /**
   * Send a close frame (after the write in flight, if any) and close the
   * socket once it left, or after a second at the latest. Safe to call more
   * than once.
   */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#pendingPong = null;
    if (this.#writing || this.#busy !== null) {
      // A write in flight is cut off, as a TCP close cuts it.
      this.#closeSocket();
      return;
    }
    const timer = setTimeout(() => this.#closeSocket(), CLOSE_LINGER_MS);
    writeAll(this.#conn, NORMAL_CLOSE).catch(() => {}).finally(() => {
      clearTimeout(timer);
      this.#closeSocket();
    });
  }

  /** Frame each hubbub frame of `bytes` as a binary message. */
  #frame(bytes: Uint8Array): number {
    // At most one message header per frame, and a frame has 24 bytes at least.
    const most = bytes.length + Math.ceil(bytes.length / HEADER_SIZE) *
        MESSAGE_HEADER;
    if (this.#framed.length < most) {
      this.#framed = new Uint8Array(Math.max(most, this.#framed.length * 2));
    }
    const framed = this.#framed;
    // One copy of all the frames to the end of the room `most` reserves,
    // then each moves down behind its header within the buffer: no
    // subarray (an allocation) per frame. The headers written never reach
    // the frames still to move, as the room left for them bounds them all.
    const from = most - bytes.length;
    framed.set(bytes, from);
    let length = 0;
    let offset = 0;
    const end = bytes.length;
    while (offset < end) {
      // A queued frame is a valid one, at most 512 bytes: its body length
      // is in the low two bytes of the field.
      const size = HEADER_SIZE +
        ((bytes[offset + 6] << 8) | bytes[offset + 7]);
      if (size < 126) {
        framed[length] = BINARY_FINAL;
        framed[length + 1] = size;
        length += 2;
      } else {
        length += writeServerHeader(framed, length, Opcode.Binary, size);
      }
      framed.copyWithin(length, from + offset, from + offset + size);
      length += size;
      offset += size;
    }
    return length;
  }

  #afterWrite(): void {
    const pong = this.#pendingPong;
    if (pong === null || this.#closing) return;
    this.#pendingPong = null;
    const done = writeAll(this.#conn, pong).catch(() => {});
    this.#busy = done;
    done.finally(() => {
      if (this.#busy === done) this.#busy = null;
      this.#afterWrite();
    });
  }

  #closeSocket(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Closed already (the peer reset it).
    }
    this.#onClosed();
  }
}
