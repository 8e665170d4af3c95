/**
 * The load generator's WebSocket transport (`--transport ws`): a connection
 * to the server's `/ws` gateway that the shard reads and writes like a TCP
 * socket. Each outgoing hubbub frame goes as one binary WebSocket message
 * (a batch of frames is several messages in one socket write); each incoming
 * message must hold exactly one frame; a socket read's messages are
 * unwrapped in place (their payloads moved together over the headers) and
 * copied to the reader's buffer in one piece, so the same frame parser as on
 * TCP finds the deliveries in place.
 *
 * It speaks RFC 6455 itself over a TCP connection with no-delay on, rather
 * than through Deno's `WebSocket` client, which turns no-delay off (Nagle's
 * algorithm holds a publisher's small messages for the peer's ACK; browsers
 * turn it on) and dispatches one event per message where a socket read
 * takes a whole batch.
 *
 * @module
 */

import { HEADER_SIZE } from "../../protocol/mod.ts";
import { ConnectTimeoutError, RejectedError } from "./connect_failure.ts";
import { ProtocolError } from "./targets/target.ts";

/** What the shard needs of a connection; a `Deno.Conn` is one. */
export interface ByteConnection {
  /** Read into `buffer`; the byte count, or `null` at the end. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Write (a prefix of) `bytes`; the byte count written. */
  write(bytes: Uint8Array): Promise<number>;
  /** Close it; a pending read ends. */
  close(): void;
}

const OPCODE_TEXT = 0x1;
const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;
const FIN = 0x80;
const MASKED = 0x80;
/** The GUID RFC 6455 appends to the key for the accept hash. */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Bytes of socket input held at once; a server message is far smaller. */
const RAW_BUFFER_BYTES = 64 * 1024;
/** Largest server message accepted (a frame is at most 512 bytes). */
const MAX_MESSAGE_BYTES = 16 * 1024;
/** Longest HTTP answer to the upgrade. */
const MAX_HANDSHAKE_BYTES = 8 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Base64 of a few bytes (the handshake's key and accept hash). */
function encodeBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** The total size of the hubbub frame whose header starts at `offset`. */
function frameSize(bytes: Uint8Array, offset: number): number {
  const high = (bytes[offset] << 24 | bytes[offset + 1] << 16 |
    bytes[offset + 2] << 8 | bytes[offset + 3]) >>> 0;
  const low = (bytes[offset + 4] << 24 | bytes[offset + 5] << 16 |
    bytes[offset + 6] << 8 | bytes[offset + 7]) >>> 0;
  return HEADER_SIZE + high * 0x1_0000_0000 + low;
}

/** Where a parsed message's payload lies, and its opcode (reused). */
interface ParsedMessage {
  opcode: number;
  payloadStart: number;
  payloadEnd: number;
}

/**
 * Parse the server message at `start` of `bytes[..end)` into `message`;
 * false when it has not arrived whole. Throws on what the server must not
 * send: a masked, fragmented or too long message, a binary one that is not
 * exactly one frame.
 */
function parseMessage(
  bytes: Uint8Array,
  start: number,
  end: number,
  message: ParsedMessage,
): boolean {
  const available = end - start;
  if (available < 2) return false;
  const first = bytes[start];
  const second = bytes[start + 1];
  let length = second & 0x7f;
  let headerSize = 2;
  if (length === 126) {
    if (available < 4) return false;
    length = bytes[start + 2] << 8 | bytes[start + 3];
    headerSize = 4;
  } else if (length === 127) {
    throw new ProtocolError(
      "Server sent a WebSocket message over 64 KiB (one frame per message)",
    );
  }
  if ((second & MASKED) !== 0) {
    throw new ProtocolError("Server sent a masked WebSocket message");
  }
  if (length > MAX_MESSAGE_BYTES) {
    throw new ProtocolError(
      `Server sent a WebSocket message of ${length} bytes (one frame per message)`,
    );
  }
  if (available < headerSize + length) return false;
  const payloadStart = start + headerSize;
  const opcode = first & 0x0f;
  if ((first & FIN) === 0 || opcode === 0) {
    throw new ProtocolError(
      "Server sent a fragmented WebSocket message (one frame per message)",
    );
  }
  if (
    opcode === OPCODE_BINARY &&
    (length < HEADER_SIZE || frameSize(bytes, payloadStart) !== length)
  ) {
    throw new ProtocolError(
      `Server sent a WebSocket message of ${length} bytes that is not one frame`,
    );
  }
  message.opcode = opcode;
  message.payloadStart = payloadStart;
  message.payloadEnd = payloadStart + length;
  return true;
}

/** Write all of `bytes` to `conn`. */
async function writeFully(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

/** A WebSocket to hubbub's gateway, read and written as a byte stream. */
export class WebSocketConnection implements ByteConnection {
  readonly #conn: Deno.Conn;
  /**
   * Socket input: `#raw[#readyStart..#readyEnd)` holds payload bytes already
   * unwrapped (their headers removed) for `read` to hand out, and
   * `#raw[#pendingStart..#rawEnd)` what follows them, not unwrapped yet.
   */
  #raw = new Uint8Array(RAW_BUFFER_BYTES);
  #readyStart = 0;
  #readyEnd = 0;
  #pendingStart = 0;
  #rawEnd = 0;
  /** Whether the pending bytes may hold a whole message (none was tried). */
  #unwrapDue: boolean;
  /** The server closed the WebSocket (or the socket ended). */
  #ended = false;
  #mask: Uint8Array;
  #sendBuffer = new Uint8Array(4096);
  #sending = false;
  #controlWrites: Promise<void> = Promise.resolve();
  /** The message {@linkcode parseMessage} parsed last. */
  #message: ParsedMessage = { opcode: 0, payloadStart: 0, payloadEnd: 0 };

  /**
   * @param conn The TCP connection, upgraded.
   * @param leftover Bytes read past the upgrade's answer.
   */
  constructor(conn: Deno.Conn, leftover: Uint8Array) {
    this.#conn = conn;
    this.#raw.set(leftover);
    this.#rawEnd = leftover.length;
    this.#unwrapDue = leftover.length > 0;
    // One masking key per connection: the mask guards proxies against
    // payloads a browser page chose, which this generator is not.
    this.#mask = crypto.getRandomValues(new Uint8Array(4));
  }

  /**
   * Unwrap the whole messages of the pending input in place: each binary
   * message's payload moves down over the headers before it (copyWithin: no
   * copy per delivery out of a buffer of its own, no allocation per
   * message), so a socket read's deliveries end up in one run of ready
   * bytes; control messages are handled. What is left pending is the start
   * of the next message.
   */
  #unwrapPending(): void {
    const raw = this.#raw;
    const message = this.#message;
    const end = this.#rawEnd;
    let at = this.#pendingStart;
    let written = this.#readyEnd;
    while (!this.#ended && parseMessage(raw, at, end, message)) {
      if (message.opcode === OPCODE_BINARY) {
        const { payloadStart, payloadEnd } = message;
        raw.copyWithin(written, payloadStart, payloadEnd);
        written += payloadEnd - payloadStart;
      } else {
        this.#control(raw, message);
      }
      at = message.payloadEnd;
    }
    this.#readyEnd = written;
    this.#pendingStart = at;
    this.#unwrapDue = false;
  }

  /** Handle a control message (or refuse a text one). */
  #control(bytes: Uint8Array, message: ParsedMessage): void {
    const { opcode, payloadStart, payloadEnd } = message;
    if (opcode === OPCODE_TEXT) {
      throw new ProtocolError("Server sent a text WebSocket message");
    } else if (opcode === OPCODE_PING) {
      this.#sendControl(OPCODE_PONG, bytes.slice(payloadStart, payloadEnd));
    } else if (opcode === OPCODE_CLOSE) {
      this.#ended = true;
      this.#sendControl(
        OPCODE_CLOSE,
        bytes.slice(payloadStart, Math.min(payloadEnd, payloadStart + 2)),
      );
    }
    // PONG and unknown opcodes: nothing to do.
  }

  /**
   * Read what the server's messages hold into `buffer`, as many bytes as
   * are ready (a socket read's worth, its messages unwrapped together) and
   * fit, in one copy; the byte count, or `null` at the end.
   */
  async read(buffer: Uint8Array): Promise<number | null> {
    for (;;) {
      const ready = this.#readyEnd - this.#readyStart;
      if (ready > 0) {
        const count = Math.min(ready, buffer.length);
        const from = this.#readyStart;
        buffer.set(this.#raw.subarray(from, from + count));
        this.#readyStart += count;
        return count;
      }
      if (this.#unwrapDue) {
        this.#unwrapPending();
        continue;
      }
      if (this.#ended) return null;
      // Nothing ready: the start of the next message moves to the front,
      // and the socket is read after it.
      const start = this.#pendingStart;
      if (start > 0) this.#raw.copyWithin(0, start, this.#rawEnd);
      this.#rawEnd -= start;
      this.#pendingStart = 0;
      this.#readyStart = 0;
      this.#readyEnd = 0;
      const count = await this.#conn.read(this.#raw.subarray(this.#rawEnd));
      if (count === null) {
        this.#ended = true;
        return null;
      }
      this.#rawEnd += count;
      this.#unwrapDue = true;
    }
  }

  /** Mask `payload` into `target` at `offset` behind a header; the end. */
  #frame(
    target: Uint8Array,
    offset: number,
    opcode: number,
    payload: Uint8Array,
    from: number,
    to: number,
  ): number {
    const length = to - from;
    target[offset++] = FIN | opcode;
    if (length < 126) {
      target[offset++] = MASKED | length;
    } else {
      target[offset++] = MASKED | 126;
      target[offset++] = length >>> 8;
      target[offset++] = length & 0xff;
    }
    const mask = this.#mask;
    target.set(mask, offset);
    offset += 4;
    for (let index = 0; index < length; index++) {
      target[offset + index] = payload[from + index] ^ mask[index & 3];
    }
    return offset + length;
  }

  #sendControl(opcode: number, payload: Uint8Array): void {
    const bytes = new Uint8Array(8 + payload.length);
    const end = this.#frame(bytes, 0, opcode, payload, 0, payload.length);
    this.#controlWrites = this.#controlWrites
      .then(() => writeFully(this.#conn, bytes.subarray(0, end)))
      .catch(() => {});
  }

  /**
   * Send `bytes`, whole hubbub frames only, each as one binary message, all
   * in one socket write.
   */
  async write(bytes: Uint8Array): Promise<number> {
    if (this.#ended) throw new Deno.errors.BrokenPipe("WebSocket closed");
    // Each frame grows by at most 8 bytes (header and mask).
    const most = bytes.length + 8 * Math.ceil(bytes.length / HEADER_SIZE);
    const own = !this.#sending;
    if (own && this.#sendBuffer.length < most) {
      this.#sendBuffer = new Uint8Array(most);
    }
    const target = own ? this.#sendBuffer : new Uint8Array(most);
    let offset = 0;
    let end = 0;
    while (offset < bytes.length) {
      if (bytes.length - offset < HEADER_SIZE) break;
      const next = offset + frameSize(bytes, offset);
      if (next > bytes.length) break;
      end = this.#frame(target, end, OPCODE_BINARY, bytes, offset, next);
      offset = next;
    }
    if (offset !== bytes.length) {
      throw new RangeError("A WebSocket write must hold whole frames");
    }
    if (own) this.#sending = true;
    try {
      await writeFully(this.#conn, target.subarray(0, end));
    } finally {
      if (own) this.#sending = false;
    }
    return bytes.length;
  }

  close(): void {
    this.#ended = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Read the upgrade's answer; returns the bytes after it. */
async function readUpgradeAnswer(
  conn: Deno.Conn,
  expectedAccept: string,
): Promise<Uint8Array> {
  const buffer = new Uint8Array(MAX_HANDSHAKE_BYTES);
  let filled = 0;
  for (;;) {
    const count = await conn.read(buffer.subarray(filled));
    if (count === null) {
      throw new RejectedError("closed by the server during the upgrade");
    }
    filled += count;
    const text = decoder.decode(buffer.subarray(0, filled));
    const headEnd = text.indexOf("\r\n\r\n");
    if (headEnd < 0) {
      if (filled === buffer.length) {
        throw new ProtocolError("Server's upgrade answer is too long");
      }
      continue;
    }
    const [statusLine, ...headerLines] = text.slice(0, headEnd).split("\r\n");
    const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1];
    if (status !== "101") {
      throw new RejectedError(
        `WebSocket upgrade refused with HTTP ${status ?? "?"}`,
      );
    }
    const accept = headerLines
      .map((line) => /^sec-websocket-accept:\s*(\S+)/i.exec(line)?.[1])
      .find((value) => value !== undefined);
    if (accept !== expectedAccept) {
      throw new ProtocolError("Server's Sec-WebSocket-Accept is wrong");
    }
    const headBytes = encoder.encode(text.slice(0, headEnd + 4)).length;
    return buffer.slice(headBytes, filled);
  }
}

/**
 * Open a WebSocket to `url` over TCP with no-delay on, or reject with
 * {@linkcode ConnectTimeoutError} after `timeoutMs`.
 *
 * @param url The gateway, e.g. `ws://127.0.0.1:8080/ws`.
 * @param timeoutMs How long the TCP connect and the upgrade may take.
 * @returns The open connection.
 */
export async function connectWebSocket(
  url: string,
  timeoutMs: number,
): Promise<WebSocketConnection> {
  const target = new URL(url);
  const hostname = target.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(target.port || 80);
  let conn: Deno.TcpConn | null = null;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn?.close();
  }, timeoutMs);
  try {
    conn = await Deno.connect({ hostname, port, transport: "tcp" });
    if (timedOut) {
      conn.close();
      throw new ConnectTimeoutError(timeoutMs);
    }
    conn.setNoDelay(true);
    const key = encodeBase64(crypto.getRandomValues(new Uint8Array(16)));
    const digest = await crypto.subtle.digest(
      "SHA-1",
      encoder.encode(key + ACCEPT_GUID),
    );
    await writeFully(
      conn,
      encoder.encode(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
          "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    const leftover = await readUpgradeAnswer(
      conn,
      encodeBase64(new Uint8Array(digest)),
    );
    return new WebSocketConnection(conn, leftover);
  } catch (error) {
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
    if (timedOut) throw new ConnectTimeoutError(timeoutMs);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
