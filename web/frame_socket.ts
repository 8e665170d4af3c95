/**
 * hubbub frames over a browser WebSocket: one binary message per frame,
 * exactly the TCP wire format. Received messages go through the protocol's
 * `FrameReader`, which also checks the size limit.
 *
 * @module
 */

import type { Frame } from "../protocol/frame.ts";
import { FrameReader } from "../protocol/frame_reader.ts";

/** What a {@linkcode FrameSocket} reports. */
export interface FrameSocketEvents {
  /** The WebSocket is open. */
  open(): void;
  /** A frame arrived. */
  frame(frame: Frame): void;
  /** The connection ended or could not be made; called once. */
  closed(): void;
}

/**
 * One WebSocket connection to the gateway.
 *
 * @example Usage
 * ```ts no-eval
 * import { FrameSocket } from "./frame_socket.ts";
 * const socket = new FrameSocket("ws://127.0.0.1:8080/ws", {
 *   open: () => {},
 *   frame: (frame) => console.log(frame.tag),
 *   closed: () => {},
 * });
 * ```
 */
export class FrameSocket {
  #socket: WebSocket;
  #reader = new FrameReader();
  #ended = false;
  #events: FrameSocketEvents;

  /**
   * @param url The gateway's `ws:` or `wss:` URL.
   * @param events Where to report.
   */
  constructor(url: string, events: FrameSocketEvents) {
    this.#events = events;
    this.#socket = new WebSocket(url);
    this.#socket.binaryType = "arraybuffer";
    this.#socket.onopen = () => events.open();
    this.#socket.onmessage = (event) => this.#onMessage(event);
    this.#socket.onclose = () => this.#end();
    this.#socket.onerror = () => this.#end();
  }

  /**
   * Send one whole frame as one binary message.
   *
   * @param frame The frame's bytes.
   */
  send(frame: Uint8Array): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(frame);
  }

  /** Close the connection; `closed` is reported once. */
  close(): void {
    this.#socket.close();
    this.#end();
  }

  #onMessage(event: MessageEvent): void {
    if (this.#ended || !(event.data instanceof ArrayBuffer)) return;
    try {
      this.#reader.push(new Uint8Array(event.data));
      for (let f = this.#reader.next(); f !== null; f = this.#reader.next()) {
        this.#events.frame(f);
        if (this.#ended) return;
      }
    } catch {
      // An oversized frame: the stream cannot be trusted past it.
      this.close();
    }
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#events.closed();
  }
}
