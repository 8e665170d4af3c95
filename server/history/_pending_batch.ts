/**
 * The records gathered since the last post to the history worker: the frame
 * bytes copied into one growing buffer, the rest in parallel arrays, so
 * recording a run of frames allocates nothing but the occasional growth.
 *
 * @module
 */

import type { BatchMessage } from "./_worker_protocol.ts";

/** Records not yet posted to the worker. */
export class PendingBatch {
  #capacity: number;
  #bytes: Uint8Array;
  #used = 0;
  #rooms: string[] = [];
  #firstIds: number[] = [];
  #counts: number[] = [];
  #nicks: (string | null)[] = [];
  #times: number[] = [];
  #ends: number[] = [];
  #messages = 0;

  /** @param capacity The buffer size to start each batch with, in bytes. */
  constructor(capacity: number) {
    this.#capacity = Math.max(capacity, 512);
    this.#bytes = new Uint8Array(this.#capacity);
  }

  /** Frame bytes held. */
  get bytes(): number {
    return this.#used;
  }

  /** Messages held. */
  get messages(): number {
    return this.#messages;
  }

  /**
   * Copy a run of frames in.
   *
   * @param room The room.
   * @param firstId The id of the first frame.
   * @param frames The frames, valid only during the call.
   * @param count How many frames.
   * @param nick The sender's nickname or null.
   * @param time Server time in ms since the epoch.
   */
  add(
    room: string,
    firstId: number,
    frames: Uint8Array,
    count: number,
    nick: string | null,
    time: number,
  ): void {
    const end = this.#used + frames.length;
    if (end > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.#bytes.length * 2));
      grown.set(this.#bytes.subarray(0, this.#used));
      this.#bytes = grown;
    }
    this.#bytes.set(frames, this.#used);
    this.#used = end;
    this.#rooms.push(room);
    this.#firstIds.push(firstId);
    this.#counts.push(count);
    this.#nicks.push(nick);
    this.#times.push(time);
    this.#ends.push(end);
    this.#messages += count;
  }

  /**
   * Post everything held to `port` (the buffer is transferred, the arrays
   * cloned) and start empty.
   *
   * @param port Where to post.
   */
  postTo(
    port: { postMessage(message: unknown, transfer: Transferable[]): void },
  ): void {
    const bytes = this.#bytes.subarray(0, this.#used);
    const message: BatchMessage = {
      type: "batch",
      bytes,
      rooms: this.#rooms,
      firstIds: this.#firstIds,
      counts: this.#counts,
      nicks: this.#nicks,
      times: this.#times,
      ends: this.#ends,
      messages: this.#messages,
    };
    port.postMessage(message, [bytes.buffer as ArrayBuffer]);
    this.#bytes = new Uint8Array(this.#capacity);
    this.#used = 0;
    this.#rooms.length = 0;
    this.#firstIds.length = 0;
    this.#counts.length = 0;
    this.#nicks.length = 0;
    this.#times.length = 0;
    this.#ends.length = 0;
    this.#messages = 0;
  }
}
