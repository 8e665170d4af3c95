/**
 * The load generator's WebSocket transport (`--transport ws`): a connection
 * to the server's `/ws` gateway that the shard reads and writes like a TCP
 * socket. Each outgoing frame goes as one binary WebSocket message; each
 * incoming message must hold exactly one frame, and its bytes are copied into
 * the reader's buffer, so the same frame parser as on TCP finds the
 * deliveries in place.
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

/**
 * Unsent bytes above which a write waits for the socket to drain, as a TCP
 * write waits when the kernel's buffer is full (WebSocket `send` never
 * blocks, so without it a stuck server would grow the generator's memory).
 */
const MAX_UNSENT_BYTES = 1024 * 1024;
/** How often a write waiting for the socket to drain looks again, ms. */
const DRAIN_POLL_MS = 1;

/** The body length of the frame whose header starts `bytes` (u64 BE). */
function frameLength(bytes: Uint8Array, offset: number): number {
  const high = (bytes[offset] << 24 | bytes[offset + 1] << 16 |
    bytes[offset + 2] << 8 | bytes[offset + 3]) >>> 0;
  const low = (bytes[offset + 4] << 24 | bytes[offset + 5] << 16 |
    bytes[offset + 6] << 8 | bytes[offset + 7]) >>> 0;
  return HEADER_SIZE + high * 0x1_0000_0000 + low;
}

/** A WebSocket to hubbub's gateway, read and written as a byte stream. */
export class WebSocketConnection implements ByteConnection {
  readonly #socket: WebSocket;
  /** Received messages not yet read, from `#head` on. */
  #queue: Uint8Array[] = [];
  #head = 0;
  /** Bytes of the head message already read. */
  #headOffset = 0;
  #reader: PromiseWithResolvers<number | null> | null = null;
  #readerBuffer: Uint8Array | null = null;
  #ended = false;
  #failure: Error | null = null;

  /** @param socket An open socket whose `binaryType` is `arraybuffer`. */
  constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => this.#received(event.data);
    socket.onerror = (event) => {
      this.#failure ??= new Error(
        (event as ErrorEvent).message || "WebSocket error",
      );
    };
    socket.onclose = (event) => {
      if (!event.wasClean && this.#failure === null) {
        this.#failure = new Error(
          `WebSocket closed abnormally (code ${event.code}${
            event.reason === "" ? "" : `: ${event.reason}`
          })`,
        );
      }
      this.#end();
    };
  }

  #received(data: unknown): void {
    if (this.#ended) return;
    if (!(data instanceof ArrayBuffer)) {
      this.#fail(
        new ProtocolError("Server sent a text WebSocket message"),
      );
      return;
    }
    const message = new Uint8Array(data);
    if (
      message.length < HEADER_SIZE || frameLength(message, 0) !== message.length
    ) {
      this.#fail(
        new ProtocolError(
          `Server sent a WebSocket message of ${message.length} bytes that is not one frame`,
        ),
      );
      return;
    }
    const reader = this.#reader;
    if (reader === null) {
      this.#queue.push(message);
      return;
    }
    // The read loop is waiting, so nothing is queued (a read takes what
    // is queued before it waits).
    const buffer = this.#readerBuffer!;
    this.#reader = null;
    this.#readerBuffer = null;
    reader.resolve(this.#copyInto(message, buffer));
  }

  /** Copy `message` (or what fits) into `buffer`; queue the rest. */
  #copyInto(message: Uint8Array, buffer: Uint8Array): number {
    if (message.length <= buffer.length) {
      buffer.set(message);
      return message.length;
    }
    buffer.set(message.subarray(0, buffer.length));
    this.#queue.push(message);
    this.#headOffset = buffer.length;
    return buffer.length;
  }

  /** Copy queued messages into `buffer` while they fit (at least one byte). */
  #drainInto(buffer: Uint8Array): number {
    const queue = this.#queue;
    let filled = 0;
    while (this.#head < queue.length && filled < buffer.length) {
      const message = queue[this.#head];
      const rest = message.length - this.#headOffset;
      const take = Math.min(rest, buffer.length - filled);
      buffer.set(
        message.subarray(this.#headOffset, this.#headOffset + take),
        filled,
      );
      filled += take;
      if (take === rest) {
        this.#head++;
        this.#headOffset = 0;
      } else {
        this.#headOffset += take;
      }
    }
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    }
    return filled;
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.close();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const reader = this.#reader;
    if (reader === null) return;
    this.#reader = null;
    this.#readerBuffer = null;
    // Whatever was queued before the end was read first (the queue is
    // empty whenever a reader waits).
    if (this.#failure !== null) reader.reject(this.#failure);
    else reader.resolve(null);
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#head < this.#queue.length) {
      return Promise.resolve(this.#drainInto(buffer));
    }
    if (this.#ended) {
      return this.#failure === null
        ? Promise.resolve(null)
        : Promise.reject(this.#failure);
    }
    this.#reader = Promise.withResolvers<number | null>();
    this.#readerBuffer = buffer;
    return this.#reader.promise;
  }

  /**
   * Send `bytes`, whole frames only, each as one message. Waits while more
   * than {@linkcode MAX_UNSENT_BYTES} are unsent.
   */
  async write(bytes: Uint8Array): Promise<number> {
    const socket = this.#socket;
    let offset = 0;
    while (offset < bytes.length) {
      if (bytes.length - offset < HEADER_SIZE) break;
      const end = offset + frameLength(bytes, offset);
      if (end > bytes.length) break;
      if (socket.readyState !== WebSocket.OPEN) {
        throw this.#failure ?? new Deno.errors.BrokenPipe("WebSocket closed");
      }
      socket.send(bytes.subarray(offset, end));
      offset = end;
    }
    if (offset !== bytes.length) {
      throw new RangeError("A WebSocket write must hold whole frames");
    }
    while (
      socket.bufferedAmount > MAX_UNSENT_BYTES &&
      socket.readyState === WebSocket.OPEN
    ) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    return bytes.length;
  }

  close(): void {
    try {
      this.#socket.close();
    } catch {
      // Already closing.
    }
    this.#end();
  }
}

/**
 * Open a WebSocket to `url` (binary messages as ArrayBuffers), or reject
 * with {@linkcode ConnectTimeoutError} after `timeoutMs`.
 *
 * @param url The gateway, e.g. `ws://127.0.0.1:8080/ws`.
 * @param timeoutMs How long the TCP connect and the upgrade may take.
 * @returns The open connection.
 */
export function connectWebSocket(
  url: string,
  timeoutMs: number,
): Promise<WebSocketConnection> {
  return new Promise((resolve, reject) => {
    let socket: WebSocket;
    try {
      socket = new WebSocket(url);
    } catch (error) {
      reject(error);
      return;
    }
    socket.binaryType = "arraybuffer";
    let settled = false;
    let failure = "";
    const settle = () => {
      settled = true;
      clearTimeout(timer);
      socket.onopen = socket.onerror = socket.onclose = null;
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settle();
      socket.close();
      reject(new ConnectTimeoutError(timeoutMs));
    }, timeoutMs);
    socket.onopen = () => {
      settle();
      resolve(new WebSocketConnection(socket));
    };
    socket.onerror = (event) => {
      failure = (event as ErrorEvent).message ?? "";
    };
    socket.onclose = () => {
      if (settled) return;
      settle();
      // A refused upgrade (no gateway there) is a rejection; a failed TCP
      // connect keeps Deno's words, since they do not name the cause.
      const status = /status code:? *(\d+)/i.exec(failure)?.[1];
      reject(
        status !== undefined
          ? new RejectedError(`WebSocket upgrade refused with HTTP ${status}`)
          : new Error(failure === "" ? "WebSocket connect failed" : failure),
      );
    };
  });
}
